#!/usr/bin/env bash
# Fails when a file under src/ includes a folder its layer may not use (docs/architecture.md).
# The graph below is the one the build links (PRIVATE): change both together.
# Usage: tests/layering/check_includes.sh [SOURCE_DIR]
set -uo pipefail
cd "${1:-$(dirname "$0")/../..}"
declare -A allowed=(
  [util]=""
  [hub]="util"
  [formats]="util"
  [tokenizer]="util formats"
  [rope]="util"
  [backend]="util"
  [model]="util formats tokenizer rope backend"
  [eval]="util formats tokenizer rope backend model"
  [sweep]="util formats tokenizer rope backend model eval hub"
  [report]="util rope"
)
bad=0; files=0
for dir in src/*/; do
  layer=$(basename "$dir")
  if [ -z "${allowed[$layer]+x}" ]; then echo "layering: $dir is not in the graph (add it here and to docs/architecture.md)"; bad=$((bad+1)); continue; fi
  while IFS= read -r f; do
    files=$((files+1))
    while IFS=: read -r line inc; do
      target=${inc%%/*}
      [ "$target" = "$layer" ] && continue
      # Backends are leaves: only their own folder (and app/) may include backend/<name>/...
      if [ "$target" = backend ] && [[ "$inc" == backend/*/* ]]; then
        echo "$f:$line: includes $inc (a backend's internals; use backend/backend.h)"; bad=$((bad+1)); continue
      fi
      case " ${allowed[$layer]} " in
        *" $target "*) ;;
        *) echo "$f:$line: $layer may not include $inc (allowed: ${allowed[$layer]:-nothing})"; bad=$((bad+1)) ;;
      esac
    done < <(grep -noE '^#include "[a-z_]+/[^"]+"' "$f" | sed -E 's/^([0-9]+):#include "(.*)"/\1:\2/')
  done < <(find "$dir" -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh')
done
if [ "$bad" -gt 0 ]; then echo "layering: $bad include(s) against the graph in $files files"; echo "0 passed, 1 failed"; exit 1; fi
echo "layering: $files files follow the graph"
