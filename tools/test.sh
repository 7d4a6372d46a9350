#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install packages, build, check formatting, run
# every CPU test (unit, golden-logit and end-to-end). GPU tests carry the ctest label "gpu" and
# run only where a GPU is present (tools/test-gpu.sh). This is what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
bash tools/check_format.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)"
ctest --preset release
