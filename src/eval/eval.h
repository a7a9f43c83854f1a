// One evaluation = one (model, rope config, L) with the requested metrics, producing one
// result record (docs/record-schema.md). The CLI `eval`, the sweep and the report all use
// exactly this record.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/documents.h"
#include "eval/perplexity.h"
#include "model/loader.h"

namespace rb {

struct PasskeySpec {
    std::string protocol = "grid";   // "grid" or "yarn" (src/eval/passkey.h)
    std::vector<double> depths;      // default 0, 0.1, ..., 1.0 (grid only)
    int trials = 10;                 // per depth
    uint64_t seed = 1234;
    int max_new_tokens = 10;
    std::string haystack;            // optional text file for garbage sentences ("" = canonical filler; grid only)
};

struct LongPplSpec {
    LoadOptions evaluator;           // evaluator model (+ its own rope scaling)
    std::string convention = "ropebench";  // or "reference" (src/eval/longppl.h)
    int short_window = 0;            // K; 0 = the convention's (1024; reference 4096)
    int stride = 0;                  // d; 0 = the convention's (512; reference 1024)
    double alpha = 2.0;
    double beta = -2.0;              // full-context loss < -beta
    std::string cache_dir;           // key-set cache ("" = default_longppl_cache_dir(); "-" = no cache)
    bool allow_self_evaluator = false;
};

/// An evaluation's perplexity settings (PplOptions without the length: one ctx, EvalSpec::ctx).
struct PplSpec {
    std::string protocol = "truncate";  // truncate | chunks | sliding
    int stride = 0;                     // sliding: S in [1, L−1]; 0 = L/2
    int bucket = 256;                   // position bucket width for the NLL profile
};

struct EvalSpec {
    LoadOptions model;               // path, --rope-scaling, --rope-theta, dtype, backend
    int ctx = 0;
    std::vector<std::string> metrics;  // "ppl", "passkey", "longppl"
    std::vector<std::string> texts;    // ppl / longppl documents
    int max_docs = 0;
    bool split = false;                // cut long documents into consecutive L-token segments
    PplSpec ppl;                       // protocol, stride, bucket; the length is `ctx`
    int bootstrap_resamples = 1000;
    PasskeySpec passkey;
    LongPplSpec longppl;
    uint64_t seed = 1234;
};

/// K and d with the convention's defaults filled in.
int longppl_short_window(const LongPplSpec& s);
int longppl_stride(const LongPplSpec& s);

/// $XDG_CACHE_HOME/ropebench/longppl, else $HOME/.cache/ropebench/longppl, else
/// /tmp/ropebench-cache/longppl.
std::string default_longppl_cache_dir();

/// Identity of a checkpoint from its opened header and tokenizer (no weights): {"config_hash"
/// (sha256 of config.json's bytes for folders, of the canonical JSON of the parsed model fields
/// for GGUF), "weights" (sha256 over each weight file's name, size and first/last MiB),
/// "tokenizer" (Tokenizer::identity()), "dtype"}. Paths are not part of it.
nlohmann::json model_identity(const Checkpoint& ck, const Tokenizer& tok, backend::WeightType wtype);

/// A checkpoint as an identity sees it, from objects already open: its configuration (to
/// resolve the RoPE) and its model_identity.
struct ModelFacts {
    const ModelConfig* config = nullptr;
    const nlohmann::json* identity = nullptr;
};

/// Models stay loaded across evaluations that share (path, dtype, backend, threads):
/// RoPE is per session, so a sweep over rope configs loads each checkpoint once. It also keeps
/// what identities read (checkpoint headers, tokenizers, file hashes), so that a sweep opens
/// each checkpoint once for all its identities, and an evaluation none beyond its model.
class ModelCache {
public:
    /// The loaded checkpoint (RoPE is the evaluation's: resolve_rope, never stored on it).
    /// Loads on first use, refusing up front a `ctx`-token window that would not fit in memory;
    /// a header facts() opened is loaded from, not opened again.
    LoadedModel& get(const LoadOptions& opts, int64_t ctx = 0);
    /// The scored windows of that checkpoint kept across evaluations (ScoreCache): a
    /// `truncate` perplexity at L serves every smaller L under the same RoPE tables, and
    /// LongPPL's evaluated pass reuses the perplexity window.
    ScoreCache& scores(const LoadOptions& opts);
    /// opts.path's configuration and model_identity at opts.wtype, without its weights: from
    /// the model get() loaded, else from its header and tokenizer, opened once per path and kept.
    ModelFacts facts(const LoadOptions& opts);
    /// The text files' identities (load_documents' `files`: every file read, checked and
    /// hashed), once per list of paths.
    const std::vector<DataFile>& data_files(const std::vector<std::string>& texts);
    /// sha256 of a file's bytes, read once per path.
    const std::string& file_sha256(const std::string& path);
    /// What this cache has opened so far: checkpoints (a header or a load from scratch), text lists, files.
    struct Opens {
        int checkpoints = 0;
        int text_lists = 0;
        int files = 0;
    };
    const Opens& opens() const { return m_opens; }
    void clear();

private:
    struct Header {
        std::unique_ptr<Checkpoint> ckpt;  // opened here (moved into the model get() loads)
        std::unique_ptr<Tokenizer> tokenizer;
        const Checkpoint* ck = nullptr;    // the one in use: ckpt, or a loaded model's
        const Tokenizer* tok = nullptr;
        std::map<int, nlohmann::json> identity;  // by weight type
    };
    Header& header(const std::string& path);

    std::map<std::string, std::unique_ptr<LoadedModel>> m_models;
    std::map<std::string, ScoreCache> m_scores;
    std::map<std::string, Header> m_headers;
    std::map<std::vector<std::string>, std::vector<DataFile>> m_data;
    std::map<std::string, std::string> m_sha256;
    Opens m_opens;
};

/// Progress callback: (metric, done, total) in that metric's own units.
using EvalProgress = std::function<void(const std::string& metric, int64_t done, int64_t total)>;

/// Checks a spec without opening anything: metrics, ctx (check_context_length), the texts and
/// evaluator the metrics need, bootstrap, passkey and perplexity and LongPPL settings.
/// Throws FieldError naming EvalSpec's field by its path ("ctx", "ppl.stride",
/// "passkey.depths", "longppl.evaluator"): the CLI names the flag, a sweep its TOML key.
void check_eval_spec(const EvalSpec& spec);

/// What an identity reads besides the spec, from objects already open.
struct IdentityInputs {
    ModelFacts model;                              // spec.model
    ModelFacts evaluator;                          // spec.longppl.evaluator (longppl only)
    const std::vector<DataFile>* data = nullptr;   // spec.texts' files (ppl, longppl)
    const std::string* haystack_sha256 = nullptr;  // spec.passkey.haystack's bytes (passkey grid with a haystack)
    // RoPE already resolved against model / evaluator (run_eval's); nullptr: resolved here.
    const RopeConfig* rope = nullptr;
    const RopeConfig* evaluator_rope = nullptr;
};

/// The canonical JSON of everything that determines the result (model identity, resolved
/// rope config, ctx, metric settings, data identity, seed) — hashed to key the store.
/// Computed from objects already open; checks the spec (check_eval_spec).
nlohmann::json eval_identity(const EvalSpec& spec, const IdentityInputs& in);
/// The same, from what `cache` has open (opening what it has not: headers and tokenizers, no
/// weights; text files and the haystack, each read once). A sweep passes one cache for all.
nlohmann::json eval_identity(const EvalSpec& spec, ModelCache& cache);
/// The same with a cache of its own (a single identity: tests, one-off tools).
nlohmann::json eval_identity(const EvalSpec& spec);
/// sha256 of eval_identity(spec).dump() (sorted keys, no whitespace).
std::string eval_identity_hash(const EvalSpec& spec);

/// Runs the metrics and returns the record. Throws Error on bad input; failures inside a
/// metric (NaN, out of memory) throw too — the caller records them.
nlohmann::json run_eval(const EvalSpec& spec, ModelCache& cache, const EvalProgress& progress = {});

}  // namespace rb
