// Internals of ops.cpp: per-ISA row kernels.
#pragma once

#include <cstdint>

namespace sieve::kernels::internal {

// out[c] = silu(g[c]) * u[c] for c < n (AVX-512; exp by a ~1 ulp polynomial).
void silu_mul_row_avx512(const float* g, const float* u, float* out, int64_t n);
double exp_shifted_avx512(const float* x, int64_t n, float max, float scale, float* out);

}  // namespace sieve::kernels::internal
