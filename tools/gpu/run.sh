#!/usr/bin/env bash
# Every GPU test and benchmark of sieve, as four calls for the GPU machine, which allows one
# command 10 minutes and a whole session about 15 minutes of device time, start-up included.
# Each call's step limits add up to under 8 minutes; the calls come in order of value, so a
# session runs them in this order until its device time is spent:
#   correctness  kernel tests, golden model tests on the CUDA backend, CUDA graph replay, the
#                hybrid executor, NCCL and expert parallelism on one GPU
#   bench        Qwen3-30B-A3B (random bf16 weights) decode at batch 1/8/64/256 and a 2k prefill
#                against rooflines measured in the same run; the MoE expert-block table; kernels
#   sanitize     compute-sanitizer: memcheck on the kernel tests, racecheck on MoE and attention
#   floor        transformers' own generate() on the same shape; the autotuned and Mixtral
#                benchmarks; the MoE table at Mixtral's shape
#
# Usage (from the repository root, with the gpu-pack/ that tools/gpu/pack.sh built carried):
#   bash tools/gpu/run.sh correctness|bench|sanitize|floor [--budget SECONDS] [--only STEP,...]
#   bash tools/gpu/run.sh plan        every call's steps and limits
# --budget: seconds this call may take (default: the sum of its limits); a step starts only
# while time is left and is cut to what is left. --only: just these steps (reruns after a fix).
# --pack DIR: another pack (default gpu-pack/). SIEVE_GPU_SANITIZER: the compute-sanitizer to
# use (default: the first in PATH, $CUDA_HOME/bin, /usr/local/cuda/bin).
#
# Each step prints one line as it ends (name, result, seconds, its key figure or first error);
# the summary comes last and in $OUT/<call>-summary.txt; every step's full log is in
# $OUT/<call>-logs.tar.gz ($OUT defaults to /tmp/sieve-gpu-out; the loose logs are in
# /tmp/sieve-gpu/<call>/). Results are explained in steps.sh.
# Exit status: 0 every step passed; 1 a step failed or timed out; 3 some were skipped for the
# budget, none failed; 77 no GPU on this machine (every step "not run"); 2 bad usage or no pack.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=tools/gpu/steps.sh
source "$root/tools/gpu/steps.sh"

# --- the calls ---------------------------------------------------------------------------------
# gtest_step NAME LIMIT REQUIREMENT BINARY FILTER [PREFIX...]; step NAME LIMIT REQUIREMENT
# FIGURE -- COMMAND... Binaries are the pack's ($bin); configs of real shapes are in
# $pack/models (pack.sh writes them), fixtures in $SIEVE_FIXTURES.

plan_correctness() {
  # kernels_cuda_tests by family, so that a crash in one leaves the others' results.
  gtest_step kernels_elementwise_gemm 40 gpu kernels_cuda_tests 'Cuda*:-CudaAttention.*:CudaSampling.*'
  gtest_step kernels_attention 40 gpu kernels_cuda_tests 'CudaAttention.*'
  gtest_step kernels_moe 70 gpu kernels_cuda_tests 'Moe*'
  gtest_step kernels_sampling 30 gpu kernels_cuda_tests 'CudaSampling.*'
  # The fixture models on the CUDA backend: against transformers, the batch-invariance promise,
  # prefix caching, preemption; graph replay; dummy weights.
  gtest_step golden_fp32 70 gpu models_golden_gpu_tests '*GoldenTest.*'
  gtest_step golden_bf16 40 gpu models_golden_gpu_tests '*GoldenBf16Compute*'
  gtest_step cuda_graphs 40 gpu models_golden_gpu_tests '*CudaGraphTest.*'
  gtest_step dummy_load 20 gpu models_golden_gpu_tests 'DummyLoadTest.*'
  # fp8 and mxfp4 copies of the fixtures (gpt-oss's released layout among them), dequantized as
  # the CUDA backend loads them, against their dequantized copies.
  gtest_step quantized_copies 25 gpu models_golden_gpu_tests '*QuantizedModelTest.*'
  gtest_step hybrid_executor 55 gpu models_hybrid_gpu_tests '*'
  # NCCL on one rank (no MPI), then expert parallelism through it.
  gtest_step nccl_communicator 15 gpu nccl_communicator_tests '*'
  gtest_step expert_parallel 30 gpu models_expert_parallel_gpu_tests '*'
}

plan_bench() {
  step bench_qwen3_30b_a3b 150 gpu figure_gpu_bench -- "$bin/sieve-gpu-bench" \
    --model "$pack/models/qwen3-30b-a3b" --context 128 --batches 1,8,64,256 --prefill-tokens 2048
  step moe_table 220 gpu figure_moe_table -- env OUT="$logdir/moe_table" \
    bash "$root/tools/gpu/moe_table.sh" "$bin" --shapes qwen3-30b-a3b,gpt-oss-120b
  step kernel_bench 60 gpu figure_kernel_bench -- "$bin/sieve-cuda-kernel-bench" \
    --benchmark_min_time=0.05s
  # gpt-oss-20b whole (42 GB at bf16: the CUDA backend holds no mxfp4 yet), decode b1 and b64.
  step bench_gpt_oss_20b 45 gpu figure_gpu_bench -- "$bin/sieve-gpu-bench" \
    --model "$pack/models/gpt-oss-20b" --context 128 --batches 1,64 --prefill-tokens 2048
}

plan_sanitize() {
  local memcheck=("$sanitizer" --tool memcheck --error-exitcode 86)
  local racecheck=("$sanitizer" --tool racecheck --racecheck-report hazard --error-exitcode 86)
  gtest_step memcheck_elementwise_gemm 60 sanitizer kernels_cuda_tests \
    'Cuda*:-CudaAttention.*:CudaSampling.*' "${memcheck[@]}"
  gtest_step memcheck_attention 70 sanitizer kernels_cuda_tests 'CudaAttention.*' "${memcheck[@]}"
  # Without the 4096-token pipelines and the tuner's timing loops: the same kernels on smaller
  # shapes, at the sanitizer's slowdown.
  gtest_step memcheck_moe 100 sanitizer kernels_cuda_tests \
    'Moe*:-MoeExperts.MatchesHostReferenceAcrossShapes:MoeExperts.DeterministicRunToRun:MoeTune.*' \
    "${memcheck[@]}"
  gtest_step memcheck_sampling 60 sanitizer kernels_cuda_tests 'CudaSampling.*' "${memcheck[@]}"
  # The kernels that share memory between threads: align's counts, the tiled products.
  gtest_step racecheck_moe 90 sanitizer kernels_cuda_tests \
    'MoeAlign.*:MoeGroupedGemm.*:MoeSkinnyGemm.*:MoeTensorGemm.*' "${racecheck[@]}"
  gtest_step racecheck_attention 80 sanitizer kernels_cuda_tests 'CudaAttention.*' \
    "${racecheck[@]}"
}

plan_floor() {
  step hf_generate_qwen3_30b_a3b 180 torch figure_floor -- env PYTHONUNBUFFERED=1 python3 \
    "$root/tools/gpu/hf_generate.py" --config "$pack/models/qwen3-30b-a3b/config.json" \
    --batches 1,8 --context 128 --new-tokens 16
  # Every MoE shape tuned on its warm-up run (kernels/cuda/moe_registry.h).
  step bench_qwen3_30b_a3b_tuned 130 gpu figure_gpu_bench -- "$bin/sieve-gpu-bench" \
    --model "$pack/models/qwen3-30b-a3b" --context 128 --batches 1,8,64,256 \
    --prefill-tokens 2048 --moe-autotune --moe-tuning-cache "$logdir/moe_tuning.json"
  # Mixtral-8x7B in bf16 (93 GB) does not fit an 80 GB card: its real layer shapes, 8 of 32.
  step bench_mixtral_8x7b_8l 70 gpu figure_gpu_bench -- "$bin/sieve-gpu-bench" \
    --model "$pack/models/mixtral-8x7b-8l" --context 128 --batches 1,8,64 --prefill-tokens 2048
  step moe_table_mixtral 80 gpu figure_moe_table -- env OUT="$logdir/moe_table_mixtral" \
    bash "$root/tools/gpu/moe_table.sh" "$bin" --shapes mixtral-8x7b
}

calls=(correctness bench sanitize floor)

# --- key figures -------------------------------------------------------------------------------

# "b1 412 tok/s (0.85 of roofline), ..., prefill 2048 31234 tok/s (0.61)".
figure_gpu_bench() {
  awk '/^  (decode b|prefill )/ {
         name = ($1 == "decode") ? $2 : "prefill " $2
         n = NF; printf "%s%s %s tok/s (%s of roofline)", sep, name, $(n - 4), $n; sep = ", "
       }' "$1"
}

figure_kernel_bench() {
  local copy rows
  copy=$(grep -m1 -o 'copy: [0-9.]* GB/s' "$1")
  rows=$(grep -c '^BM_' "$1")
  echo "$rows rows; device-to-device $copy"
}

figure_moe_table() {
  local t flags
  t=$(grep -m1 '^targets met' "$1")
  flags=$(grep -c '^FLAG' "$1")
  echo "${t:-no report}; $flags flagged cases"
}

figure_floor() {
  grep '^hf decode' "$1" | sed -E 's/^hf decode (b[0-9]+) ctx [0-9]+: ([0-9.]+) tokens\/s.*/\1 \2 tok\/s/' |
    paste -sd ',' - | sed 's/,/, /g'
}

# --- main --------------------------------------------------------------------------------------

usage() {
  sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 2
}

print_plan() {
  local c total
  counting=list
  for c in "${calls[@]}"; do
    echo "call $c:"
    plan_total=0
    "plan_$c"
    echo "  total ${plan_total}s"
  done
}

[ $# -ge 1 ] || usage
call=$1
shift
pack="$root/gpu-pack"
budget=""
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --pack) pack=$(cd "$2" && pwd); shift 2 ;;
    *) echo "run.sh: unknown argument '$1'"; usage ;;
  esac
done
bin="$pack/bin"
sanitizer=$(find_sanitizer)
[ -n "$sanitizer" ] || sanitizer=compute-sanitizer
logdir='<logs>'

if [ "$call" = plan ]; then
  print_plan
  exit 0
fi
[[ " ${calls[*]} " == *" $call "* ]] || { echo "run.sh: no call '$call'"; usage; }
if [ ! -d "$bin" ]; then
  echo "run.sh: no $bin: run 'bash tools/gpu/pack.sh' here and carry gpu-pack to the GPU machine"
  exit 2
fi

out="${OUT:-/tmp/sieve-gpu-out}"
logdir="${SIEVE_GPU_LOGS:-/tmp/sieve-gpu}/$call"
rm -rf "$logdir"
mkdir -p "$out" "$logdir"
export SIEVE_FIXTURES="$pack/fixtures"
pack_text=$(head -1 "$pack/PACK_INFO" 2>/dev/null || echo "no PACK_INFO in $pack")

counting=yes
"plan_$call"
counting=no
[ -n "$budget" ] || budget=$plan_total
if [ "$step_count" -eq 0 ]; then
  echo "run.sh: --only '$only' names no step of '$call' (bash tools/gpu/run.sh plan lists them)"
  exit 2
fi

call_t0=$SECONDS
probe_device
setup_libraries
echo "=== sieve GPU call '$call': steps $step_count, budget ${budget}s"
echo "device: $device_text"
echo "libraries: $library_text"
echo "pack: $pack_text"
"plan_$call"
echo
summary_table
echo "logs: $out/$call-logs.tar.gz (one log per step); this table: $out/$call-summary.txt"

[ $n_fail -gt 0 ] && exit 1
[ $n_skip -gt 0 ] && exit 3
[ $n_notrun -gt 0 ] && exit 77
exit 0
