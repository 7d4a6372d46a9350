// Dense matrix products y = x · wᵀ with fp32 activations and fp32, bf16 or quantized weights.
//
// Weights are packed once at load time into a layout chosen by the kernel (PackedMatrix);
// activations stay fp32 at the interface and every product accumulates in fp32 (or exactly, in
// int32, for integer dot products). Quantized weights stay quantized in memory: they are
// dequantized in registers as the product streams them, never into a full-size copy.
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

// Element types of packed weights. kF16 is a source type only (widened when packed).
// The quantized ones hold values in groups along k with one scale per (row, group):
//  - kI8: int8, symmetric, one scale per row (group = k);
//  - kI4: int4, symmetric, groups of 32 with a scale each;
//  - kFP8: FP8 E4M3 with a scale per block of k (the block size of the release's 2-D blocks
//    along k, or 128 when quantized here);
//  - kMXFP4: E2M1 in groups of 32 with an E8M0 (power of two) scale each, as OCP MX defines.
enum class ElemType : uint8_t { kF32, kBF16, kF16, kI8, kI4, kFP8, kMXFP4 };

// "f32", "bf16", "f16", "int8", "int4", "fp8", "mxfp4".
const char* elem_type_name(ElemType t);
inline bool is_quantized(ElemType t) {
  return t == ElemType::kI8 || t == ElemType::kI4 || t == ElemType::kFP8 || t == ElemType::kMXFP4;
}

// A [n, k] weight matrix (out_features × in_features, as torch's nn.Linear stores it), packed.
struct PackedMatrix {
  ElemType type = ElemType::kF32;  // element type of the stored weights
  int64_t n = 0;                   // rows (output features)
  int64_t k = 0;                   // columns (input features)
  int64_t group = 0;               // quantized types: k-elements per scale; 0 otherwise
  size_t bytes = 0;                // size of the packed buffer, scales included
  std::shared_ptr<void> storage;   // owns the packed buffer (64-byte aligned, huge-page advised)
};

// Packs src [n, k] (row-major, element type src_type) into `dst_type` (kF32 or kBF16).
// F32 → BF16 rounds to nearest even; F16 sources are widened first.
PackedMatrix pack_matrix(const void* src, ElemType src_type, int64_t n, int64_t k,
                         ElemType dst_type);

// Quantizes src [n, k] (kF32, kBF16 or kF16, row-major) into a quantized `dst_type` (kI8, kI4,
// kFP8 or kMXFP4), each with the scale rule a release of that format uses (absolute maximum
// of the group over the format's largest value; for MXFP4 the E8M0 exponent of OCP MX).
PackedMatrix quantize_matrix(const void* src, ElemType src_type, int64_t n, int64_t k,
                             ElemType dst_type);

// Packs FP8 E4M3 weights as checkpoints ship them: values [n, k] (one byte each) and
// scale_inv [ceil(n / block_n), ceil(k / block_k)] fp32, w[i][j] = value[i][j] ·
// scale_inv[i / block_n][j / block_k]; blocks at the edges may be partial.
PackedMatrix pack_fp8_blocks(const uint8_t* values, const float* scale_inv, int64_t n, int64_t k,
                             int64_t block_n, int64_t block_k);

// Packs MXFP4 weights as checkpoints ship them: blocks [n, k / 32, 16] (two E2M1 values per
// byte, the lower-indexed one in the low nibble) and scales [n, k / 32] (E8M0: 2^(s - 127)).
// k must be a multiple of 32.
PackedMatrix pack_mxfp4(const uint8_t* blocks, const uint8_t* scales, int64_t n, int64_t k);

// Stacks packed matrices of one type, k (and group) along n, in order (gate rows, then up).
PackedMatrix stack_rows(std::span<const PackedMatrix* const> parts);

// Reads element (row, col) back from a packed matrix as fp32, dequantized (tests, debugging).
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
