#!/usr/bin/env bash
# Serving figures of `sieve serve` on the CPU backend, measured with `sieve bench serve`:
#   1. 1-token round trip (one request at a time) on make-checkpoint's tiny model (vocabulary
#      1024, so the front end's cost shows) and on the built-in default model, next to 2 ms;
#   2. a ~1 GB Qwen3-MoE at concurrency 1, 16 and 64 (128 prompt / 64 output tokens);
#   3. time to first token with a shared 1k-token prefix, prefix caching on against off.
# Usage: tools/bench/serve_bench.sh [build dir, default build/release] [threads, default 2]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
threads="${2:-2}"
sieve="$build/bin/sieve"
work="$(mktemp -d)"
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT

tiny=/tmp/sieve-bench-tiny
big=/tmp/sieve-bench-qwen3-moe-1gb
[ -f "$tiny/config.json" ] || "$sieve" make-checkpoint --out "$tiny" 2>/dev/null
[ -f "$big/config.json" ] || "$sieve" make-checkpoint --like qwen3_moe --layers 8 --hidden 1024 \
  --heads 16 --kv-heads 4 --head-dim 64 --experts 32 --top-k 4 --moe-intermediate 512 \
  --tie-embeddings --tokenizer "$build/models/qwen3-tokenizer" --out "$big" 2>/dev/null

# start_server ARGS...: runs sieve serve on a free port; sets $url.
start_server() {
  "$sieve" serve --host 127.0.0.1 --port 0 --threads "$threads" "$@" 2>"$work/serve.log" &
  server_pid=$!
  for _ in $(seq 600); do
    port=$(sed -n 's/.*on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/serve.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$work/serve.log"; exit 1; }
  url="http://127.0.0.1:$port"
}
stop_server() { kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""; }
bench() {  # NAME ARGS...
  local name=$1; shift
  "$sieve" bench serve --base-url "$url" --seed 1 --result-dir "$work" --result-filename "$name" \
    "$@" >/dev/null 2>"$work/$name.err" || { cat "$work/$name.err"; exit 1; }
}

rt="--input-len 1 --output-len 1 --max-concurrency 1 --num-prompts 300 --num-warmups 20"
start_server --model "$tiny"; bench rt_tiny $rt --vocab-size 1024; stop_server
start_server; bench rt_default $rt; stop_server
start_server --model "$big" --max-num-seqs 64
for c in 1 16 64; do
  bench "conc$c" --input-len 128 --output-len 64 --max-concurrency "$c" --num-prompts "$c" \
    --vocab-size 151669
done
stop_server
pre="--shared-prefix-len 1024 --input-len 32 --output-len 1 --max-concurrency 1 --num-prompts 8"
start_server --model "$big"; bench prefix_on $pre --vocab-size 151669; stop_server
start_server --model "$big" --no-enable-prefix-caching
bench prefix_off $pre --vocab-size 151669; stop_server

python3 - "$work" <<'PY'
import json, sys
d = sys.argv[1]
run = lambda n: json.load(open(f"{d}/{n}.json"))["runs"][0]
rows = []
for name, label in [("rt_tiny", "tiny model (vocab 1024)"), ("rt_default", "default model (vocab 151669)")]:
    e = run(name)["e2e_ms"]
    rows.append((f"1-token round trip, {label}, p50 / p99", f"{e['p50']:.2f} / {e['p99']:.2f} ms",
                 "target 2 ms (p50)", f"{2 / e['p50']:.2f}"))
base = run("conc1")["output_throughput"]
for c in (1, 16, 64):
    r = run(f"conc{c}")
    rows.append((f"concurrency {c}: output tok/s", f"{r['output_throughput']:.1f}",
                 "" if c == 1 else f"concurrency 1: {base:.1f}",
                 "" if c == 1 else f"{r['output_throughput'] / base:.2f}"))
    t = r["ttft_ms"]
    rows.append((f"concurrency {c}: TTFT p50 / p99", f"{t['p50']:.0f} / {t['p99']:.0f} ms", "", ""))
on, off = run("prefix_on")["ttft_ms"]["p50"], run("prefix_off")["ttft_ms"]["p50"]
rows.append(("shared 1k prefix: TTFT p50, prefix caching on", f"{on:.0f} ms", f"off: {off:.0f} ms",
             f"{off / on:.2f}"))
print("| figure | sieve | reference | ratio |\n| --- | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")
PY
