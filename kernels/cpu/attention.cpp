// Paged causal attention on fp32. Each query row walks its keys in blocks of kKeyBlock aligned
// to absolute positions, with an online softmax; the arithmetic of a row depends only on its
// own position, its q and the cache, so results do not depend on the batch or the chunking.
#include "kernels/cpu/attention.h"

#include "kernels/cpu/attention_internal.h"
#include "kernels/cpu/gemm_internal.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

namespace sieve::kernels {
namespace {

constexpr int64_t kKeyBlock = 32;
constexpr int64_t kQueryBlock = 16;

// q·k over 16 fixed lanes, combined pairwise.
float dot(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l)
      lane[l] += a[i + l] * b[i + l];
  for (int l = 0; i < n; ++i, ++l)
    lane[l] += a[i] * b[i];
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int l = 0; l < w; ++l)
      lane[l] += lane[l + w];
  return lane[0];
}

struct Query {
  const float* q;
  float* out;
  const int32_t* block_table;
  int64_t pos;
  int64_t kv_head;
  const float* sink;  // null, or this row's head's sink logit
};

void attend(const PagedAttentionArgs& a, const Query& qr, float* acc) {
  const int64_t hd = a.head_dim;
  const int64_t lo = a.sliding_window > 0 ? std::max<int64_t>(0, qr.pos - a.sliding_window + 1) : 0;
  const int64_t kv_stride = a.num_kv_heads * hd;
  float m = -INFINITY, l = 0.f;
  float s[kKeyBlock];
  std::fill(acc, acc + hd, 0.f);
  for (int64_t kb = lo / kKeyBlock * kKeyBlock; kb <= qr.pos; kb += kKeyBlock) {
    const int64_t j0 = std::max(kb, lo), j1 = std::min(kb + kKeyBlock, qr.pos + 1);
    float bm = -INFINITY;
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t slot =
          static_cast<int64_t>(qr.block_table[j / a.block_size]) * a.block_size + j % a.block_size;
      const float* k = a.k_cache + slot * kv_stride + qr.kv_head * hd;
      s[j - j0] = dot(qr.q, k, hd) * a.scale;
      bm = std::max(bm, s[j - j0]);
    }
    const float new_m = std::max(m, bm);
    const float corr = std::exp(m - new_m);
    l *= corr;
    for (int64_t d = 0; d < hd; ++d)
      acc[d] *= corr;
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t slot =
          static_cast<int64_t>(qr.block_table[j / a.block_size]) * a.block_size + j % a.block_size;
      const float* v = a.v_cache + slot * kv_stride + qr.kv_head * hd;
      const float p = std::exp(s[j - j0] - new_m);
      l += p;
      for (int64_t d = 0; d < hd; ++d)
        acc[d] += p * v[d];
    }
    m = new_m;
  }
  const float inv = qr.sink ? internal::sink_scale(m, l, *qr.sink) : 1.0f / l;
  for (int64_t d = 0; d < hd; ++d)
    qr.out[d] = acc[d] * inv;
}

struct Item {
  int32_t seq;
  int32_t kv_head;
  int32_t q0, q1;  // query rows (global) of this item
};

}  // namespace

void kv_write(const KvWriteArgs& a) {
  const size_t row = static_cast<size_t>(a.num_kv_heads * a.head_dim);
  for (int64_t t = 0; t < a.tokens; ++t) {
    if (a.slots[t] < 0) continue;  // padding token: no cache slot
    std::memcpy(a.k_cache + a.slots[t] * row, a.k + t * a.ld_k, row * sizeof(float));
    std::memcpy(a.v_cache + a.slots[t] * row, a.v + t * a.ld_v, row * sizeof(float));
  }
}

void paged_attention(const PagedAttentionArgs& a, ThreadPool* pool) {
  const int64_t group = a.num_heads / a.num_kv_heads;
  const bool simd = internal::active_isa() == internal::Isa::kAvx512 && a.head_dim % 16 == 0 &&
                    a.head_dim <= 1024;
  // One item: a block of queries of one sequence × the query heads of one kv head.
  std::vector<Item> items;
  for (int64_t s = 0; s < a.num_seqs; ++s) {
    for (int64_t kvh = 0; kvh < a.num_kv_heads; ++kvh) {
      for (int64_t q0 = a.query_start[s]; q0 < a.query_start[s + 1]; q0 += kQueryBlock) {
        const int64_t q1 = std::min<int64_t>(q0 + kQueryBlock, a.query_start[s + 1]);
        items.push_back({static_cast<int32_t>(s), static_cast<int32_t>(kvh),
                         static_cast<int32_t>(q0), static_cast<int32_t>(q1)});
      }
    }
  }
  std::atomic<size_t> next{0};
  auto work = [&](int, int) {
    const int64_t max_rows = kQueryBlock * group;
    std::vector<float> scratch(static_cast<size_t>(max_rows * (a.head_dim + 2)));
    std::vector<const float*> qp(static_cast<size_t>(max_rows));
    std::vector<float*> op(static_cast<size_t>(max_rows));
    std::vector<int64_t> pos(static_cast<size_t>(max_rows));
    std::vector<float> sink(a.sinks ? static_cast<size_t>(max_rows) : 0);
    // Later query blocks of long sequences cost the most: hand them out first.
    for (size_t i = next.fetch_add(1); i < items.size(); i = next.fetch_add(1)) {
      const Item& it = items[items.size() - 1 - i];
      const int64_t qlen = a.query_start[it.seq + 1] - a.query_start[it.seq];
      const int64_t first_pos = a.context_lens[it.seq] - qlen;
      const int32_t* table = a.block_tables + it.seq * a.max_blocks_per_seq;
      int64_t rows = 0;
      for (int64_t qi = it.q0; qi < it.q1; ++qi) {
        for (int64_t h = it.kv_head * group; h < (it.kv_head + 1) * group; ++h, ++rows) {
          qp[rows] = a.q + qi * a.ld_q + h * a.head_dim;
          op[rows] = a.out + qi * a.ld_out + h * a.head_dim;
          pos[rows] = first_pos + (qi - a.query_start[it.seq]);
          if (a.sinks) sink[rows] = a.sinks[h];
        }
      }
      if (simd) {
        internal::AttnRows r;
        r.a = &a;
        r.block_table = table;
        r.kv_head = it.kv_head;
        r.rows = rows;
        r.q = qp.data();
        r.out = op.data();
        r.pos = pos.data();
        r.sink = a.sinks ? sink.data() : nullptr;
        r.scratch = scratch.data();
        internal::attend_rows_avx512(r);
      } else {
        for (int64_t r = 0; r < rows; ++r) {
          Query qr;
          qr.q = qp[r];
          qr.out = op[r];
          qr.block_table = table;
          qr.pos = pos[r];
          qr.kv_head = it.kv_head;
          qr.sink = a.sinks ? &sink[r] : nullptr;
          attend(a, qr, scratch.data());
        }
      }
    }
  };
  if (pool == nullptr || pool->size() == 1 || items.size() <= 1) {
    work(0, 1);
  } else {
    pool->run_on_all(work);
  }
}

}  // namespace sieve::kernels
