// Dense matrix products y = x · wᵀ with fp32 activations and fp32 or bf16 weights.
//
// Weights are packed once at load time into a layout chosen by the kernel (PackedMatrix);
// activations stay fp32 and every product accumulates in fp32.
//
// Determinism contract (batch invariance rests on it): each output element y[i, j] is
// computed with the same sequence of floating-point operations whatever m is, whatever the
// other rows of x hold, however many threads run, and whichever ISA path among those with the
// same vector width runs. A row computed alone equals the same row computed in a batch, bit
// for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "kernels/cpu/thread_pool.h"

namespace sieve::kernels {

enum class ElemType : uint8_t { kF32, kBF16, kF16 };

// A [n, k] weight matrix (out_features × in_features, as torch's nn.Linear stores it), packed.
struct PackedMatrix {
  ElemType type = ElemType::kF32;  // element type of the stored weights: kF32 or kBF16
  int64_t n = 0;                   // rows (output features)
  int64_t k = 0;                   // columns (input features)
  size_t bytes = 0;                // size of the packed buffer
  std::shared_ptr<void> storage;   // owns the packed buffer (64-byte aligned, huge-page advised)
};

// Packs src [n, k] (row-major, element type src_type) into `dst_type` (kF32 or kBF16).
// F32 → BF16 rounds to nearest even; F16 sources are widened first.
PackedMatrix pack_matrix(const void* src, ElemType src_type, int64_t n, int64_t k,
                         ElemType dst_type);

// Reads element (row, col) back from a packed matrix as fp32 (tests, debugging).
float packed_at(const PackedMatrix& w, int64_t row, int64_t col);

struct MatmulArgs {
  const float* x = nullptr;  // [m, k], rows `ldx` floats apart (0 → k)
  const PackedMatrix* w = nullptr;
  float* y = nullptr;  // [m, n], rows `ldy` floats apart (0 → n)
  int64_t m = 0;
  int64_t ldx = 0;
  int64_t ldy = 0;
  bool accumulate = false;  // y += x · wᵀ instead of y = x · wᵀ (the sum of the product is
                            // computed first, then added, so the contract above still holds)
};

// One product, spread over the pool.
void matmul(const MatmulArgs& args, ThreadPool* pool);

// Several independent products in one parallel region (the MoE experts of a step): the work
// of all of them is divided over the pool together, so small products do not each pay a
// fork/join.
void matmul_many(std::span<const MatmulArgs> products, ThreadPool* pool);

// Which SIMD path this process uses ("avx512", "avx2", "scalar"); SIEVE_CPU_ISA=avx2|scalar
// in the environment forces a narrower one (tests use it to compare paths).
const char* cpu_isa_name();

}  // namespace sieve::kernels
