// Internals of the quantized matmul: the unpacked ("row") form the packers share, the product
// task the per-ISA kernels take, and the activation quantization of the integer formats.
//
// Arithmetic, and why every ISA path gives the same bits:
//  - Integer formats. Each activation row is quantized once per product, in blocks of 32
//    (Q8_0): d = amax / 127, q = round_to_nearest_even(x · (127 / amax)) in [-127, 127] (one
//    scalar routine for every ISA). For output (i, j) and block b the kernels form the exact
//    integer dot D_b = Σ q · w (w the signed weight: int8, int4, or twice the E2M1 value) and
//    then, for b in order: acc = fma(float(D_b), d_b · s_jb, acc), with s_jb the weight scale
//    (kMXFP4: 2^(e-127), and d_b is halved, exactly, for the doubled values); y = acc (or
//    y + acc). |D_b| ≤ 32 · 127 · 127 < 2^24, so float(D_b) is exact, and the chain of fp32
//    operations per element is fixed: the result depends on neither m, nor the thread split,
//    nor the ISA. (AVX-512 VNNI multiplies the unsigned bytes w + offset by the signed q and
//    starts from -offset · Σq; AVX2 uses maddubs, for int8 on |q| and sign-moved weights so no
//    pair saturates; both give D_b exactly.)
//  - kFP8. Each activation row is rounded to bf16 once per product (round_rows_bf16_*, as for
//    bf16 weights). w16 = the E4M3 value / 2^8, exact in bf16 and in fp32. Per block of
//    columns [k0, k1): bacc = 0; for the pairs kk = k0, k0 + 2, ... in order:
//      bacc = bacc + x[kk+1] · w16[kk+1];  bacc = bacc + x[kk] · w16[kk]
//    (each product exact in fp32; a block of odd length ends with the pair (x[k1-1], 0) against
//    (w16[k1-1], 0), whose zero term leaves bacc as it is), which is what vdpbf16ps does per
//    lane; then acc = fma(bacc, s_jb · 2^8, acc). The AVX-512 path uses vdpbf16ps (which
//    flushes denormals, never met by the weights, all normal in bf16); the others emulate it,
//    one lane per output column, so all paths agree up to denormal flushing of activations or
//    sums, and within a path a result never depends on m or the thread split.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/quant/quant_layout.h"

namespace sieve::kernels::internal {

// A quantized matrix unpacked into rows: what the packers build and read back (stack_rows).
struct QuantRows {
  ElemType type = ElemType::kI8;
  int64_t n = 0, k = 0;
  int64_t group = 0;             // k per scale: kI8 k, kI4 / kMXFP4 32, kFP8 the block size
  std::vector<uint8_t> codes;    // [n, k]: kI8 / kI4 the signed value as a byte; kFP8 the E4M3
                                 // byte; kMXFP4 the E2M1 code
  std::vector<uint32_t> scales;  // [n, blocks]: kI8 / kFP8 fp32 bits, kI4 fp16 bits, kMXFP4 the
                                 // E8M0 byte
  int64_t blocks() const { return group > 0 ? (k + group - 1) / group : 0; }
};

PackedMatrix pack_quant_rows(const QuantRows& r);
QuantRows unpack_quant_rows(const PackedMatrix& w);
float quant_packed_at(const PackedMatrix& w, int64_t row, int64_t col);

// One quantized product, raw pointers only (see PanelTask).
struct QuantTask {
  ElemType type = ElemType::kI8;
  const uint8_t* w = nullptr;  // packed panels
  QuantLayout layout;
  int64_t group = 0;  // kFP8: k per block
  // Integer formats: the quantized activations (from quantize_activations).
  const int8_t* xq = nullptr;   // [m, blocks * 32], row stride ldq
  const float* xs = nullptr;    // [m, blocks] d_b (halved for kMXFP4), row stride lds
  const int32_t* xc = nullptr;  // [m, blocks] -offset · Σ q over the block, row stride lds
  int64_t ldq = 0, lds = 0;
  // kFP8: the activations rounded to bf16 (filled by the caller, see round_rows_bf16_*).
  const float* x = nullptr;      // [m, k] fp32, row stride ldx: the source of xb
  const uint16_t* xb = nullptr;  // [m, kp2] bf16, row stride ldxb
  int64_t ldx = 0, ldxb = 0;
  float* y = nullptr;  // [m, n], row stride ldy
  int64_t m = 0, n = 0, k = 0, ldy = 0;
  bool accumulate = false;
};

// The unsigned offset the VNNI kernels add to each weight byte (see the layout).
static inline int32_t quant_weight_offset(ElemType t) {
  return t == ElemType::kI8 ? 128 : t == ElemType::kI4 ? 8 : 12;
}

// Bytes of scratch a product's quantized activations need (0 for kFP8, whose bf16 rows the
// matmul rounds beside those of the bf16 products).
size_t quant_scratch_bytes(const MatmulArgs& a);
// The task of a product; integer formats place their activation buffers in `scratch` (64-byte
// aligned, quant_scratch_bytes(a) long), to be filled by quantize_activations.
QuantTask make_quant_task(const MatmulArgs& a, void* scratch);
// Quantizes activation rows [r0, r1) of the task (integer formats; nothing for kFP8).
void quantize_activations(const QuantTask& t, const float* x, int64_t ldx, int64_t r0, int64_t r1);
// The task restricted to rows [r0, r1).
QuantTask quant_task_rows(const QuantTask& t, int64_t r0, int64_t r1);

// Computes the output columns of panels [panel_begin, panel_end) for all m rows of the task.
void quant_panels_scalar(const QuantTask& t, int64_t panel_begin, int64_t panel_end);
void quant_panels_avx2(const QuantTask& t, int64_t panel_begin, int64_t panel_end);
void quant_panels_avx512(const QuantTask& t, int64_t panel_begin, int64_t panel_end);

using QuantPanelFn = void (*)(const QuantTask&, int64_t, int64_t);
// The kernel for `isa` (AVX-512 needs VNNI, AVX2 needs F16C; otherwise the next narrower one).
QuantPanelFn quant_panels_for(Isa isa);
// Whether the AVX-512 kernel may take kFP8 products (it needs AVX512-BF16 and VBMI; without
// them it hands them to the AVX2 kernel, which computes the same bits).
bool quant_fp8_avx512_supported();

}  // namespace sieve::kernels::internal
