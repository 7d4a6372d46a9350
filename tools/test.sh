#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install packages, build, check formatting, run
# every CPU test (unit, golden-logit and end-to-end). GPU tests carry the ctest label "gpu" and
# run only where a GPU is present (tools/gpu/run.sh runs them there). This is what .ci/run
# calls.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh

# Fixtures live in ../shared/fixtures beside the checkout. A clone made elsewhere (CI clones
# into a scratch folder) finds them beside the repository it was cloned from.
if [ -z "${SIEVE_FIXTURES:-}" ] && [ ! -d ../shared/fixtures ]; then
  origin="$(git config --get remote.origin.url || true)"
  if [ -n "$origin" ] && [ -d "$origin/../shared/fixtures" ]; then
    SIEVE_FIXTURES="$(cd "$origin/../shared/fixtures" && pwd)"
    export SIEVE_FIXTURES
    echo "test: fixtures from $SIEVE_FIXTURES"
  fi
fi
bash tools/check_format.sh
# Layering, no circle between rooms, file and folder sizes, family names only in their files.
python3 tools/check_house.py
# The end-to-end suites drive the server with real clients from npm (tests/e2e/node).
(cd tests/e2e/node && npm ci --no-audit --no-fund --loglevel=error)
cmake --preset release
cmake --build --preset release -j "$(nproc)"
ctest --preset release
