#!/usr/bin/env bash
# The expert-placement table: predicted speed-up of the sieve policy over host (every routed
# expert on the CPU) and over static-hot (a fixed hot set), replaying routing traces through
# `sieve bench placement`, for two model shapes, skewed and real routing, four batch sizes and
# three device budgets (10%, 25%, 50% of the expert bytes).
#
#   Qwen3-30B-A3B: 48 MoE layers x 128 experts, top-8, experts 2048x768 BF16 (58 GB of experts)
#   gpt-oss-120b:  36 MoE layers x 128 experts, top-4, experts 2880x2880 held as BF16 (230 GB;
#                  the release's MXFP4 would be about a quarter of that)
#   routing:       zipf:0.8, zipf:1.2, zipf:1.6 (synthetic), olmoe:15 (the real counts of
#                  OLMoE-1B-7B's most skewed traced layer, mapped onto 128 experts)
#
# The cost model: the device tier and the link from the H100 SXM datasheet, the host tier
# measured on this machine (once per shape, saved beside the results). HOST=server replaces the
# host tier with a named server-class host instead of measuring: 350 GB/s of weight bandwidth
# (12-channel DDR5-4800, a STREAM-class figure) and 8 TFLOP/s of BF16 expert math — an
# assumption for context, not a measurement.
#
# Usage: tools/bench/placement_table.sh [OUT_DIR] (default /tmp/sieve-placement-table); needs a
# release build. Prints a Markdown table and writes every replay's JSON to OUT_DIR.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
sieve="$root/build/release/bin/sieve"
out="${1:-/tmp/sieve-placement-table}"
host_kind="${HOST:-measured}"
steps="${STEPS:-48}"
mkdir -p "$out"
[ -x "$sieve" ] || { echo "no $sieve: build the release preset first" >&2; exit 2; }

# shape name, trace flags, expert flags, total expert bytes
shapes=(
  "qwen3-30b-a3b|--preset qwen3-30b-a3b|--hidden 2048 --intermediate 768|$((48 * 128 * 3 * 2048 * 768 * 2))"
  "gpt-oss-120b|--experts 128 --top-k 4 --layers 36|--hidden 2880 --intermediate 2880|$((36 * 128 * 3 * 2880 * 2880 * 2))"
)
sources=(zipf:0.8 zipf:1.2 zipf:1.6 olmoe:15)
batches=(1 8 32 128)
budgets=(10 25 50)
counts="${SIEVE_FIXTURES:-$root/../shared/fixtures}/routing/olmoe_mixtral_counts.json"

echo "| shape | routing | batch | budget | sieve ms/step | vs host | vs static-hot | uploads MB/step | balance |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for shape in "${shapes[@]}"; do
  IFS='|' read -r name trace_flags expert_flags total <<<"$shape"
  cost="$out/$name.$host_kind.cost.json"
  if [ ! -f "$cost" ]; then
    probe="$out/$name.probe.jsonl"
    # shellcheck disable=SC2086
    "$sieve" bench trace --from zipf:1.2 $trace_flags --batch 8 --steps 4 --out "$probe" >/dev/null
    # shellcheck disable=SC2086
    "$sieve" bench placement --trace "$probe" $expert_flags --device-expert-memory 1 \
      --policies host --save-cost-model "$cost" >/dev/null 2>&1
    if [ "$host_kind" = server ]; then
      python3 - "$cost" <<'EOF'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["host"] = {"flops_per_s": 8e12, "weight_bytes_per_s": 350e9, "per_expert_s": 5e-6,
             "source": "assumed server host: 350 GB/s (12-channel DDR5-4800), 8 TFLOP/s BF16, "
                       "5 us/expert"}
json.dump(m, open(p, "w"), indent=2)
EOF
    fi
  fi
  for src in "${sources[@]}"; do
    for batch in "${batches[@]}"; do
      trace="$out/$name.${src/:/-}.b$batch.jsonl"
      # shellcheck disable=SC2086
      [ -f "$trace" ] || "$sieve" bench trace --from "$src" $trace_flags --batch "$batch" \
        --steps "$steps" --counts "$counts" --seed 1 --out "$trace" >/dev/null
      for pct in "${budgets[@]}"; do
        gb=$(python3 -c "print($total * $pct / 100 / 1e9)")
        json="$out/$name.${src/:/-}.b$batch.p$pct.$host_kind.json"
        # shellcheck disable=SC2086
        "$sieve" bench placement --trace "$trace" $expert_flags --device-expert-memory "$gb" \
          --cost-model "$cost" --policies sieve,host,static-hot --json "$json" >/dev/null 2>&1
        python3 - "$json" "$name" "$src" "$batch" "$pct" <<'EOF'
import json, sys
path, name, src, batch, pct = sys.argv[1:]
r = {p["policy"]: p for p in json.load(open(path))["policies"]}
s = r["sieve"]
print(f"| {name} | {src} | {batch} | {pct}% | {s['step_s'] * 1e3:.2f} | "
      f"{s['speedup_vs_host']:.2f}x | {s['speedup_vs_static_hot']:.2f}x | "
      f"{s['upload_bytes'] / 1e6:.0f} | {s['balance']:.2f} |")
EOF
      done
    done
  done
done
echo
echo "host tier: $host_kind; cost models in $out/*.$host_kind.cost.json"
