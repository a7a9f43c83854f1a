#!/usr/bin/env bash
# The main job from a fresh machine: installs dependencies, builds, runs the short study
# presets/tinyllama-quick.toml (TinyLlama-1.1B-Chat-v1.0 from the Hugging Face cache, or
# downloaded), writes the report, and says where it is.
#   scripts/run.sh                                                     # TinyLlama, 2K and 4K
#   MODEL=../shared/data/models/llama2xs-tok512-ctx256 CTX=256,1024 scripts/run.sh   # any local checkpoint
# OUT (default out/) receives the store and the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >&2
RB=build/app/ropebench
OUT=${OUT:-out}
mkdir -p "$OUT"
args=(sweep presets/tinyllama-quick.toml --db "$OUT/quick.db")
[ -n "${MODEL:-}" ] && args+=(--model "$MODEL")
[ -n "${CTX:-}" ] && args+=(--ctx "$CTX")
"$RB" "${args[@]}"
"$RB" report "$OUT/quick.db" --out "$OUT/quick_report"
echo "report: $OUT/quick_report/REPORT.md and $OUT/quick_report/report.html"
