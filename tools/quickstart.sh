#!/usr/bin/env bash
# From a fresh Debian 12 machine to a running server: install packages, build (which also
# makes the built-in default model: a tiny random-weight Qwen3-MoE with the real Qwen3
# tokenizer), and start `sieve serve` on it, CPU backend, port 8000. Extra arguments go to
# `sieve serve` (e.g. --model DIR --port 8080). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)" --target sieve default_model
exec build/release/bin/sieve serve "$@"
