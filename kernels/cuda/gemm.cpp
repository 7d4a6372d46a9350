#include "kernels/cuda/gemm.h"

#include <cublasLt.h>

#include <cstdio>
#include <cstdlib>

#include "kernels/cuda/cuda_check.h"

#define SIEVE_CUBLAS_CHECK(expr)                                                               \
  do {                                                                                         \
    const cublasStatus_t sieve_st_ = (expr);                                                   \
    if (sieve_st_ != CUBLAS_STATUS_SUCCESS) {                                                  \
      ::sieve::cuda::cuda_fail(#expr, cublasLtGetStatusString(sieve_st_), __FILE__, __LINE__); \
    }                                                                                          \
  } while (0)

namespace sieve::cuda {

// Row-major y[m, n] = x[m, k] · w[n, k]ᵀ is, in cuBLAS's column-major terms,
// yᵀ[n, m] = op(W)[n, k] · xᵀ[k, m] with W the k×n column-major view of w (so op = T) and xᵀ
// the k×m column-major view of x.
struct LtGemm::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (desc) cublasLtMatmulDescDestroy(desc);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
  }
};

LtGemm::LtGemm() {
  cublasLtHandle_t h = nullptr;
  SIEVE_CUBLAS_CHECK(cublasLtCreate(&h));
  handle_ = h;
  workspace_bytes_ = size_t{32} << 20;  // what cuBLAS recommends for Hopper
  SIEVE_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

LtGemm::~LtGemm() {
  plans_.clear();
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

LtGemm::Plan& LtGemm::plan_for(const GemmParams& p) {
  const auto key = std::make_tuple(p.m, p.n, p.k, static_cast<int>(p.type));
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;

  auto plan = std::make_unique<Plan>();
  const bool bf16 = p.type == WeightType::kBF16;
  const cudaDataType_t in = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  SIEVE_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  SIEVE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                                    &trans_a, sizeof trans_a));
  SIEVE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                                    &trans_b, sizeof trans_b));
  SIEVE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, in, p.k, p.n, p.k));
  SIEVE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, in, p.k, p.m, p.k));
  SIEVE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->c, CUDA_R_32F, p.n, p.m, p.n));

  cublasLtMatmulPreference_t pref = nullptr;
  SIEVE_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  SIEVE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_, sizeof workspace_bytes_));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  SIEVE_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(handle_),
                                                    plan->desc, plan->a, plan->b, plan->c, plan->c,
                                                    pref, 1, &result, &found));
  cublasLtMatmulPreferenceDestroy(pref);
  SIEVE_CUDA_REQUIRE(found > 0, "cuBLASLt has no algorithm for this GEMM shape");
  plan->algo = result.algo;
  return *plans_.emplace(key, std::move(plan)).first->second;
}

void LtGemm::run(const GemmParams& p, cudaStream_t stream) {
  if (p.m == 0 || p.n == 0) return;
  SIEVE_CUDA_REQUIRE(p.x && p.w && p.y && p.k > 0, "gemm: missing operand or empty k");
  Plan& plan = plan_for(p);
  const float alpha = 1.0f, beta = 0.0f;
  SIEVE_CUBLAS_CHECK(cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), plan.desc, &alpha, p.w,
                                    plan.a, p.x, plan.b, &beta, p.y, plan.c, p.y, plan.c,
                                    &plan.algo, workspace_, workspace_bytes_, stream));
}

}  // namespace sieve::cuda
