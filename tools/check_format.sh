#!/usr/bin/env bash
# Fails when a tracked C++/CUDA file differs from what clang-format (.clang-format) would
# write. With a git ref argument, checks only the files changed since that ref.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -gt 0 ]; then
  mapfile -t files < <(git diff --name-only --diff-filter=ACMR "$1" -- '*.h' '*.cpp' '*.cu' '*.cuh')
else
  mapfile -t files < <(git ls-files -- '*.h' '*.cpp' '*.cu' '*.cuh')
fi
if [ ${#files[@]} -eq 0 ]; then
  echo "check_format: no C++ files to check"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check_format: these files are not clang-formatted (run: clang-format -i FILE):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "check_format: ${#files[@]} files formatted"
