#!/usr/bin/env bash
# Runs every example of README.md's "Subcommands" block as written, from the repository root,
# with the built `ropebench` first on PATH, so the README cannot drift from the tool.
# The one liberty taken: paths under /tmp/ become a private temporary folder (the examples
# share their /tmp files with each other, as a user's session would).
# Usage: tests/readme_examples.sh BIN_DIR SHARED_DIR
set -uo pipefail
BIN_DIR="$1"
SHARED_DIR="$2"
cd "$(dirname "$0")/.."
ROPEBENCH_DATA_MIRROR="$SHARED_DIR/data" bash scripts/get-data.sh --tiny || exit 1
export PATH="$BIN_DIR:$PATH"
# Open MPI refuses to start as root unless told; CI and our machines run as root.
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
# The block: from "## Subcommands" to the next "## "; an example starts with 4 spaces and
# "ropebench " or "mpirun "; a line ending in "\" continues it.
mapfile -t examples < <(awk '
  /^## Subcommands/ { on = 1; next }
  /^## / { on = 0 }
  on && /^    (ropebench|mpirun) / { cmd = $0; cont = (cmd ~ /\\$/); if (!cont) { print cmd; cmd = "" }; next }
  on && cont { cmd = cmd "\n" $0; cont = ($0 ~ /\\$/); if (!cont) { gsub(/\\\n/, " ", cmd); print cmd; cmd = "" } }
' README.md)
if [ "${#examples[@]}" -lt 10 ]; then echo "error: found only ${#examples[@]} examples in README.md" >&2; exit 1; fi
passed=0; failed=0
for ex in "${examples[@]}"; do
  cmd="${ex//\/tmp\//$T/}"
  cmd="$(echo "$cmd" | sed -E 's/^ +//; s/ +#[^"'"'"']*$//')"   # indentation, trailing comment
  echo "\$ $cmd"
  if bash -c "$cmd" >"$T/out" 2>"$T/err"; then
    passed=$((passed + 1))
  else
    st=$?
    failed=$((failed + 1))
    echo "FAILED (exit $st): $cmd"; tail -5 "$T/err"
  fi
done
echo "readme examples: $passed passed, $failed failed"
[ "$failed" = 0 ]
