#!/usr/bin/env bash
# Tokenizer encode throughput, one thread, 4 KB chunks: sieve next to the Hugging Face Rust
# reference (npm `tokenizers`) on the same corpus, with a check that both give the same ids.
#   tools/bench/tokenizer_bench.sh [build dir, default build/release]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
fixtures="${SIEVE_FIXTURES:-$root/../shared/fixtures}"
bench="$build/bin/sieve-tokenizer-bench"
ref_dir="$root/tools/bench/tokenizer"
[ -x "$bench" ] || { echo "missing $bench (cmake --build $build --target sieve-tokenizer-bench)"; exit 1; }
if [ ! -d "$ref_dir/node_modules/tokenizers" ]; then
  (cd "$ref_dir" && npm install --no-audit --no-fund --silent)
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$bench" --write-corpus "$work/corpus.txt" --golden-dir "$fixtures/golden/tokenize" --corpus-mb 8
echo "sieve MB/s: first pass over the corpus (word cache starts empty); warm: best later pass;"
echo "cold: the first 32 chunks of the first pass (distinct text, empty cache)"
printf '\n%-12s %12s %12s %12s %12s %8s %11s\n' tokenizer "sieve MB/s" "sieve warm" "sieve cold" \
  "ref MB/s" ratio mismatches
rows=()
for m in qwen3 gpt-oss deepseek-v3; do
  tok="$fixtures/tokenizers/$m/tokenizer.json"
  ours=$("$bench" --tokenizer "$tok" --corpus "$work/corpus.txt" --ids-out "$work/$m.ids" \
         --pathological)
  ref=$(node "$ref_dir/reference_bench.js" "$tok" "$work/corpus.txt" "$work/$m.ids")
  o=$(sed -n 's/.*ours_mb_per_s=\([0-9.]*\).*/\1/p' <<<"$ours")
  w=$(sed -n 's/.*warm_mb_per_s=\([0-9.]*\).*/\1/p' <<<"$ours")
  c=$(sed -n 's/.*cold_mb_per_s=\([0-9.]*\).*/\1/p' <<<"$ours")
  r=$(sed -n 's/.*ref_mb_per_s=\([0-9.]*\).*/\1/p' <<<"$ref")
  mm=$(sed -n 's/.*mismatches=\([0-9-]*\).*/\1/p' <<<"$ref")
  printf '%-12s %12s %12s %12s %12s %7.2fx %11s\n' "$m" "$o" "$w" "$c" "$r" \
    "$(echo "$o / $r" | bc -l)" "$mm"
  rows+=("$m: $(grep pathological <<<"$ours" | tr '\n' ';')")
done
echo
echo "differential check on 5000 random strings (scripts, combining marks, odd spaces, emoji):"
python3 "$ref_dir/random_strings.py" "$work/random.txt" 5000 7
for m in qwen3 gpt-oss deepseek-v3; do
  tok="$fixtures/tokenizers/$m/tokenizer.json"
  "$bench" --tokenizer "$tok" --corpus "$work/random.txt" --records --repeats 1 \
    --ids-out "$work/$m.random.ids" >/dev/null
  mm=$(node "$ref_dir/reference_bench.js" "$tok" "$work/random.txt" "$work/$m.random.ids" \
       --records | sed -n 's/.*mismatches=\([0-9-]*\).*/\1/p')
  echo "  $m: $mm mismatches"
done
echo
echo "pathological inputs (sieve encode, one call each):"
printf '  %s\n' "${rows[@]}"
