// Element-wise, normalisation, position and routing kernels. Plain loops the compiler can
// vectorise; reductions use a fixed lane split so results never depend on the thread split.
#include "kernels/cpu/ops.h"

#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/ops_internal.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

namespace sieve::kernels {
namespace {

// Rows per parallel chunk so that a chunk holds about 16K elements.
int64_t row_grain(int64_t dim) {
  return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(dim, 1));
}

void for_rows(ThreadPool* pool, int64_t rows, int64_t dim,
              const std::function<void(int64_t, int64_t)>& fn) {
  if (pool == nullptr || pool->size() == 1 || rows * dim < (1 << 15)) {
    fn(0, rows);
  } else {
    pool->parallel_for(rows, row_grain(dim), fn);
  }
}

// Sum of squares in fp32 over 16 fixed lanes, combined pairwise.
float sum_squares(const float* x, int64_t n) {
  constexpr int kLanes = 16;
  float lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l)
      lane[l] += x[i + l] * x[i + l];
  for (int l = 0; i < n; ++i, ++l)
    lane[l] += x[i] * x[i];
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l)
      lane[l] += lane[l + w];
  return lane[0];
}

void rms_norm_row(const float* x, const float* w, float* y, int64_t dim, float eps) {
  const float var = sum_squares(x, dim) / static_cast<float>(dim);
  const float r = 1.0f / std::sqrt(var + eps);
  for (int64_t c = 0; c < dim; ++c)
    y[c] = w[c] * (x[c] * r);
}

}  // namespace

void rms_norm(const RmsNormArgs& a, ThreadPool* pool) {
  const int64_t ldx = a.ldx ? a.ldx : a.dim, ldy = a.ldy ? a.ldy : a.dim;
  for_rows(pool, a.rows, a.dim, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      rms_norm_row(a.x + r * ldx, a.w, a.y + r * ldy, a.dim, a.eps);
  });
}

// residual and x rows are norm_out.ldx floats apart (0 → dim).
void add_rms_norm(float* residual, const float* x, const RmsNormArgs& a, ThreadPool* pool) {
  const int64_t ldx = a.ldx ? a.ldx : a.dim, ldy = a.ldy ? a.ldy : a.dim;
  for_rows(pool, a.rows, a.dim, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* res = residual + r * ldx;
      const float* xr = x + r * ldx;
      for (int64_t c = 0; c < a.dim; ++c)
        res[c] += xr[c];
      rms_norm_row(res, a.w, a.y + r * ldy, a.dim, a.eps);
    }
  });
}

void silu_mul(const float* gu, int64_t rows, int64_t inter, int64_t ld_gu, float* out,
              int64_t ld_out, ThreadPool* pool) {
  const bool simd = internal::active_isa() == internal::Isa::kAvx512;
  for_rows(pool, rows, inter, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = gu + r * ld_gu;
      const float* u = g + inter;
      float* o = out + r * ld_out;
      if (simd) {
        internal::silu_mul_row_avx512(g, u, o, inter);
      } else {
        for (int64_t c = 0; c < inter; ++c)
          o[c] = g[c] / (1.0f + std::exp(-g[c])) * u[c];
      }
    }
  });
}

void clamped_swiglu(const float* gu, int64_t rows, int64_t inter, int64_t ld_gu, float* out,
                    int64_t ld_out, float limit, float alpha, ThreadPool* pool) {
  for_rows(pool, rows, inter, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = gu + r * ld_gu;
      const float* u = g + inter;
      float* o = out + r * ld_out;
      for (int64_t c = 0; c < inter; ++c) {
        const float gate = std::min(g[c], limit);
        const float up = std::clamp(u[c], -limit, limit);
        o[c] = gate / (1.0f + std::exp(-alpha * gate)) * (up + 1.0f);
      }
    }
  });
}

void add_bias(float* y, int64_t rows, int64_t n, int64_t ld_y, const float* bias,
              ThreadPool* pool) {
  for_rows(pool, rows, n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* row = y + r * ld_y;
      for (int64_t c = 0; c < n; ++c)
        row[c] += bias[c];
    }
  });
}

double exp_shifted(const float* x, int64_t n, float max, float scale, float* out) {
  if (internal::active_isa() == internal::Isa::kAvx512) {
    return internal::exp_shifted_avx512(x, n, max, scale, out);
  }
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = std::exp((x[i] - max) * scale);
    sum += out[i];
  }
  return sum;
}

void rope(const RopeArgs& a, ThreadPool* pool) {
  const int64_t half = a.rotary_dim / 2;
  for_rows(pool, a.tokens, a.heads * a.head_dim, [&](int64_t t0, int64_t t1) {
    std::vector<float> cs(static_cast<size_t>(2 * half));
    for (int64_t t = t0; t < t1; ++t) {
      const float pos = static_cast<float>(a.positions[t]);
      for (int64_t i = 0; i < half; ++i) {
        const float angle = pos * a.inv_freq[i];  // fp32, as transformers computes it
        // cos/sin of the fp32 angle, correctly rounded to fp32.
        cs[i] = static_cast<float>(std::cos(static_cast<double>(angle))) * a.attention_scaling;
        cs[half + i] =
            static_cast<float>(std::sin(static_cast<double>(angle))) * a.attention_scaling;
      }
      for (int64_t h = 0; h < a.heads; ++h) {
        float* x = a.x + t * a.ld_token + h * a.head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const int64_t i0 = a.neox ? i : 2 * i, i1 = a.neox ? i + half : 2 * i + 1;
          const float c = cs[i], s = cs[half + i];
          const float x0 = x[i0], x1 = x[i1];
          // q * cos + rotate_half(q) * sin, each product rounded as torch rounds it.
          const float p0 = x0 * c, p1 = x1 * c, s0 = -x1 * s, s1 = x0 * s;
          x[i0] = p0 + s0;
          x[i1] = p1 + s1;
        }
      }
    }
  });
}

void softmax_topk(const TopkArgs& a) {
  std::vector<float> p(static_cast<size_t>(a.experts));
  std::vector<int32_t> order(static_cast<size_t>(a.experts));
  for (int64_t t = 0; t < a.tokens; ++t) {
    const float* l = a.logits + t * a.experts;
    float mx = -INFINITY;
    for (int64_t e = 0; e < a.experts; ++e)
      mx = std::max(mx, l[e]);
    float sum = 0.f;
    for (int64_t e = 0; e < a.experts; ++e) {
      p[e] = std::exp(l[e] - mx);
      sum += p[e];
    }
    for (int64_t e = 0; e < a.experts; ++e)
      p[e] /= sum;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + a.k, order.end(),
                      [&](int32_t x, int32_t y) { return p[x] > p[y] || (p[x] == p[y] && x < y); });
    float top_sum = 0.f;
    for (int64_t j = 0; j < a.k; ++j)
      top_sum += p[order[j]];
    for (int64_t j = 0; j < a.k; ++j) {
      a.ids[t * a.k + j] = order[j];
      a.weights[t * a.k + j] = a.renormalize ? p[order[j]] / top_sum : p[order[j]];
    }
  }
}

}  // namespace sieve::kernels
