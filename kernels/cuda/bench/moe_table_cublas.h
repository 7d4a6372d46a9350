// The cuBLAS baseline of sieve-moe-table: the two expert products through
// cublasGemmGroupedBatchedEx (bf16 in and out, fp32 compute: the only bf16 combination it
// offers), one group per non-empty expert with the host-known row counts, silu·mul between
// them. It starts from rows already grouped by expert and stops before the combine, so it does
// less than moe_experts (no align, permute or weighted combine). The group arrays live on the
// host, so it is timed eagerly, not in a CUDA graph.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "kernels/cuda/tests/device_buffer.h"

namespace sieve::cuda::moe_table {

// RAII cuBLAS handle.
class CublasHandle {
 public:
  CublasHandle();
  ~CublasHandle();
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

struct CublasMoeBuffers {
  const uint16_t* x_sorted = nullptr;   // [rows, hidden] bf16, rows grouped by expert id
  uint16_t* gate_up = nullptr;          // [rows, 2 * inter] bf16
  uint16_t* act = nullptr;              // [rows, inter] bf16
  uint16_t* y = nullptr;                // [rows, hidden] bf16
  const uint16_t* gate_up_w = nullptr;  // [experts, 2 * inter, hidden] bf16
  const uint16_t* down_w = nullptr;     // [experts, hidden, inter] bf16
  int64_t hidden = 0, inter = 0;
};

// One routing's two grouped products, set up once (pointer arrays on the device), run many times.
class CublasGroupedMoe {
 public:
  // counts: [experts] rows per expert, the rows of x_sorted in increasing expert order.
  CublasGroupedMoe(const CublasMoeBuffers& b, const std::vector<int32_t>& counts);
  void run(const CublasHandle& h, cudaStream_t stream) const;

 private:
  struct Product {
    std::vector<int> m, n, k;  // [groups]
    std::vector<float> alpha, beta;
    std::vector<int> group_size;
    std::vector<cublasOperation_t> trans_a, trans_b;
    test::DeviceBuffer<const void*> a, b;  // [groups] weights, activations
    test::DeviceBuffer<void*> c;           // [groups] outputs
  };
  static Product make(const std::vector<int32_t>& counts, const uint16_t* w, const uint16_t* x,
                      uint16_t* c, int64_t n_out, int64_t k);
  void run_product(const CublasHandle& h, const Product& p) const;

  CublasMoeBuffers b_;
  int64_t rows_ = 0;
  Product gate_up_, down_;
};

}  // namespace sieve::cuda::moe_table
