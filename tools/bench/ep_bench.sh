#!/usr/bin/env bash
# Expert parallelism on the CPU backend: `sieve run` of one batch (16 prompts x 64 tokens in, 32
# out, greedy) on a ~1 GB Qwen3-MoE, as one process and under mpirun at 2 and 4 ranks, each
# with and without --expert-parallel-overlap (two micro-batches per MoE layer). Prints, per run,
# the wall time, rank 0's step time and the all-to-all's share of it (from the ranks' own
# summary lines), and overlap's step time as a ratio of the plain run's at the same rank count.
# Usage: tools/bench/ep_bench.sh [build dir, default build/release] [threads per rank, default 1]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
threads="${2:-1}"
sieve="$build/bin/sieve"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

big=/tmp/sieve-bench-qwen3-moe-1gb
[ -f "$big/config.json" ] || "$sieve" make-checkpoint --like qwen3_moe --layers 8 --hidden 1024 \
  --heads 16 --kv-heads 4 --head-dim 64 --experts 32 --top-k 4 --moe-intermediate 512 \
  --tie-embeddings --tokenizer "$build/models/qwen3-tokenizer" --out "$big" 2>/dev/null

python3 - "$work/in.jsonl" <<'PY'
import json, random, sys
random.seed(1)
with open(sys.argv[1], "w") as f:
    for i in range(16):
        ids = [random.randrange(100, 150000) for _ in range(64)]
        f.write(json.dumps({"id": i, "prompt_token_ids": ids, "max_tokens": 32,
                            "temperature": 0, "ignore_eos": True}) + "\n")
PY

mpirun="mpirun --allow-run-as-root --oversubscribe"
common="run --model $big --input $work/in.jsonl --threads $threads --max-num-seqs 16"
run() {  # NAME LAUNCHER ARGS...
  local name=$1 launcher=$2; shift 2
  local t0 t1
  t0=$(date +%s.%N)
  $launcher "$sieve" $common --output "$work/$name.jsonl" "$@" 2>"$work/$name.log" \
    || { cat "$work/$name.log"; exit 1; }
  t1=$(date +%s.%N)
  echo "$t0 $t1" >"$work/$name.time"
}
run single ""
for n in 2 4; do
  run "ep$n" "$mpirun -np $n" --expert-parallel-size "$n"
  run "ep${n}_overlap" "$mpirun -np $n" --expert-parallel-size "$n" --expert-parallel-overlap
  cmp -s "$work/single.jsonl" "$work/ep$n.jsonl" || { echo "ep$n output differs"; exit 1; }
  cmp -s "$work/single.jsonl" "$work/ep${n}_overlap.jsonl" || { echo "overlap differs"; exit 1; }
done

python3 - "$work" <<'PY'
import re, sys
d = sys.argv[1]
def wall(n):
    t0, t1 = map(float, open(f"{d}/{n}.time").read().split())
    return t1 - t0
def ranks(n):
    # "rank R: S steps, X ms per step, all-to-all Y ms per step (Z%), ..."
    pat = re.compile(r"rank (\d+): (\d+) steps, ([\d.]+) ms per step, all-to-all ([\d.]+) ms per step")
    return [tuple(map(float, m.groups())) for m in pat.finditer(open(f"{d}/{n}.log").read())]
print(f"{'run':<14}{'wall s':>8}{'ms/step':>9}{'a2a ms':>8}{'a2a %':>7}{'vs plain':>10}")
print(f"{'1 process':<14}{wall('single'):>8.2f}")
for n in (2, 4):
    plain = None
    for name in (f"ep{n}", f"ep{n}_overlap"):
        rs = ranks(name)
        step = sum(r[2] for r in rs) / len(rs)
        a2a = sum(r[3] for r in rs) / len(rs)
        plain = plain or step
        label = f"{n} ranks" + (" +ovl" if "overlap" in name else "")
        print(f"{label:<14}{wall(name):>8.2f}{step:>9.1f}{a2a:>8.1f}{100 * a2a / step:>7.0f}"
              f"{step / plain:>10.2f}")
print("ms/step and a2a: mean over ranks; vs plain: step time / the same rank count without overlap")
PY
