// Internals of the dense matmul shared by gemm.cpp, the per-ISA translation units and the
// tests: the packed layout and the per-ISA panel kernels.
//
// Packed layout: the n output rows of w are cut into panels of kPanelWidth rows (the last one
// zero-padded). Panels follow one another, each panel_elems(k) elements long.
//  - fp32: panel p is stored k-major: element (p * kPanelWidth + c, kk) sits at
//    panel_base + kk * kPanelWidth + c, so one vector load at a given kk yields consecutive
//    output columns.
//  - bf16: k is padded to an even kp2 = 2 * ceil(k / 2) with zeros and stored in k-pairs, the
//    layout vdpbf16ps reads: element (p * kPanelWidth + c, kk) sits at
//    panel_base + (kk / 2) * 2 * kPanelWidth + 2 * c + kk % 2.
//
// fp32: every path computes y[i, j] as acc = 0; acc = fma(x[i, kk], w[j, kk], acc) for
// kk = 0..k-1 in order, one lane per output column, then y = acc or y = y + acc. That single
// ordered chain is what makes results independent of m, of the thread split and of the ISA
// (all paths give the same bits).
//
// bf16: the activation row is rounded to bf16 once (round to nearest even, the same code for
// every path), then for each pair q = 0..kp2/2-1 in order:
//   acc += x[2q+1] * w[2q+1];  acc += x[2q] * w[2q]
// (each product is exact in fp32), which is what vdpbf16ps does per lane. The AVX-512 path
// uses vdpbf16ps (which also flushes denormals); the others emulate it, so all paths agree up
// to denormal flushing, and within a path a result never depends on m or the thread split.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"

namespace sieve::kernels::internal {

inline constexpr int64_t kPanelWidth = 32;

static inline int64_t num_panels(int64_t n) {
  return (n + kPanelWidth - 1) / kPanelWidth;
}
static inline int64_t padded_k(int64_t k, bool bf16) {
  return bf16 ? (k + 1) / 2 * 2 : k;
}
// Elements (fp32 or bf16) in one panel. (static: the ISA units must not share copies.)
static inline int64_t panel_elems(int64_t k, bool bf16) {
  return padded_k(k, bf16) * kPanelWidth;
}

enum class Isa : uint8_t { kScalar, kAvx2, kAvx512 };

// One product with raw pointers only, so the ISA translation units (compiled with wider
// -m flags) need no inline library code that the linker could merge with baseline copies.
struct PanelTask {
  const float* x = nullptr;      // [m, k], row stride ldx (fp32 weights)
  const uint16_t* xb = nullptr;  // [m, kp2] bf16-rounded x, row stride ldxb (bf16, FP8 weights)
  const void* w = nullptr;       // packed panels, fp32 or bf16 (uint16_t)
  float* y = nullptr;            // [m, n], row stride ldy
  int64_t m = 0, n = 0, k = 0, ldx = 0, ldxb = 0, ldy = 0;
  bool bf16 = false;
  bool accumulate = false;
};

// Computes the output columns of panels [panel_begin, panel_end) for all m rows of the task.
void gemm_panels_scalar(const PanelTask& t, int64_t panel_begin, int64_t panel_end);
void gemm_panels_avx2(const PanelTask& t, int64_t panel_begin, int64_t panel_end);
void gemm_panels_avx512(const PanelTask& t, int64_t panel_begin, int64_t panel_end);

// Rounds rows [0, m) of x [m, k] to bf16 (nearest even) into xb [m, kp2], zero-padding column
// k when k is odd. Every ISA gives the same bits.
void round_rows_bf16_scalar(const float* x, int64_t m, int64_t k, int64_t ldx, uint16_t* xb,
                            int64_t ldxb);
void round_rows_bf16_avx512(const float* x, int64_t m, int64_t k, int64_t ldx, uint16_t* xb,
                            int64_t ldxb);

bool isa_supported(Isa isa);
const char* isa_name(Isa isa);
// The ISA chosen for this process (best supported, narrowed by SIEVE_CPU_ISA).
Isa active_isa();
// `best` narrowed by a SIEVE_CPU_ISA value ("avx2", "scalar"; null or anything else: best).
Isa narrow_isa(Isa best, const char* request);

// matmul_many with an explicit ISA (which must be supported); tests compare paths with it.
void matmul_many_with_isa(std::span<const MatmulArgs> products, ThreadPool* pool, Isa isa);

}  // namespace sieve::kernels::internal
