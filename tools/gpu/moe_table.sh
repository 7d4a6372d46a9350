#!/usr/bin/env bash
# The MoE expert-block table in one command on the GPU machine: sieve-moe-table (our variants, cuBLAS,
# ceilings, correctness), then moe_torch.py (torch._grouped_mm and a per-expert loop on the same
# group sizes), then the joined table with its targets (moe_report.py).
#
# Usage: tools/gpu/moe_table.sh [binary dir, default gpu-pack/bin] [sieve-moe-table flags...]
# Everything goes to $OUT (or /tmp/sieve-moe-table): moe_table.json, moe_torch.json,
# moe_report.txt and the logs. Exit status: sieve-moe-table's (77: no device; 1: a variant out of
# the bf16 error band, or a device that cannot be used), else moe_torch.py's failure (3: no
# torch), else 0; a failure ends with one line "moe_table.sh: FAILED: why".
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$root/gpu-pack/bin}"
[ $# -gt 0 ] && shift
out="${OUT:-/tmp/sieve-moe-table}"
mkdir -p "$out"
# CUDA's libraries from the machine's toolkit; anything else gpu-pack carries.
export LD_LIBRARY_PATH="$root/gpu-pack/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"

"$bin/sieve-moe-table" --out "$out" "$@" 2>&1 | tee "$out/sieve-moe-table.log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 77 ] && exit 77
if [ ! -f "$out/moe_table.json" ]; then
  echo "moe_table.sh: FAILED: sieve-moe-table wrote no moe_table.json (rc $rc)"
  [ "$rc" -eq 0 ] && rc=2
  exit "$rc"
fi

python3 "$root/tools/gpu/moe_torch.py" --table "$out/moe_table.json" --out "$out/moe_torch.json" \
  2>&1 | tee "$out/moe_torch.log"
torch_rc=${PIPESTATUS[0]}

echo
python3 "$root/tools/gpu/moe_report.py" --table "$out/moe_table.json" --torch "$out/moe_torch.json" \
  | tee "$out/moe_report.txt"
if [ "$rc" -ne 0 ]; then
  echo "moe_table.sh: FAILED: sieve-moe-table exited $rc ($(grep -c '^FLAG' "$out/moe_report.txt")" \
    "cases flagged: a variant's error above the bf16 band or not finite)"
  exit "$rc"
fi
if [ "$torch_rc" -ne 0 ]; then
  echo "moe_table.sh: FAILED: moe_torch.py exited $torch_rc:" \
    "$(grep -v '^[[:space:]]*$' "$out/moe_torch.log" | tail -1)"
fi
exit "$torch_rc"
