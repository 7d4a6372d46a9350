#!/usr/bin/env bash
# Packs what tools/gpu/run.sh needs on the GPU machine into gpu-pack/ (git-ignored; it travels
# to the GPU machine beside the checkout): the GPU test and benchmark binaries built here
# (stripped), the Debian shared libraries they use that a bare CUDA machine lacks (CUDA's own —
# cudart, cuBLAS, NCCL — come from the machine's toolkit or its PyTorch), the fixture models of
# the families sieve runs, and the config.json of the real shapes the benchmarks and the
# transformers floor build (random weights are made on the device). The GPU machine has nvcc,
# CMake and ninja but none of Debian's -dev packages and no network, so building there would
# mean building gRPC, GoogleTest & co.
#
# Usage: tools/gpu/pack.sh [--build DIR] [--out DIR] [--no-build]
#   --build DIR  the build tree (default build/release); --no-build: take its binaries as they
#   are (they must exist); --out DIR: pack there instead of gpu-pack/ (tests).
# Fails when the pack and the tracked checkout together exceed the 64 MiB that travel to the GPU
# machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$root/build/release"
pack="$root/gpu-pack"
do_build=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --out) pack=$2; shift 2 ;;
    --no-build) do_build=no; shift ;;
    *) echo "pack.sh: unknown argument '$1' (see the comment at the top)"; exit 2 ;;
  esac
done
build=$(realpath -m "$build")
pack=$(realpath -m "$pack")
fixtures="${SIEVE_FIXTURES:-$root/../shared/fixtures}"
# What run.sh runs; sieve only writes the configs here and stays behind.
bins=(bin/kernels_cuda_tests bin/models_golden_gpu_tests bin/models_hybrid_gpu_tests
  bin/nccl_communicator_tests bin/models_expert_parallel_gpu_tests
  kernels/sieve-cuda-kernel-bench kernels/sieve-moe-table bin/sieve-gpu-bench)

if [ "$do_build" = yes ]; then
  targets=()
  for b in "${bins[@]}"; do targets+=("$(basename "$b")"); done
  cmake --build "$build" --target "${targets[@]}" sieve
fi
for b in "${bins[@]}" bin/sieve; do
  [ -x "$build/$b" ] || { echo "pack.sh: $build/$b is not built"; exit 1; }
done
[ -d "$fixtures/models" ] || { echo "pack.sh: no fixtures at $fixtures (set SIEVE_FIXTURES)"; exit 1; }

rm -rf "$pack"
mkdir -p "$pack/bin" "$pack/lib" "$pack/fixtures/models" "$pack/models"
for b in "${bins[@]}"; do
  strip -o "$pack/bin/$(basename "$b")" "$build/$b"
done
# Libraries outside glibc, libstdc++ and CUDA: what Debian installed for us.
for b in "$pack"/bin/*; do
  ldd "$b" | awk '$3 ~ /^\// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux* | libstdc++* | libgcc_s*) ;;
    libcuda.so* | libcudart* | libcublas* | libnccl* | libcurand*) ;;
    *) cp -L "$lib" "$pack/lib/" ;;
  esac
done
# The fixture of every family sieve runs: one file per family in models/families/, named after
# its model_type, which is also the fixture's folder.
for family in "$root"/models/families/*.cpp; do
  cp -r "$fixtures/models/$(basename "$family" .cpp)" "$pack/fixtures/models/"
done
# Real shapes, config only. Mixtral-8x7B in bf16 (93 GB) does not fit an 80 GB card: its real
# layer shapes, 8 of its 32 layers.
"$build/bin/sieve" make-checkpoint --preset qwen3-30b-a3b --config-only \
  --out "$pack/models/qwen3-30b-a3b" >/dev/null
"$build/bin/sieve" make-checkpoint --preset mixtral-8x7b --layers 8 --config-only \
  --out "$pack/models/mixtral-8x7b-8l" >/dev/null
"$build/bin/sieve" make-checkpoint --preset gpt-oss-20b --config-only \
  --out "$pack/models/gpt-oss-20b" >/dev/null

commit=$(git -C "$root" rev-parse --short HEAD)
git -C "$root" diff --quiet HEAD -- 2>/dev/null || commit="$commit+uncommitted changes"
bytes=$(du -sb "$pack" | cut -f1)
# What travels beside the pack: the tracked files (one deleted but not yet committed counts 0).
tracked=$(cd "$root" && { git ls-files -z | xargs -0 stat -c %s 2>/dev/null || true; } |
  awk '{s += $1} END {print s + 0}')
echo "built $(date -u +%Y-%m-%dT%H:%MZ) from $commit; $((bytes >> 20)) MiB" >"$pack/PACK_INFO"
du -b "$pack"/bin/* "$pack"/lib/* | sed "s|$pack/||" >>"$pack/PACK_INFO"
echo "gpu-pack: $((bytes >> 20)) MiB in $pack ($(ls "$pack/bin" | wc -l) binaries," \
  "$(ls "$pack/lib" | wc -l) libraries, $(ls "$pack/fixtures/models" | wc -l) fixture models);" \
  "the tracked checkout $((tracked >> 20)) MiB"
limit=$((64 << 20))
if [ $((bytes + tracked)) -gt "$limit" ]; then
  echo "pack.sh: gpu-pack and the checkout come to $(((bytes + tracked) >> 20)) MiB, over the 64 MiB" \
    "that travel to the GPU machine: strip more, or leave a binary out"
  exit 1
fi
echo "gpu-pack: fits ($(((limit - bytes - tracked) >> 20)) MiB to spare); carry gpu-pack with each call"
