#include "kernels/cuda/bench/moe_table_cases.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace sieve::cuda::moe_table {

const ModelShape* find_shape(std::string_view key) {
  for (const ModelShape& s : kModelShapes) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

const char* routing_name(Routing r) {
  return r == Routing::kUniform ? "uniform" : "zipf";
}

bool parse_routing(std::string_view name, Routing* out) {
  if (name == "uniform") {
    *out = Routing::kUniform;
  } else if (name == "zipf") {
    *out = Routing::kZipf;
  } else {
    return false;
  }
  return true;
}

RoutingSet make_routing(const ModelShape& s, int64_t tokens, Routing r, uint64_t seed) {
  // One stream per (seed, shape, tokens, routing): a case does not depend on which others ran.
  std::seed_seq seq{seed, static_cast<uint64_t>(s.experts), static_cast<uint64_t>(s.hidden),
                    static_cast<uint64_t>(tokens), static_cast<uint64_t>(r)};
  std::mt19937_64 rng(seq);
  const int64_t e_count = s.experts, k = s.top_k;
  RoutingSet out;
  out.ids.resize(tokens * k);
  out.weights.resize(tokens * k);
  out.counts.assign(e_count, 0);

  // Zipf: rank r (1-based) has weight r^-1.2; the ranking is a random permutation of experts so
  // the hot experts are not always the low ids.
  std::vector<int32_t> by_rank(e_count);
  std::iota(by_rank.begin(), by_rank.end(), 0);
  std::shuffle(by_rank.begin(), by_rank.end(), rng);
  std::vector<double> rank_weight(e_count);
  for (int64_t i = 0; i < e_count; ++i)
    rank_weight[i] = std::pow(static_cast<double>(i + 1), -1.2);
  std::discrete_distribution<int64_t> zipf(rank_weight.begin(), rank_weight.end());

  std::vector<int32_t> cand(e_count);
  std::uniform_real_distribution<float> uw(0.1f, 1.0f);
  for (int64_t t = 0; t < tokens; ++t) {
    int32_t* ids = out.ids.data() + t * k;
    if (r == Routing::kUniform) {  // partial Fisher–Yates: k distinct experts
      std::iota(cand.begin(), cand.end(), 0);
      for (int64_t j = 0; j < k; ++j) {
        std::uniform_int_distribution<int64_t> d(j, e_count - 1);
        std::swap(cand[j], cand[d(rng)]);
        ids[j] = cand[j];
      }
    } else {  // draws without replacement: redraw a repeat (top_k is far below experts)
      for (int64_t j = 0; j < k;) {
        const int32_t e = by_rank[zipf(rng)];
        if (std::find(ids, ids + j, e) == ids + j) ids[j++] = e;
      }
    }
    // Router-like weights: positive, renormalised over the token's top_k.
    float sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      out.weights[t * k + j] = uw(rng);
      sum += out.weights[t * k + j];
    }
    for (int64_t j = 0; j < k; ++j)
      out.weights[t * k + j] /= sum;
  }
  for (int32_t e : out.ids)
    ++out.counts[e];
  out.experts_hit =
      std::count_if(out.counts.begin(), out.counts.end(), [](int32_t c) { return c > 0; });
  return out;
}

std::vector<int32_t> shift_experts(const std::vector<int32_t>& ids, int64_t shift,
                                   int64_t experts) {
  std::vector<int32_t> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    out[i] = static_cast<int32_t>((ids[i] + shift) % experts);
  return out;
}

std::vector<int32_t> shift_counts(const std::vector<int32_t>& counts, int64_t shift) {
  const int64_t n = static_cast<int64_t>(counts.size());
  std::vector<int32_t> out(n);
  for (int64_t e = 0; e < n; ++e)
    out[(e + shift) % n] = counts[e];
  return out;
}

std::vector<int32_t> sample_tokens(int64_t tokens, int64_t n) {
  const int64_t m = std::min(tokens, n);
  std::vector<int32_t> out(m);
  for (int64_t i = 0; i < m; ++i)
    out[i] = static_cast<int32_t>(m == 1 ? 0 : i * (tokens - 1) / (m - 1));
  return out;
}

}  // namespace sieve::cuda::moe_table
