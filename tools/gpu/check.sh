#!/usr/bin/env bash
# Every GPU test and benchmark, on the GPU machine, in one command under 10 minutes (each step
# has a time limit; a step that hits it shows as TIMEOUT); a summary table last. Run from the
# repository root on the GPU machine, with the gpu-pack/ that tools/gpu/pack.sh built here copied
# beside it:
#   bash tools/gpu/check.sh
# Figures and logs also go to $OUT (when set) or /tmp/sieve-gpu-check.
# The MoE kernel table is a second command of its own, so each stays under the 10 minutes the GPU
# machine allows a command: bash tools/gpu/moe_table.sh
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
pack="$root/gpu-pack"
out="${OUT:-/tmp/sieve-gpu-check}"
mkdir -p "$out"
[ -d "$pack/bin" ] || { echo "no gpu-pack/: run tools/gpu/pack.sh first and carry gpu-pack"; exit 2; }
export LD_LIBRARY_PATH="$pack/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export SIEVE_FIXTURES="$pack/fixtures"
bin="$pack/bin"
summary=()
# run NAME TIMEOUT CMD...: runs, logs to $out/NAME.log, records pass/fail/not-run.
run() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  local verdict=pass
  [ $rc -eq 77 ] && verdict="not run (no device)"
  [ $rc -eq 124 ] && verdict="TIMEOUT"
  [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ $rc -ne 124 ] && verdict="FAIL (rc $rc)"
  summary+=("$(printf '%-34s %-22s %4ds' "$name" "$verdict" $((SECONDS - t0)))")
  echo "== $name: $verdict"
  [ "$verdict" = pass ] || tail -30 "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"

# Correctness.
run kernels_cuda_tests 60 "$bin/kernels_cuda_tests"
run models_golden_gpu_tests 60 "$bin/models_golden_gpu_tests"
# NCCL on one rank (no MPI): the communicator, then expert parallelism through it. They need
# the machine's libnccl (CUDA's, not carried in gpu-pack).
run nccl_communicator_tests 60 "$bin/nccl_communicator_tests"
run models_expert_parallel_gpu_tests 60 "$bin/models_expert_parallel_gpu_tests"
if command -v compute-sanitizer >/dev/null; then
  run memcheck_kernels 80 compute-sanitizer --tool memcheck --error-exitcode 1 \
    "$bin/kernels_cuda_tests" --gtest_filter='-*4096*:*Large*:*262144*'
  run racecheck_kernels 60 compute-sanitizer --tool racecheck --error-exitcode 1 \
    "$bin/kernels_cuda_tests" --gtest_filter='-*4096*:*Large*:*262144*:*Distribution*'
  run memcheck_models 40 compute-sanitizer --tool memcheck --error-exitcode 1 \
    "$bin/models_golden_gpu_tests" --gtest_filter='*LastPosition*:*GreedyTokensOfEach*:CudaGraph*'
fi

# Benchmarks: kernels, then whole models of real shapes with dummy weights.
run kernel_bench 50 "$bin/sieve-cuda-kernel-bench" --benchmark_min_time=0.05s
cfg="$out/models"
"$bin/sieve" make-checkpoint --preset qwen3-30b-a3b --config-only --out "$cfg/qwen3-30b-a3b" >/dev/null 2>&1
# Mixtral-8x7B in bf16 (93 GB) does not fit an 80 GB card: its real layer shapes, 8 of 32 layers.
"$bin/sieve" make-checkpoint --preset mixtral-8x7b --layers 8 --config-only --out "$cfg/mixtral-8x7b" >/dev/null 2>&1
run bench_qwen3_30b_a3b 110 "$bin/sieve-gpu-bench" --model "$cfg/qwen3-30b-a3b" --context 128 \
  --batches 1,8,64,256 --prefill-tokens 2048
# The same with every MoE shape tuned on its warm-up run (kernels/cuda/moe_registry.h).
run bench_qwen3_30b_a3b_tuned 110 "$bin/sieve-gpu-bench" --model "$cfg/qwen3-30b-a3b" --context 128 \
  --batches 1,8,64,256 --prefill-tokens 2048 --moe-autotune --moe-tuning-cache "$out/moe_tuning.json"
run bench_mixtral_8x7b 50 "$bin/sieve-gpu-bench" --model "$cfg/mixtral-8x7b" --context 128 \
  --batches 1,8,64 --prefill-tokens 2048
if python3 -c 'import transformers, torch' 2>/dev/null; then
  run hf_generate_qwen3_30b_a3b 80 python3 "$root/tools/gpu/hf_generate.py" \
    --config "$cfg/qwen3-30b-a3b/config.json" --batches 1,8 --context 128 --new-tokens 16
fi

echo
echo "=== sieve GPU check: $(cat "$out/gpu.txt")"
for f in bench_qwen3_30b_a3b bench_qwen3_30b_a3b_tuned bench_mixtral_8x7b; do
  [ -f "$out/$f.log" ] && sed -n '/^sieve-gpu-bench/,$p' "$out/$f.log"
done
[ -f "$out/hf_generate_qwen3_30b_a3b.log" ] && grep '^hf decode' "$out/hf_generate_qwen3_30b_a3b.log"
printf '%s\n' "${summary[@]}"
