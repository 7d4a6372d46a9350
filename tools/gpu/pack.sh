#!/usr/bin/env bash
# Packs what tools/gpu/check.sh needs on the GPU machine into gpu-pack/ (git-ignored; it travels
# to the GPU machine beside the checkout): the GPU test and benchmark binaries built here (stripped), the
# Debian shared libraries they use that a bare CUDA image lacks (CUDA's own come from the
# machine's toolkit), and the fixture models of the families sieve runs. The GPU machine has nvcc, CMake and ninja but
# none of Debian's -dev packages, so building there would mean building gRPC, GoogleTest & co.
#
# Usage: tools/gpu/pack.sh [build dir, default build/release]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
fixtures="${SIEVE_FIXTURES:-$root/../shared/fixtures}"
pack="$root/gpu-pack"
bins=(bin/kernels_cuda_tests bin/models_golden_gpu_tests bin/nccl_communicator_tests
      bin/models_expert_parallel_gpu_tests kernels/sieve-cuda-kernel-bench kernels/sieve-moe-table
      bin/sieve-gpu-bench bin/sieve)

cmake --build "$build" --target kernels_cuda_tests models_golden_gpu_tests \
  nccl_communicator_tests models_expert_parallel_gpu_tests sieve-cuda-kernel-bench \
  sieve-moe-table sieve-gpu-bench sieve default_model
rm -rf "$pack"
mkdir -p "$pack/bin" "$pack/lib" "$pack/fixtures/models"
for b in "${bins[@]}"; do
  strip -o "$pack/bin/$(basename "$b")" "$build/$b"
done
# Libraries outside glibc, libstdc++ and CUDA: what Debian installed for us.
for b in "$pack"/bin/*; do
  ldd "$b" | awk '$3 ~ /^\// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libstdc++*|libgcc_s*) ;;
    libcuda*|libcublas*|libnccl*|libcurand*) ;;
    *) cp -L "$lib" "$pack/lib/" ;;
  esac
done
# The fixture of every family sieve runs: one file per family in models/families/, named after
# its model_type, which is also the fixture's folder.
for family in "$root"/models/families/*.cpp; do
  cp -r "$fixtures/models/$(basename "$family" .cpp)" "$pack/fixtures/models/"
done
bytes=$(du -sb "$pack" | cut -f1)
echo "gpu-pack: $((bytes >> 20)) MiB (at most 64 MiB travels to the GPU machine)"
if [ "$bytes" -gt $((64 << 20)) ]; then
  echo "gpu-pack is over 64 MiB: it would not travel to the GPU machine (strip more, or leave a binary out)"
  exit 1
fi
