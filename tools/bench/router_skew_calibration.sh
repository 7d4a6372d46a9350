#!/usr/bin/env bash
# What --router-skew zipf:S gives through the real engine: for each model shape and S, a
# random-weight model (--load-format dummy, made in memory) runs `sieve bench throughput` on
# prompts of varied lengths (uniform 64-448 tokens, 16 generated each) with --record-routing,
# and `sieve bench trace --stats` prints the recorded trace's top-8 share, Gini and max/mean per
# MoE layer (summed over the run, as the published routing statistics are) — to set next to the
# real models' figures (OLMoE top-8 share 20-51%, Gini 0.14-0.63, max/mean 2.5-7.8; Mixtral
# Gini 0.02-0.12, max/mean 1.08-1.33).
# Usage: tools/bench/router_skew_calibration.sh [build dir] [S values, default "0 0.2 0.4 0.8 1.2 1.6"]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
skews="${2:-0 0.2 0.4 0.8 1.2 1.6}"
sieve="$build/bin/sieve"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Real shapes with few layers (the router's statistics do not depend on depth): OLMoE-1B-7B
# (64 experts, top-8), Qwen3-30B-A3B (128, top-8); Mixtral's 8 experts top-2 at a smaller width.
"$sieve" make-checkpoint --preset olmoe-1b-7b --layers 2 --config-only --out "$work/olmoe" 2>/dev/null
"$sieve" make-checkpoint --preset qwen3-30b-a3b --layers 2 --config-only --out "$work/qwen3" 2>/dev/null
"$sieve" make-checkpoint --like mixtral --layers 2 --hidden 1024 --heads 16 --kv-heads 4 \
  --moe-intermediate 1024 --experts 8 --top-k 2 --vocab 32000 --config-only \
  --out "$work/mixtral" 2>/dev/null

for shape in olmoe qwen3 mixtral; do
  for s in $skews; do
    skew="zipf:$s"
    [ "$s" = 0 ] && skew=none
    "$sieve" bench throughput --model "$work/$shape" --load-format dummy --router-skew "$skew" \
      --num-prompts 48 --input-len 256 --length-dist uniform --range-ratio 0.75 \
      --output-len 16 --seed 1 --record-routing "$work/trace.jsonl" >/dev/null 2>"$work/log" \
      || { cat "$work/log"; exit 1; }
    echo "== $shape, --router-skew $skew"
    "$sieve" bench trace --stats "$work/trace.jsonl" | grep -E "^  |^per step"
  done
done
