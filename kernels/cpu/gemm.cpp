// Packing, ISA dispatch and the work split of the dense matmul. The panel kernels live in the
// per-ISA translation units (gemm_scalar.cpp, gemm_avx2.cpp, gemm_avx512.cpp).
#include "kernels/cpu/gemm.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/numeric.h"
#include "kernels/cpu/quant/quant_internal.h"
#include "kernels/cpu/weight_arena.h"

namespace sieve::kernels {
namespace internal {
namespace {

bool cpu_has_avx512() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__)
  return cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

bool cpu_has_avx2() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

Isa detect_isa() {
  const Isa best = cpu_has_avx512() ? Isa::kAvx512 : cpu_has_avx2() ? Isa::kAvx2 : Isa::kScalar;
  return narrow_isa(best, std::getenv("SIEVE_CPU_ISA"));
}

float read_elem(const void* src, ElemType t, int64_t i) {
  switch (t) {
    case ElemType::kF32:
      return static_cast<const float*>(src)[i];
    case ElemType::kBF16:
      return bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
    case ElemType::kF16:
      return f16_to_f32(static_cast<const uint16_t*>(src)[i]);
    default:
      break;  // quantized types are never a plain source
  }
  return 0.f;
}

// One unit of work: panels [p0, p1) × rows [r0, r1) of one product.
struct Item {
  int32_t product;
  int64_t p0, p1, r0, r1;
};

// Panels are handed out in groups of 4 so the kernels' 2- and 4-panel tiles stay whole.
constexpr int64_t kPanelGroup = 4;
// Rows are split only in chunks this large (a multiple of every kernel's row block).
constexpr int64_t kRowChunk = 48;

std::vector<Item> split_work(std::span<const MatmulArgs> products, int threads) {
  auto cost = [](const MatmulArgs& a) {
    // Streaming the weights costs about as much as a few rows of arithmetic.
    return static_cast<double>(a.w->n) * static_cast<double>(a.w->k) * static_cast<double>(a.m + 8);
  };
  double total = 0;
  for (const auto& a : products)
    total += a.m > 0 ? cost(a) : 0;
  // About 8 items per thread, each at least two panel groups (long enough weight streams for
  // the prefetchers to pay off); the dynamic hand-out balances the rest.
  const double target = total / (threads * 8.0);
  std::vector<Item> items;
  for (size_t i = 0; i < products.size(); ++i) {
    const MatmulArgs& a = products[i];
    if (a.m <= 0 || a.w->n <= 0) continue;
    const int64_t panels = num_panels(a.w->n);
    const int64_t groups = (panels + kPanelGroup - 1) / kPanelGroup;
    const int64_t want =
        threads > 1 ? std::max<int64_t>(1, static_cast<int64_t>(cost(a) / target + 0.5)) : 1;
    const int64_t panel_items = std::min(want, std::max<int64_t>(1, groups / 2));
    int64_t row_items = 1;
    if (want > panel_items)
      row_items = std::max<int64_t>(1, std::min(want / panel_items, a.m / kRowChunk));
    for (int64_t pi = 0; pi < panel_items; ++pi) {
      const int64_t p0 = std::min(panels, groups * pi / panel_items * kPanelGroup);
      const int64_t p1 = std::min(panels, groups * (pi + 1) / panel_items * kPanelGroup);
      if (p0 >= p1) continue;
      for (int64_t ri = 0; ri < row_items; ++ri) {
        const int64_t r0 = ri == 0 ? 0 : a.m * ri / row_items / 6 * 6;
        const int64_t r1 = ri + 1 == row_items ? a.m : a.m * (ri + 1) / row_items / 6 * 6;
        if (r0 < r1) items.push_back({static_cast<int32_t>(i), p0, p1, r0, r1});
      }
    }
  }
  return items;
}

using PanelFn = void (*)(const PanelTask&, int64_t, int64_t);

}  // namespace

Isa narrow_isa(Isa best, const char* request) {
  if (request == nullptr) return best;
  const std::string_view want(request);
  if (want == "scalar") return Isa::kScalar;
  if (want == "avx2" && best == Isa::kAvx512) return Isa::kAvx2;
  return best;
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return cpu_has_avx2();
    case Isa::kAvx512:
      return cpu_has_avx512();
  }
  return false;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

Isa active_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

void matmul_many_with_isa(std::span<const MatmulArgs> products, ThreadPool* pool, Isa isa) {
  // bf16 activations, rounded once per row for every bf16 or FP8 product.
  thread_local std::vector<uint16_t> scratch;
  std::vector<PanelTask> tasks(products.size());
  size_t xb_total = 0;
  for (size_t i = 0; i < products.size(); ++i) {
    const MatmulArgs& a = products[i];
    PanelTask& t = tasks[i];
    t.x = a.x;
    t.w = a.w->storage.get();
    t.y = a.y;
    t.m = a.m;
    t.n = a.w->n;
    t.k = a.w->k;
    t.ldx = a.ldx ? a.ldx : t.k;
    t.ldy = a.ldy ? a.ldy : t.n;
    t.bf16 = a.w->type == ElemType::kBF16;
    t.accumulate = a.accumulate;
    if (t.bf16 || a.w->type == ElemType::kFP8) {
      t.ldxb = padded_k(t.k, true);
      xb_total += static_cast<size_t>(std::max<int64_t>(a.m, 0) * t.ldxb);
    }
  }
  if (scratch.size() < xb_total) scratch.resize(xb_total);
  // Quantized weights: their own tasks (kernels in quant/), integer formats with activation
  // rows quantized once per product.
  thread_local std::vector<uint64_t> quant_scratch;
  std::vector<QuantTask> qtasks(products.size());
  size_t q_total = 0;
  for (const MatmulArgs& a : products)
    if (is_quantized(a.w->type)) q_total += (quant_scratch_bytes(a) + 63) / 64 * 64;
  if (quant_scratch.size() * 8 < q_total + 64) quant_scratch.resize((q_total + 64) / 8 + 1);
  char* q_next =
      reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(quant_scratch.data()) + 63) / 64 * 64);
  for (size_t i = 0; i < products.size(); ++i) {
    const MatmulArgs& a = products[i];
    if (!is_quantized(a.w->type)) continue;
    qtasks[i] = make_quant_task(a, q_next);
    q_next += (quant_scratch_bytes(a) + 63) / 64 * 64;
  }
  size_t off = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    PanelTask& t = tasks[i];
    if (t.ldxb == 0 || t.m <= 0) continue;
    t.xb = scratch.data() + off;
    off += static_cast<size_t>(t.m * t.ldxb);
    if (!t.bf16) {  // FP8: the quantized task reads the same rows
      qtasks[i].xb = t.xb;
      qtasks[i].ldxb = t.ldxb;
    }
  }
  const auto round = isa == Isa::kAvx512 ? round_rows_bf16_avx512 : round_rows_bf16_scalar;
  const int threads = pool ? pool->size() : 1;
  if (xb_total > 0) {
    for (auto& t : tasks) {
      if (!t.xb) continue;
      if (threads > 1 && t.m * t.k >= (1 << 16)) {
        pool->parallel_for(t.m, 8, [&](int64_t r0, int64_t r1) {
          round(t.x + r0 * t.ldx, r1 - r0, t.k, t.ldx, const_cast<uint16_t*>(t.xb) + r0 * t.ldxb,
                t.ldxb);
        });
      } else {
        round(t.x, t.m, t.k, t.ldx, const_cast<uint16_t*>(t.xb), t.ldxb);
      }
    }
  }

  for (size_t i = 0; i < products.size(); ++i) {
    const QuantTask& q = qtasks[i];
    if (!is_quantized(products[i].w->type) || q.m <= 0 || q.type == ElemType::kFP8) continue;
    if (threads > 1 && q.m * q.k >= (1 << 16)) {
      pool->parallel_for(
          q.m, 8, [&](int64_t r0, int64_t r1) { quantize_activations(q, q.x, q.ldx, r0, r1); });
    } else {
      quantize_activations(q, q.x, q.ldx, 0, q.m);
    }
  }
  const QuantPanelFn quant_fn = quant_panels_for(isa);

  PanelFn f32_fn = gemm_panels_scalar, bf16_fn = gemm_panels_scalar;
  if (isa == Isa::kAvx2) f32_fn = bf16_fn = gemm_panels_avx2;
  if (isa == Isa::kAvx512) {
    f32_fn = gemm_panels_avx512;
    bf16_fn = cpu_has_avx512_bf16() ? gemm_panels_avx512 : gemm_panels_avx2;
  }

  const std::vector<Item> items = split_work(products, threads);
  auto run_item = [&](const Item& it) {
    if (is_quantized(products[it.product].w->type)) {
      quant_fn(quant_task_rows(qtasks[it.product], it.r0, it.r1), it.p0, it.p1);
      return;
    }
    PanelTask t = tasks[it.product];
    t.x = t.x ? t.x + it.r0 * t.ldx : nullptr;
    t.xb = t.xb ? t.xb + it.r0 * t.ldxb : nullptr;
    t.y += it.r0 * t.ldy;
    t.m = it.r1 - it.r0;
    (t.bf16 ? bf16_fn : f32_fn)(t, it.p0, it.p1);
  };
  if (threads <= 1 || items.size() <= 1) {
    for (const Item& it : items)
      run_item(it);
    return;
  }
  std::atomic<size_t> next{0};
  pool->run_on_all([&](int, int) {
    for (size_t i = next.fetch_add(1, std::memory_order_relaxed); i < items.size();
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      run_item(items[i]);
    }
  });
}

}  // namespace internal

PackedMatrix pack_matrix(const void* src, ElemType src_type, int64_t n, int64_t k,
                         ElemType dst_type) {
  using namespace internal;
  const bool bf16 = dst_type == ElemType::kBF16;
  PackedMatrix w;
  w.type = bf16 ? ElemType::kBF16 : ElemType::kF32;
  w.n = n;
  w.k = k;
  const int64_t pe = panel_elems(k, bf16);
  w.bytes = static_cast<size_t>(num_panels(n) * pe) * (bf16 ? 2 : 4);
  w.storage = arena_alloc(w.bytes);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t p = j / kPanelWidth, c = j % kPanelWidth;
    if (bf16) {
      uint16_t* base = static_cast<uint16_t*>(w.storage.get()) + p * pe;
      for (int64_t kk = 0; kk < k; ++kk) {
        const uint16_t v = src_type == ElemType::kBF16
                               ? static_cast<const uint16_t*>(src)[j * k + kk]
                               : f32_to_bf16(read_elem(src, src_type, j * k + kk));
        base[(kk / 2) * 2 * kPanelWidth + 2 * c + kk % 2] = v;
      }
    } else {
      float* base = static_cast<float*>(w.storage.get()) + p * pe;
      for (int64_t kk = 0; kk < k; ++kk)
        base[kk * kPanelWidth + c] = read_elem(src, src_type, j * k + kk);
    }
  }
  return w;
}

float packed_at(const PackedMatrix& w, int64_t row, int64_t col) {
  using namespace internal;
  if (is_quantized(w.type)) return quant_packed_at(w, row, col);
  const bool bf16 = w.type == ElemType::kBF16;
  const int64_t pe = panel_elems(w.k, bf16);
  const int64_t p = row / kPanelWidth, c = row % kPanelWidth;
  if (bf16) {
    const uint16_t* base = static_cast<const uint16_t*>(w.storage.get()) + p * pe;
    return bf16_to_f32(base[(col / 2) * 2 * kPanelWidth + 2 * c + col % 2]);
  }
  return static_cast<const float*>(w.storage.get())[p * pe + col * kPanelWidth + c];
}

void matmul(const MatmulArgs& args, ThreadPool* pool) {
  internal::matmul_many_with_isa(std::span<const MatmulArgs>(&args, 1), pool,
                                 internal::active_isa());
}

void matmul_many(std::span<const MatmulArgs> products, ThreadPool* pool) {
  internal::matmul_many_with_isa(products, pool, internal::active_isa());
}

const char* elem_type_name(ElemType t) {
  switch (t) {
    case ElemType::kF32:
      return "f32";
    case ElemType::kBF16:
      return "bf16";
    case ElemType::kF16:
      return "f16";
    case ElemType::kI8:
      return "int8";
    case ElemType::kI4:
      return "int4";
    case ElemType::kFP8:
      return "fp8";
    case ElemType::kMXFP4:
      return "mxfp4";
  }
  return "?";
}

const char* cpu_isa_name() {
  return internal::isa_name(internal::active_isa());
}

}  // namespace sieve::kernels
