#!/usr/bin/env bash
# Installs dependencies, configures and builds ropebench into build/ (no tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DROPEBENCH_SHARED_DIR="${ROPEBENCH_SHARED_DIR:-$(pwd)/../shared}" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target ropebench
