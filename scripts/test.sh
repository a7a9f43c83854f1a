#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs dependencies (Debian packages),
# configures, builds and runs ctest. Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Tokenizer files the tests need that the repository cannot carry (licence), checked by SHA-256.
bash scripts/fetch_tokenizers.sh
BUILD=${BUILD:-build}
SHARED="${ROPEBENCH_SHARED_DIR:-$(pwd)/../shared}"
# Presets and the README's examples read data/ (scripts/get-data.sh); here it comes from the
# shared data mirror, as on every machine of ours.
ROPEBENCH_DATA_MIRROR="$SHARED/data" bash scripts/get-data.sh --tiny
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROPEBENCH_BUILD_TESTS=ON -DROPEBENCH_MPI=ON \
  -DROPEBENCH_SHARED_DIR="$SHARED" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" "$@"
