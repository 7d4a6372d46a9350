#include "kernels/cuda/bench/moe_table_cublas.h"

#include <cublas_v2.h>

#include <cstdio>
#include <cstdlib>

#include "kernels/cuda/bench/moe_table_kernels.h"
#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda::moe_table {
namespace {

void cublas_check(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s failed: %s\n", what, cublasGetStatusString(st));
    std::abort();
  }
}

}  // namespace

CublasHandle::CublasHandle() {
  cublas_check(cublasCreate(&handle_), "cublasCreate");
}

CublasHandle::~CublasHandle() {
  cublasDestroy(handle_);
}

// Row-major c[r, n_out] = x[r, k] · w_e[n_out, k]ᵀ is, column-major, cᵀ = w_e(ᵀ as stored) · xᵀ:
// A = w_e with op T (lda k), B = x rows with op N (ldb k), m = n_out, n = rows of the expert.
CublasGroupedMoe::Product CublasGroupedMoe::make(const std::vector<int32_t>& counts,
                                                 const uint16_t* w, const uint16_t* x, uint16_t* c,
                                                 int64_t n_out, int64_t k) {
  Product p;
  std::vector<const void*> a, b;
  std::vector<void*> cs;
  int64_t row = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] == 0) continue;  // empty experts are not problems at all
    p.m.push_back(static_cast<int>(n_out));
    p.n.push_back(counts[e]);
    p.k.push_back(static_cast<int>(k));
    p.alpha.push_back(1.0f);
    p.beta.push_back(0.0f);
    p.group_size.push_back(1);
    p.trans_a.push_back(CUBLAS_OP_T);
    p.trans_b.push_back(CUBLAS_OP_N);
    a.push_back(w + static_cast<int64_t>(e) * n_out * k);
    b.push_back(x + row * k);
    cs.push_back(c + row * n_out);
    row += counts[e];
  }
  p.a = test::DeviceBuffer<const void*>::from_host(a);
  p.b = test::DeviceBuffer<const void*>::from_host(b);
  p.c = test::DeviceBuffer<void*>::from_host(cs);
  return p;
}

CublasGroupedMoe::CublasGroupedMoe(const CublasMoeBuffers& b, const std::vector<int32_t>& counts)
    : b_(b) {
  for (int32_t c : counts)
    rows_ += c;
  gate_up_ = make(counts, b.gate_up_w, b.x_sorted, b.gate_up, 2 * b.inter, b.hidden);
  down_ = make(counts, b.down_w, b.act, b.y, b.hidden, b.inter);
}

void CublasGroupedMoe::run_product(const CublasHandle& h, const Product& p) const {
  const int groups = static_cast<int>(p.m.size());
  cublas_check(cublasGemmGroupedBatchedEx(
                   h.get(), p.trans_a.data(), p.trans_b.data(), p.m.data(), p.n.data(), p.k.data(),
                   p.alpha.data(), p.a.data(), CUDA_R_16BF, p.k.data(), p.b.data(), CUDA_R_16BF,
                   p.k.data(), p.beta.data(), p.c.data(), CUDA_R_16BF, p.m.data(), groups,
                   p.group_size.data(), CUBLAS_COMPUTE_32F),
               "cublasGemmGroupedBatchedEx");
}

void CublasGroupedMoe::run(const CublasHandle& h, cudaStream_t stream) const {
  cublas_check(cublasSetStream(h.get(), stream), "cublasSetStream");
  run_product(h, gate_up_);
  silu_mul_bf16(b_.gate_up, b_.act, rows_, b_.inter, stream);
  run_product(h, down_);
}

}  // namespace sieve::cuda::moe_table
