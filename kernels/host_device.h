// SIEVE_HOST_DEVICE marks small inline functions that host code and CUDA kernels both call
// (counter hashes, Philox), so the two compute the same values from one definition.
#pragma once

#if defined(__CUDACC__)
#define SIEVE_HOST_DEVICE __host__ __device__
#else
#define SIEVE_HOST_DEVICE
#endif
