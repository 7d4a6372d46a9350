// Paged attention against a double reference; batch invariance, chunking invariance, GQA,
// sliding windows and attention sinks.
#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

namespace sieve::kernels {
namespace {

struct CacheSetup {
  int64_t num_heads = 4, num_kv_heads = 2, head_dim = 24, block_size = 8, num_blocks = 64,
          max_blocks = 16;
  std::vector<float> k_cache, v_cache;
  std::vector<std::vector<int32_t>> tables;  // per sequence

  CacheSetup(int64_t seqs, uint32_t seed, int64_t hd) : head_dim(hd) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    const size_t n = static_cast<size_t>(num_blocks * block_size * num_kv_heads * head_dim);
    k_cache.resize(n);
    v_cache.resize(n);
    for (auto& x : k_cache)
      x = d(rng);
    for (auto& x : v_cache)
      x = d(rng);
    std::vector<int32_t> perm(num_blocks);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int64_t s = 0; s < seqs; ++s)
      tables.emplace_back(perm.begin() + s * max_blocks, perm.begin() + (s + 1) * max_blocks);
  }
};

struct SeqQuery {
  int32_t seq;       // which table
  int32_t ctx;       // context length including new tokens
  int32_t qlen;      // new query tokens
  int32_t q_offset;  // row in the shared q array of the first query (by position)
};

// Runs attention for the given sequences; q rows are taken from `q_all` at
// [pos * num_heads * head_dim], so the same position always has the same query.
// Per-head sink logits, spread around the scores' own range so some heads' sinks dominate.
std::vector<float> sink_logits(int64_t heads) {
  std::vector<float> s;
  for (int64_t h = 0; h < heads; ++h)
    s.push_back(-2.0f + 1.5f * static_cast<float>(h));
  return s;
}

std::vector<float> run(const CacheSetup& st, const std::vector<float>& q_all,
                       const std::vector<SeqQuery>& seqs, int64_t window, ThreadPool* pool,
                       bool sinks) {
  const std::vector<float> sink = sink_logits(st.num_heads);
  const int64_t row = st.num_heads * st.head_dim;
  std::vector<int32_t> qs{0}, ctx, tables;
  std::vector<float> q;
  for (const auto& s : seqs) {
    qs.push_back(qs.back() + s.qlen);
    ctx.push_back(s.ctx);
    tables.insert(tables.end(), st.tables[s.seq].begin(), st.tables[s.seq].end());
    const int64_t first = s.ctx - s.qlen;
    for (int64_t p = first; p < s.ctx; ++p)
      q.insert(q.end(), q_all.begin() + (s.q_offset + p) * row,
               q_all.begin() + (s.q_offset + p + 1) * row);
  }
  std::vector<float> out(q.size(), -5.f);
  PagedAttentionArgs a;
  a.q = q.data();
  a.out = out.data();
  a.k_cache = st.k_cache.data();
  a.v_cache = st.v_cache.data();
  a.block_tables = tables.data();
  a.query_start = qs.data();
  a.context_lens = ctx.data();
  a.num_seqs = static_cast<int64_t>(seqs.size());
  a.max_blocks_per_seq = st.max_blocks;
  a.num_heads = st.num_heads;
  a.num_kv_heads = st.num_kv_heads;
  a.head_dim = st.head_dim;
  a.block_size = st.block_size;
  a.ld_q = row;
  a.ld_out = row;
  a.scale = 1.0f / std::sqrt(static_cast<float>(st.head_dim));
  a.sliding_window = window;
  a.sinks = sinks ? sink.data() : nullptr;
  paged_attention(a, pool);
  return out;
}

// softmax over [scores..., sink] with the sink's column dropped, as transformers' gpt-oss does.
std::vector<double> reference(const CacheSetup& st, const std::vector<float>& q_all,
                              const SeqQuery& s, int64_t window, bool sinks) {
  const std::vector<float> sink = sink_logits(st.num_heads);
  const int64_t row = st.num_heads * st.head_dim, hd = st.head_dim;
  const int64_t group = st.num_heads / st.num_kv_heads;
  std::vector<double> out;
  for (int64_t p = s.ctx - s.qlen; p < s.ctx; ++p) {
    for (int64_t h = 0; h < st.num_heads; ++h) {
      const float* q = q_all.data() + (s.q_offset + p) * row + h * hd;
      const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      std::vector<double> sc;
      for (int64_t j = lo; j <= p; ++j) {
        const int64_t slot =
            st.tables[s.seq][j / st.block_size] * st.block_size + j % st.block_size;
        const float* k = st.k_cache.data() + (slot * st.num_kv_heads + h / group) * hd;
        double d = 0;
        for (int64_t i = 0; i < hd; ++i)
          d += double(q[i]) * k[i];
        sc.push_back(d / std::sqrt(double(hd)));
      }
      double mx = *std::max_element(sc.begin(), sc.end());
      if (sinks) mx = std::max(mx, double(sink[h]));
      double sum = sinks ? std::exp(double(sink[h]) - mx) : 0.0;
      for (auto& x : sc)
        sum += (x = std::exp(x - mx));
      std::vector<double> o(hd, 0.0);
      for (int64_t j = lo; j <= p; ++j) {
        const int64_t slot =
            st.tables[s.seq][j / st.block_size] * st.block_size + j % st.block_size;
        const float* v = st.v_cache.data() + (slot * st.num_kv_heads + h / group) * hd;
        for (int64_t i = 0; i < hd; ++i)
          o[i] += sc[j - lo] / sum * v[i];
      }
      out.insert(out.end(), o.begin(), o.end());
    }
  }
  return out;
}

std::vector<float> random_q(int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-2.f, 2.f);
  std::vector<float> q(static_cast<size_t>(rows));
  for (auto& x : q)
    x = d(rng);
  return q;
}

// (sliding window, head_dim, sinks): head_dim 24 takes the portable path, 32 and 128 the SIMD
// one where present.
class AttentionTest : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, bool>> {};

TEST_P(AttentionTest, MatchesReference) {
  const auto [window, hd, sinks] = GetParam();
  CacheSetup st(3, 1, hd);
  ThreadPool pool(2);
  const auto q_all = random_q(3 * 128 * st.num_heads * st.head_dim, 2);
  const std::vector<SeqQuery> seqs = {{0, 70, 70, 0}, {1, 37, 1, 128}, {2, 100, 5, 256}};
  const auto out = run(st, q_all, seqs, window, &pool, sinks);
  size_t off = 0;
  for (const auto& s : seqs) {
    const auto ref = reference(st, q_all, s, window, sinks);
    for (size_t i = 0; i < ref.size(); ++i)
      ASSERT_NEAR(out[off + i], ref[i], 1e-5) << i;
    off += ref.size();
  }
  EXPECT_EQ(off, out.size());
}

TEST_P(AttentionTest, BatchInvariantAndChunkInvariant) {
  const auto [window, hd, sinks] = GetParam();
  CacheSetup st(3, 3, hd);
  ThreadPool p1(1), p3(3);
  const auto q_all = random_q(3 * 128 * st.num_heads * st.head_dim, 4);
  const int64_t row = st.num_heads * st.head_dim;
  const std::vector<SeqQuery> seqs = {{0, 90, 90, 0}, {1, 37, 1, 128}, {2, 100, 5, 256}};
  const auto batch = run(st, q_all, seqs, window, &p3, sinks);
  size_t off = 0;
  for (const auto& s : seqs) {
    const auto alone = run(st, q_all, {s}, window, &p1, sinks);
    ASSERT_EQ(0, std::memcmp(alone.data(), batch.data() + off, alone.size() * 4));
    off += alone.size();
  }
  // Seq 0 as chunks 0..33, 33..61, 61..90 gives the same rows as the whole prompt.
  std::vector<float> chunked;
  for (auto [ctx, qlen] : {std::pair{33, 33}, std::pair{61, 28}, std::pair{90, 29}}) {
    const auto part = run(st, q_all, {{0, ctx, qlen, 0}}, window, &p3, sinks);
    chunked.insert(chunked.end(), part.begin(), part.end());
  }
  ASSERT_EQ(chunked.size(), static_cast<size_t>(90 * row));
  EXPECT_EQ(0, std::memcmp(chunked.data(), batch.data(), chunked.size() * 4));
}

INSTANTIATE_TEST_SUITE_P(WindowsAndHeadDims, AttentionTest,
                         ::testing::Combine(::testing::Values(0, 1, 20),
                                            ::testing::Values(24, 32, 128), ::testing::Bool()));

TEST(Attention, KvWrite) {
  const int64_t tokens = 3, kvh = 2, hd = 5;
  std::vector<float> k(tokens * 12), v(tokens * 12), kc(8 * kvh * hd, 0.f), vc(kc.size(), 0.f);
  for (size_t i = 0; i < k.size(); ++i)
    k[i] = float(i), v[i] = -float(i);
  std::vector<int64_t> slots = {5, 0, 7};
  KvWriteArgs a;
  a.k = k.data();
  a.v = v.data();
  a.slots = slots.data();
  a.k_cache = kc.data();
  a.v_cache = vc.data();
  a.tokens = tokens;
  a.num_kv_heads = kvh;
  a.head_dim = hd;
  a.ld_k = 12;
  a.ld_v = 12;
  kv_write(a);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t i = 0; i < kvh * hd; ++i) {
      EXPECT_EQ(kc[slots[t] * kvh * hd + i], k[t * 12 + i]);
      EXPECT_EQ(vc[slots[t] * kvh * hd + i], v[t * 12 + i]);
    }
}

}  // namespace
}  // namespace sieve::kernels
