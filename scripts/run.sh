#!/usr/bin/env bash
# The main job from a fresh machine: installs dependencies, builds, fetches the texts
# (scripts/get-data.sh), runs the short study presets/tinyllama-quick.toml
# (TinyLlama-1.1B-Chat-v1.0 from the Hugging Face cache, or downloaded), writes the report,
# and says where it is.
#   scripts/run.sh                                                     # TinyLlama, 2K and 4K
#   MODEL=data/models/llama2xs-tok512-ctx256 CTX=256,1024 scripts/run.sh   # any checkpoint or hub id
# OUT (default out/) receives one folder per model: OUT/<model>/quick.db and
# OUT/<model>/quick_report/. BUILD (default build/) is the build folder.
# Exit status: 0 when every experiment is done; 1 when some failed (the report, which names
# them, is still written) or none is done (no report).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BUILD="$BUILD" bash scripts/build.sh >&2
bash scripts/get-data.sh
RB="$BUILD/app/ropebench"
MODEL_ID=${MODEL:-TinyLlama/TinyLlama-1.1B-Chat-v1.0}
# One store per model: org/name -> org--name (as the hub cache names it), a path -> its last part.
if [ -e "$MODEL_ID" ]; then name=$(basename "${MODEL_ID%/}"); else name=${MODEL_ID//\//--}; fi
DIR="${OUT:-out}/$name"
mkdir -p "$DIR"
args=(sweep presets/tinyllama-quick.toml --db "$DIR/quick.db" --model "$MODEL_ID")
[ -n "${CTX:-}" ] && args+=(--ctx "$CTX")
status=0
"$RB" "${args[@]}" || status=$?
[ -f "$DIR/quick.db" ] || exit "$status"
if "$RB" report "$DIR/quick.db" --out "$DIR/quick_report" >/dev/null; then
  echo "report: $DIR/quick_report/REPORT.md and $DIR/quick_report/report.html"
else
  status=1
fi
exit "$status"
