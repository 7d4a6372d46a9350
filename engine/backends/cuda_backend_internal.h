// What the CUDA backend's translation units share: its matrix type and small helpers.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "engine/backends/backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/elem_type.h"

namespace sieve::cuda_backend_detail {

inline cudaStream_t as_stream(void* s) {
  return static_cast<cudaStream_t>(s);
}

inline cuda::WeightType weight_type(DType dt) {
  switch (dt) {
    case DType::kF32:
      return cuda::WeightType::kF32;
    case DType::kBF16:
      return cuda::WeightType::kBF16;
    default:
      SIEVE_CHECK_MSG(false,
                      "the CUDA backend holds weights as fp32 or bf16, not " << dtype_name(dt));
  }
  return cuda::WeightType::kF32;
}

// Device memory owned by a shared_ptr (tensors and matrices share it like host buffers).
inline std::shared_ptr<void> device_buffer(size_t bytes) {
  void* p = nullptr;
  if (bytes > 0) SIEVE_CUDA_CHECK(cudaMalloc(&p, bytes));
  return std::shared_ptr<void>(p, [](void* q) {
    if (q) cudaFree(q);
  });
}

class CudaMatrix final : public Matrix {
 public:
  CudaMatrix(int64_t n, int64_t k, DType dtype)
      : Matrix(n, k, dtype),
        bytes_(static_cast<size_t>(n * k) * dtype_size(dtype)),
        data_(device_buffer(bytes_)) {}
  size_t bytes() const override { return bytes_; }
  void* data() const { return data_.get(); }

 private:
  size_t bytes_;
  std::shared_ptr<void> data_;
};

inline const CudaMatrix& cuda_matrix(const Matrix& m) {
  return static_cast<const CudaMatrix&>(m);
}

}  // namespace sieve::cuda_backend_detail
