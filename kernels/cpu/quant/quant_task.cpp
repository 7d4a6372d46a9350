// A quantized product's task: its activation buffers, the Q8_0 quantization of the activation
// rows (one scalar routine for every ISA, so every path sees the same integers), and the choice
// of kernel.
#include <cmath>

#include "kernels/cpu/quant/quant_internal.h"

namespace sieve::kernels::internal {
namespace {

size_t align64(size_t v) {
  return (v + 63) / 64 * 64;
}

bool cpu_has_vnni() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

bool cpu_has_f16c() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

}  // namespace

size_t quant_scratch_bytes(const MatmulArgs& a) {
  if (a.w->type == ElemType::kFP8 || a.m <= 0) return 0;
  const QuantLayout l = quant_layout(a.w->type, a.w->k, a.w->group);
  const size_t m = static_cast<size_t>(a.m), nb = static_cast<size_t>(l.blocks);
  return align64(m * nb * kQBlock) + 2 * align64(m * nb * 4);
}

QuantTask make_quant_task(const MatmulArgs& a, void* scratch) {
  QuantTask t;
  t.type = a.w->type;
  t.w = static_cast<const uint8_t*>(a.w->storage.get());
  t.group = a.w->group;
  t.layout = quant_layout(t.type, a.w->k, t.group);
  t.m = a.m;
  t.n = a.w->n;
  t.k = a.w->k;
  t.ldx = a.ldx ? a.ldx : t.k;
  t.ldy = a.ldy ? a.ldy : t.n;
  t.x = a.x;
  t.y = a.y;
  t.accumulate = a.accumulate;
  if (t.type != ElemType::kFP8 && a.m > 0) {
    const size_t m = static_cast<size_t>(a.m), nb = static_cast<size_t>(t.layout.blocks);
    char* p = static_cast<char*>(scratch);
    t.ldq = t.layout.blocks * kQBlock;
    t.lds = t.layout.blocks;
    t.xq = reinterpret_cast<const int8_t*>(p);
    p += align64(m * nb * kQBlock);
    t.xs = reinterpret_cast<const float*>(p);
    p += align64(m * nb * 4);
    t.xc = reinterpret_cast<const int32_t*>(p);
  }
  return t;
}

void quantize_activations(const QuantTask& t, const float* x, int64_t ldx, int64_t r0, int64_t r1) {
  if (t.type == ElemType::kFP8) return;
  const int32_t offset = quant_weight_offset(t.type);
  // kMXFP4 weights enter the dot product doubled (integers); the activation scale halves them.
  const float half = t.type == ElemType::kMXFP4 ? 0.5f : 1.0f;
  for (int64_t i = r0; i < r1; ++i) {
    const float* xr = x + i * ldx;
    int8_t* q = const_cast<int8_t*>(t.xq) + i * t.ldq;
    float* xs = const_cast<float*>(t.xs) + i * t.lds;
    int32_t* xc = const_cast<int32_t*>(t.xc) + i * t.lds;
    for (int64_t b = 0; b < t.layout.blocks; ++b) {
      const int64_t k0 = b * kQBlock;
      const int64_t len = t.k - k0 < kQBlock ? t.k - k0 : kQBlock;
      float amax = 0;
      for (int64_t j = 0; j < len; ++j) {
        const float a = std::fabs(xr[k0 + j]);
        amax = a > amax || a != a ? a : amax;  // a NaN sticks
      }
      // A NaN or infinity makes d non-finite, so it reaches the outputs of this row.
      const float d = amax / 127.f;
      const float id = std::isfinite(amax) && amax > 0 ? 127.f / amax : 0.f;
      int32_t sum = 0;
      for (int64_t j = 0; j < kQBlock; ++j) {
        const bool live = j < len && id > 0;
        // Round to nearest even by the 1.5 · 2^23 trick (|x · id| ≤ 127.5): the same as
        // nearbyint in the default rounding mode, without a libm call per element on
        // baseline x86-64.
        const float r = live ? (xr[k0 + j] * id + 12582912.f) - 12582912.f : 0.f;
        const int32_t v = static_cast<int32_t>(r);
        q[k0 + j] = static_cast<int8_t>(v);
        sum += v;
      }
      xs[b] = d * half;
      xc[b] = -offset * sum;
    }
  }
}

QuantTask quant_task_rows(const QuantTask& t, int64_t r0, int64_t r1) {
  QuantTask s = t;
  s.m = r1 - r0;
  s.y = t.y + r0 * t.ldy;
  if (t.x) s.x = t.x + r0 * t.ldx;
  if (t.xb) s.xb = t.xb + r0 * t.ldxb;
  if (t.xq) {
    s.xq = t.xq + r0 * t.ldq;
    s.xs = t.xs + r0 * t.lds;
    s.xc = t.xc + r0 * t.lds;
  }
  return s;
}

bool quant_fp8_avx512_supported() {
#if defined(__x86_64__)
  static const bool ok =
      __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vbmi");
  return ok;
#else
  return false;
#endif
}

QuantPanelFn quant_panels_for(Isa isa) {
  if (isa == Isa::kAvx512 && isa_supported(Isa::kAvx512) && cpu_has_vnni()) {
    return quant_panels_avx512;
  }
  if (isa != Isa::kScalar && isa_supported(Isa::kAvx2) && cpu_has_f16c()) return quant_panels_avx2;
  return quant_panels_scalar;
}

}  // namespace sieve::kernels::internal
