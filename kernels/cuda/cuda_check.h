// Error checks for CUDA runtime and library calls. A CUDA error here is an invariant broken
// (a bad launch, an illegal address): it aborts with file, line and the runtime's message,
// as the CPU side's CHECK does. Errors a user can cause are checked before any launch.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>

namespace sieve::cuda {

[[noreturn]] inline void cuda_fail(const char* expr, const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: CUDA call failed: %s: %s\n", file, line, expr, what);
  std::abort();
}

}  // namespace sieve::cuda

#define SIEVE_CUDA_CHECK(expr)                                                                  \
  do {                                                                                          \
    const cudaError_t sieve_cuda_err_ = (expr);                                                 \
    if (sieve_cuda_err_ != cudaSuccess) {                                                       \
      ::sieve::cuda::cuda_fail(#expr, cudaGetErrorString(sieve_cuda_err_), __FILE__, __LINE__); \
    }                                                                                           \
  } while (0)

// After a kernel launch: catches bad launch configurations at once (not at the next sync).
#define SIEVE_CUDA_CHECK_LAUNCH() SIEVE_CUDA_CHECK(cudaGetLastError())

// Shape and argument checks in host entry points.
#define SIEVE_CUDA_REQUIRE(cond, msg)                                      \
  do {                                                                     \
    if (!(cond)) ::sieve::cuda::cuda_fail(#cond, msg, __FILE__, __LINE__); \
  } while (0)
