#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs dependencies (Debian packages),
# configures, builds and runs ctest; then builds the CUDA backend (nvcc and cuBLAS from the
# CUDA toolkit in /usr/local/cuda) in a second build folder and runs its test binary, whose GPU
# tests are visible skips on a machine without a GPU. Usage: scripts/test.sh [extra ctest args]
# (CUDA=0 leaves the CUDA build out.)
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

if [ "${CUDA:-1}" != 0 ]; then
  # Only what the CUDA build adds: the ropebench binary and the CUDA test binary (sm_80 + sm_90).
  CUDA_BUILD=${CUDA_BUILD:-build-cuda}
  cmake -S . -B "$CUDA_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROPEBENCH_BUILD_TESTS=ON -DROPEBENCH_CUDA=ON \
    -DROPEBENCH_MPI=OFF -DROPEBENCH_SHARED_DIR="$SHARED" >/dev/null
  cmake --build "$CUDA_BUILD" -j"$(nproc)" --target ropebench test_backend_cuda
  ctest --test-dir "$CUDA_BUILD" -L gpu --output-on-failure -j"$(nproc)"
fi
