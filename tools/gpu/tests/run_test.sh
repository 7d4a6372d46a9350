#!/usr/bin/env bash
# The GPU run's dry run, on a machine without a GPU (CI): pack.sh packs the build's GPU binaries
# within the carry limit, every call of run.sh reports each of its steps "not run (no device)",
# exits 77 and finishes in seconds; every call's limits add up to under 8 minutes; and, with a
# device assumed (SIEVE_GPU_ASSUME) and a stand-in compute-sanitizer, a binary that finds no
# device, a step past its limit, a spent budget, a sanitizer error, a missing sanitizer and a
# passing step each read as they should. Exits 77 (skipped) on a machine that has a GPU.
#
# Usage: run_test.sh BUILD_DIR
set -uo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
build=${1:?usage: run_test.sh BUILD_DIR}
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "run_test.sh: this machine has a GPU; the dry run is for machines without one"
  exit 77
fi
export SIEVE_FIXTURES="${SIEVE_FIXTURES:-${SIEVE_FIXTURES_DEFAULT:-$root/../shared/fixtures}}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# run_call NAME ARGS...: runs run.sh on the test pack; sets rc, secs, output.
run_call() {
  local t0=$SECONDS
  output=$(OUT="$tmp/out" SIEVE_GPU_LOGS="$tmp/logs" bash "$root/tools/gpu/run.sh" "$@" \
    --pack "$tmp/pack" 2>&1)
  rc=$?
  secs=$((SECONDS - t0))
}

# --- the pack
if ! bash "$root/tools/gpu/pack.sh" --build "$build" --out "$tmp/pack" --no-build \
  >"$tmp/pack.log" 2>&1; then
  cat "$tmp/pack.log"
  fail "pack.sh failed"
  exit 1
fi
grep -q '^gpu-pack: fits' "$tmp/pack.log" || fail "pack.sh did not say the pack fits: $(cat "$tmp/pack.log")"
for f in bin/kernels_cuda_tests bin/models_golden_gpu_tests bin/models_hybrid_gpu_tests \
  bin/nccl_communicator_tests bin/models_expert_parallel_gpu_tests bin/sieve-gpu-bench \
  bin/sieve-moe-table bin/sieve-cuda-kernel-bench models/qwen3-30b-a3b/config.json \
  models/mixtral-8x7b-8l/config.json PACK_INFO; do
  [ -e "$tmp/pack/$f" ] || fail "the pack has no $f"
done

# --- the plan: every call under 8 minutes
plan=$(bash "$root/tools/gpu/run.sh" plan)
calls=$(echo "$plan" | sed -n 's/^call \(.*\):$/\1/p')
[ "$(echo "$calls" | tr '\n' ' ')" = "correctness bench sanitize floor " ] ||
  fail "the calls are not correctness, bench, sanitize, floor: $calls"
while read -r total; do
  [ "$total" -lt 480 ] || fail "a call's limits add up to ${total}s, not under 480s"
done < <(echo "$plan" | sed -n 's/^  total \([0-9]*\)s$/\1/p')

# --- the dry run: no device, every step "not run", exit 77, seconds
for call in $calls; do
  steps=$(echo "$plan" | sed -n "/^call $call:/,/^  total/p" | grep -cE '^  [a-z0-9_]+ +[0-9]+s  ')
  run_call "$call"
  notrun=$(echo "$output" | grep -c '^== \[[0-9]*/[0-9]*\] .*not run (no device)')
  [ "$rc" -eq 77 ] || fail "$call: exit $rc without a device, not 77"
  [ "$notrun" -eq "$steps" ] || fail "$call: $notrun of $steps steps said 'not run (no device)'"
  [ "$secs" -le 30 ] || fail "$call: the dry run took ${secs}s"
  echo "$output" | grep -q "^=== sieve GPU call '$call': 0 pass, 0 failed" ||
    fail "$call: no summary"
  [ -s "$tmp/out/$call-summary.txt" ] || fail "$call: no $call-summary.txt"
  tar -tzf "$tmp/out/$call-logs.tar.gz" >/dev/null 2>&1 || fail "$call: no $call-logs.tar.gz"
  if [ $failures -gt 0 ]; then echo "$output"; fi
  echo "dry run of $call: $steps steps not run (no device), exit 77, ${secs}s"
done

# --- a device assumed: a binary that finds none fails, with its words
export SIEVE_GPU_ASSUME=present
run_call correctness --only kernels_moe,golden_fp32
[ "$rc" -eq 1 ] || fail "device assumed: exit $rc, not 1"
[ "$(echo "$output" | grep -c "^== .*FAIL .*exit 77 ('no device') on a machine with a GPU: GPU tests:")" -eq 2 ] ||
  fail "device assumed: both steps should fail with the binary's words: $output"

# --- a stand-in compute-sanitizer: a step past its limit, then a spent budget
fake="$tmp/compute-sanitizer"
cat >"$fake" <<'EOF'
#!/usr/bin/env bash
case "$FAKE_SANITIZER" in
  sleep) sleep 60 ;;
  clean) echo "========= ERROR SUMMARY: 0 errors"; echo "[==========] Running 2 tests from 1 test suite."
         echo "[       OK ] A.b (1 ms)"; echo "[       OK ] A.c (1 ms)" ;;
  errors) echo "========= Invalid __global__ write of size 4 bytes"
          echo "========= ERROR SUMMARY: 3 errors"; exit 86 ;;
esac
EOF
chmod +x "$fake"
export SIEVE_GPU_SANITIZER="$fake"
FAKE_SANITIZER=sleep run_call sanitize --budget 6
[ "$rc" -eq 1 ] || fail "timeout: exit $rc, not 1"
echo "$output" | grep -q '^== \[1/6\] memcheck_elementwise_gemm *TIMEOUT' ||
  fail "timeout: the first step is not a TIMEOUT: $output"
[ "$(echo "$output" | grep -c '^== .*SKIPPED (budget)')" -eq 5 ] ||
  fail "timeout: the other five steps are not SKIPPED (budget): $output"
[ "$secs" -le 20 ] || fail "timeout: the call took ${secs}s with a 6s budget"

FAKE_SANITIZER=clean run_call sanitize --only racecheck_moe
[ "$rc" -eq 0 ] || fail "clean sanitizer: exit $rc, not 0: $output"
echo "$output" | grep -q '^== \[1/1\] racecheck_moe *pass .*ERROR SUMMARY: 0 errors; tests: 2 of 2 passed' ||
  fail "clean sanitizer: no pass line with its figure: $output"

FAKE_SANITIZER=errors run_call sanitize --only memcheck_moe
[ "$rc" -eq 1 ] || fail "sanitizer errors: exit $rc, not 1"
echo "$output" | grep -q '^== \[1/1\] memcheck_moe *FAIL .*rc 86; ERROR SUMMARY: 3 errors' ||
  fail "sanitizer errors: no FAIL line with the summary: $output"

SIEVE_GPU_SANITIZER="$tmp/none" run_call sanitize --only memcheck_moe
[ "$rc" -eq 1 ] || fail "no sanitizer: exit $rc, not 1"
echo "$output" | grep -q '^== \[1/1\] memcheck_moe *FAIL .*compute-sanitizer not found' ||
  fail "no sanitizer with a device: not a FAIL naming it: $output"

run_call correctness --only no_such_step
[ "$rc" -eq 2 ] || fail "--only with an unknown step: exit $rc, not 2"

if [ $failures -gt 0 ]; then
  echo "run_test.sh: $failures failures"
  exit 1
fi
echo "run_test.sh: the dry run and every result path behave"
