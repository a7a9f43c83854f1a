#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs dependencies (Debian packages),
# configures, builds and runs ctest. Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROPEBENCH_BUILD_TESTS=ON -DROPEBENCH_MPI=ON \
  -DROPEBENCH_SHARED_DIR="${ROPEBENCH_SHARED_DIR:-$(pwd)/../shared}" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" "$@"
