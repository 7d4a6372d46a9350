// Element types the CUDA kernels read. Activations are always fp32; weights (and embedding
// tables) are fp32 or bf16. Kept apart from engine/base/dtype.h: kernels depend on nothing of ours.
#pragma once

namespace sieve::cuda {

enum class WeightType { kF32, kBF16 };

}  // namespace sieve::cuda
