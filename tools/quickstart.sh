#!/usr/bin/env bash
# From a fresh Debian 12 machine to a running sieve: install packages, build, make the default
# model (a tiny random-weight Qwen3-MoE) if it is not there yet, and run the bundled example
# batch on the CPU backend. Results go to stdout, one JSON line per request.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)" --target sieve
model=build/models/qwen3-moe-tiny
if [ ! -f "$model/config.json" ]; then
  build/release/bin/sieve make-checkpoint --like qwen3_moe --out "$model" --seed 0
fi
exec build/release/bin/sieve run --model "$model" --input configs/examples/requests.jsonl \
  --output - "$@"
