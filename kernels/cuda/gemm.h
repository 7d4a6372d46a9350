// Dense GEMMs through cuBLASLt: y[m, n] = x[m, k] · w[n, k]ᵀ with w as torch stores a linear
// layer's weight. fp32 inputs use CUBLAS_COMPUTE_32F (TF32 off: parity with the CPU engine);
// bf16 inputs accumulate in fp32. The output is always fp32.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "kernels/cuda/elem_type.h"

namespace sieve::cuda {

struct GemmParams {
  const void* x = nullptr;  // [m, k] of `type` (activations already rounded for bf16)
  const void* w = nullptr;  // [n, k] of `type`
  float* y = nullptr;       // [m, n]
  int64_t m = 0, n = 0, k = 0;
  WeightType type = WeightType::kF32;
};

// One cuBLASLt handle, its workspace and the algorithm chosen per shape (the heuristic's first
// pick, cached), so steady-state calls do no allocation and can be captured in a CUDA graph.
class LtGemm {
 public:
  LtGemm();
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  void run(const GemmParams& p, cudaStream_t stream);

 private:
  struct Plan;
  Plan& plan_for(const GemmParams& p);

  void* handle_ = nullptr;  // cublasLtHandle_t
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<std::tuple<int64_t, int64_t, int64_t, int>, std::unique_ptr<Plan>> plans_;
};

}  // namespace sieve::cuda
