// Element-type conversion and weight fills on the device: activations rounded to bf16 before a
// bf16 GEMM (what the CPU's bf16 path does), and --load-format dummy weights made in place from
// kernels/random_fill.h's counter hash (the same values the host writes into checkpoints).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/elem_type.h"
#include "kernels/random_fill.h"

namespace sieve::cuda {

// y[i] = bf16(x[i]), round to nearest even (bits as uint16_t).
void f32_to_bf16(const float* x /* [n] */, uint16_t* y /* [n] */, int64_t n, cudaStream_t stream);

struct FillParams {
  void* out = nullptr;  // [n] of type
  WeightType type = WeightType::kF32;
  int64_t n = 0;
  kernels::FillSpec fill;  // element i of out gets fill.at(i)
};
void fill_weights(const FillParams& p, cudaStream_t stream);

}  // namespace sieve::cuda
