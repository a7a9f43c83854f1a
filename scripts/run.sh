#!/usr/bin/env bash
# The main job from a fresh machine: installs dependencies, builds, and evaluates the
# checkpoint given by MODEL (perplexity at its trained context and at 4x it, plain RoPE
# and YaRN), printing the results.
#   MODEL=../shared/data/models/llama2xs-tok512-ctx256 scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MODEL:?set MODEL to a checkpoint folder or .gguf file, e.g. MODEL=../shared/data/models/stories260K}"
TEXT=${TEXT:-../shared/data/text/tinystories_valid_sample.txt}
bash scripts/build.sh >&2
RB=build/app/ropebench
"$RB" info "$MODEL"
ctx=$("$RB" info "$MODEL" --json | sed -n 's/.*"trained_ctx": *\([0-9]*\).*/\1/p' | head -1)
ctx=${ctx:-2048}
for L in "$ctx" $((ctx * 4)); do
  echo "== ctx $L, plain RoPE"
  "$RB" ppl "$MODEL" --text "$TEXT" --ctx "$L" --rope-scaling none
  echo "== ctx $L, yarn factor $((L / ctx > 1 ? L / ctx : 1))"
  "$RB" ppl "$MODEL" --text "$TEXT" --ctx "$L" \
    --rope-scaling "{\"rope_type\":\"yarn\",\"factor\":$((L / ctx > 1 ? L / ctx : 1)).0,\"original_max_position_embeddings\":$ctx}"
done
