// Models by name: a hub id `org/name[@revision]` is resolved through the local Hugging Face
// cache, in the layout huggingface_hub writes (docs/hub.md), and missing files are
// downloaded from the hub's resolve URLs with libcurl:
//
//   <cache>/models--org--name/refs/<revision>              commit hash (no newline)
//   <cache>/models--org--name/snapshots/<commit>/<file>    -> ../../blobs/<etag> (relative symlink)
//   <cache>/models--org--name/blobs/<etag>                 content; etag = sha256 (LFS) or git blob sha1
//   <cache>/models--org--name/.no_exist/<commit>/<file>    empty marker: the file is not in the repo
//   <cache>/.locks/models--org--name/<etag>.lock           download lock (flock, as Python's filelock)
//
// A checkpoint downloaded with Python tools is reused, and what this writes is reused by them.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"

namespace rb::hub {

/// The hub could not be reached at all (DNS, connect, TLS, stalled transfer).
class NetworkError : public Error {
public:
    using Error::Error;
};

struct HubOptions {
    std::optional<bool> offline;       // unset = HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) from the environment
    std::string gguf_file;             // fetch only this GGUF file of the repo (--gguf-file); "" = HF folder files
    std::string cache_dir;             // "" = HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
    std::string endpoint;              // "" = HF_ENDPOINT, else https://huggingface.co
    std::optional<std::string> token;  // unset = HF_TOKEN, else $HF_TOKEN_PATH / $HF_HOME/token; "" = none
    bool progress = true;              // progress bar on stderr when stderr is a terminal
    int max_attempts = 5;              // transfer attempts per file (resumed with Range requests)
    long connect_timeout_s = 10;
    long stall_timeout_s = 60;         // abort a transfer that moves no byte for this long
    std::optional<bool> allow_http;    // unset = ROPEBENCH_HUB_ALLOW_HTTP from the environment (plain http to any host)
    uint64_t max_unannounced_bytes = uint64_t(1) << 30;  // cap for a file whose size the hub does not announce
};

/// Process-wide defaults used by resolve_model_path(path); the CLI sets them from
/// --offline / --gguf-file.
HubOptions& default_options();

struct HubId {
    std::string repo_id;             // "org/name"
    std::string revision = "main";   // branch, tag or 40-hex commit
};

/// `org/name[@revision]` → HubId; nullopt when `s` does not look like a hub id.
/// Names follow the hub's rules: [A-Za-z0-9._-], no leading/trailing '.' or '-', no "--" or "..".
std::optional<HubId> parse_hub_id(const std::string& s);

/// What the HEAD of a resolve URL says about a file (huggingface_hub's HfFileMetadata).
struct FileMetadata {
    std::string commit;             // X-Repo-Commit: 40 hex digits
    std::string etag;               // X-Linked-Etag else ETag, `W/` and quotes stripped: a safe file name
    std::optional<uint64_t> size;   // X-Linked-Size, else (2xx only) Content-Length
    std::string location;           // absolute URL of the content: `url` itself for a 2xx, the resolved Location for a 3xx
};

/// Reads the headers (names lowercased) of a 2xx/3xx answer to the HEAD of `url`. Every value
/// is untrusted: the commit must be 40 hex digits, the etag [A-Za-z0-9._-] (no leading '.',
/// at most 128 characters), sizes decimal; anything else throws Error naming `label` and the header.
FileMetadata parse_file_metadata(const std::map<std::string, std::string>& headers, long status,
                                 const std::string& url, const std::string& label, const std::string& endpoint);

/// A blob name the cache may use: 1..128 of [A-Za-z0-9._-], not starting with '.'.
bool valid_etag(const std::string& etag);

/// Environment lookups (each honours its override in `o` first).
std::string hf_home();
std::string cache_dir(const HubOptions& o = {});
std::string endpoint(const HubOptions& o = {});
std::optional<std::string> token(const HubOptions& o = {});
bool offline(const HubOptions& o = {});
bool allow_http(const HubOptions& o = {});

/// "models--org--name".
std::string repo_folder_name(const std::string& repo_id);
/// <cache>/models--org--name.
std::string repo_cache_path(const std::string& repo_id, const HubOptions& o = {});

/// The commit a revision points at in the cache (the revision itself if it is a 40-hex
/// commit whose snapshot folder exists, else the content of refs/<revision>).
std::optional<std::string> cached_commit(const HubId& id, const HubOptions& o = {});

struct FileResult {
    std::string path;     // snapshots/<commit>/<filename>; empty when the file is not in the repo
    std::string commit;
    bool downloaded = false;
};

/// One file of a repo, as hf_hub_download does it: from the cache when the revision is a
/// commit whose snapshot holds the file (no request), else HEAD the resolve URL (without
/// following redirects to another host) for commit, etag and size, then GET into
/// blobs/<etag>.incomplete (resuming with Range), verify size and hash, rename, link.
/// Hostile answers are refused (docs/hub.md, "Limits"): the token goes only to the endpoint's
/// origin, only https (http for a loopback endpoint or ROPEBENCH_HUB_ALLOW_HTTP) is followed,
/// the body stops at the announced size, and a failed `.incomplete` is removed unless a
/// network interruption left bytes to resume from.
/// `optional`: a missing file (404) returns an empty path instead of throwing.
FileResult download_file(const HubId& id, const std::string& filename, bool optional, const HubOptions& o);

/// What a run needs from a repo, fetched when missing: config.json, tokenizer.model /
/// tokenizer.json / tokenizer_config.json (when the repo has them), model.safetensors or
/// model.safetensors.index.json + its shards; or only `o.gguf_file`. Returns the snapshot
/// folder (or the GGUF file in it). Uses the cache alone (no request) when it already holds
/// all of it. Throws Error: offline and not cached; gated or private (401/403); not found
/// (404); unreachable (no network): one line naming the model and how to pass a local path.
std::string resolve_hub_model(const HubId& id, const HubOptions& o);

/// `model` unchanged when it exists on disk or is not a hub id; else resolve_hub_model.
std::string resolve_model_path(const std::string& model, const HubOptions& o);
std::string resolve_model_path(const std::string& model);

/// config.json of a hub id alone (for a sweep's geometry without the weights): from the
/// cache when it holds it for the revision (no request), else downloaded. Returns its path.
/// Throws Error like resolve_hub_model (offline and not cached, unreachable, not found).
std::string resolve_hub_config(const HubId& id, const HubOptions& o);

/// Files `resolve_hub_model` would need that the snapshot `dir` lacks (empty = complete).
/// `commit` names the .no_exist/<commit> markers to honour.
std::vector<std::string> missing_files(const std::string& repo_dir, const std::string& commit, const HubOptions& o);

}  // namespace rb::hub
