#!/usr/bin/env bash
# The whole GPU check of the CUDA backend, on a machine with an NVIDIA GPU (sm_80 or newer):
# builds with -DROPEBENCH_CUDA=ON, runs the CUDA tests (every backend op against its reference,
# whole-model checks) with skips turned into failures, then benchmarks prefill on the TinyLlama
# geometry with random bf16 weights at 2K/8K/16K against a dense cuBLAS bf16 GEMM measured in the
# same run, and prints a short table. Exit 0 only when every test passes and 16K bf16 prefill
# reaches >= 40% of the dense rate. About 5 minutes on an H100 (most of it the build).
# Usage: scripts/gpu-check.sh   (BUILD=build-cuda, ROPEBENCH_SHARED_DIR=../shared, MODEL_DIR=/tmp/...)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-cuda}
SHARED=${ROPEBENCH_SHARED_DIR:-$(pwd)/../shared}
MODEL_DIR=${MODEL_DIR:-${TMPDIR:-/tmp}/ropebench-rand-tinyllama-bf16}
OUT=${OUT:-$BUILD/gpu-check}
say() { echo "gpu-check: $*" >&2; }
t_start=$(date +%s)

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2
say "building ($BUILD, -DROPEBENCH_CUDA=ON)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DROPEBENCH_BUILD_TESTS=ON -DROPEBENCH_CUDA=ON \
  -DROPEBENCH_MPI=OFF -DROPEBENCH_SHARED_DIR="$SHARED" >/dev/null || { say "configure failed"; exit 1; }
cmake --build "$BUILD" -j"$(nproc)" --target ropebench test_backend_cuda || { say "build failed"; exit 1; }
mkdir -p "$OUT"

# No GPU (or a driver/runtime mismatch): one line saying so, before anything long.
if ! err=$("$BUILD/app/ropebench" generate "$SHARED/data/models/stories260K" --backend cuda --prompt "" -n 1 2>&1 >/dev/null); then
  say "the CUDA backend cannot run here: $err"
  exit 1
fi

say "CUDA tests (a missing GPU fails them: ROPEBENCH_REQUIRE_GPU=1)"
ROPEBENCH_REQUIRE_GPU=1 "$BUILD/tests/test_backend_cuda" 2>&1 | tee "$OUT/tests.log"
tests_rc=${PIPESTATUS[0]}

if [ ! -f "$MODEL_DIR/model.safetensors" ]; then
  say "writing the random TinyLlama-geometry model to $MODEL_DIR (needs python3-numpy)"
  /usr/bin/python3 tools/make_random_model.py "$MODEL_DIR" --dtype bf16 || { say "tools/make_random_model.py failed"; exit 1; }
fi
say "benchmark: bf16 prefill at 2048, 8192, 16384 (median of 3), decode after a 2048-token prompt"
"$BUILD/app/ropebench" bench "$MODEL_DIR" --backend cuda --dtype bf16 --ctx 2048,8192,16384 --runs 3 --decode 32 \
  --json >"$OUT/bench.json" 2>"$OUT/bench.err"
bench_rc=$?
cat "$OUT/bench.err" >&2

/usr/bin/python3 - "$OUT/bench.json" "$OUT/tests.log" "$tests_rc" "$bench_rc" "$(( $(date +%s) - t_start ))" <<'EOF'
import json, re, sys
bench_path, log_path, tests_rc, bench_rc, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
log = open(log_path).read()
passed = re.search(r"\[  PASSED  \] (\d+) test", log)
failed = re.findall(r"\[  FAILED  \] (\S+)", log)
print("\n== ropebench CUDA check ==")
if tests_rc == 0 and passed:
    print(f"tests: all {passed.group(1)} passed")
else:
    print(f"tests: FAILED (exit {tests_rc}): {', '.join(sorted(set(failed))) or 'see tests.log'}")
for line in log.splitlines():
    if re.match(r"^\S+\s+L=\d+ (f32 max|cuda ppl)", line):
        print("  " + line)
ok = tests_rc == 0
if bench_rc != 0:
    print(f"benchmark: FAILED (exit {bench_rc}, see bench.err)")
    ok = False
else:
    b = json.load(open(bench_path))
    dense = b["dense_bf16_gflops"]
    print(f"dense cuBLAS bf16 GEMM (8192^3): {dense / 1e3:.1f} TFLOP/s")
    print(f"{'ctx':>6} {'tokens/s':>10} {'TFLOP/s':>8} {'% dense':>8}")
    for r in b["prefill"]:
        print(f"{r['ctx']:>6} {r['tokens_per_s']:>10.0f} {r['gflops'] / 1e3:>8.1f} {r['pct_dense_bf16']:>7.1f}%")
    if "decode" in b:
        print(f"decode after 2048 tokens: {b['decode']['tokens_per_s']:.1f} tokens/s")
    r16 = [r for r in b["prefill"] if r["ctx"] == 16384]
    target = bool(r16) and r16[0]["pct_dense_bf16"] >= 40.0
    print(f"16K bf16 prefill >= 40% of the dense rate: {'yes' if target else 'NO'}")
    ok = ok and target
print(f"wall time {secs} s; result: {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
EOF
