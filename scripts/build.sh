#!/usr/bin/env bash
# Installs dependencies, configures and builds ropebench into $BUILD (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD=${BUILD:-build}
# An existing build folder keeps its configuration (e.g. the test suite's); a new one is a
# Release build without tests.
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROPEBENCH_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD" -j"$(nproc)" --target ropebench
