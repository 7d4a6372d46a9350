// Sampling kernels. One CTA per row; the row stays in global memory (L2) and is read once per
// pass: max, [top_k: 4 radix passes], [top_p: a sum + 4 radix passes], [a sum], the draw. Every
// sum is over integers (fixed-point masses), so every decision is deterministic and independent
// of the thread schedule, the row's position and the batch.
#include "kernels/cuda/sampling.h"

#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>

#include <climits>
#include <cmath>

#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda {
namespace {

namespace cg = cooperative_groups;

constexpr int kThreads = 1024;        // sample / argmax / log-softmax: one CTA per row
constexpr int kPenaltyThreads = 256;  // penalties: one CTA per row
constexpr int kBins = 256;            // radix digit: 8 bits, 4 passes over a 32-bit key
constexpr int kItems = 4;             // consecutive ids per thread in the in-order scans
constexpr int32_t kAllTies = INT32_MAX;
constexpr unsigned kFullMask = 0xFFFFFFFFu;

// ---- keys and masses -----------------------------------------------------------------------

// Order-preserving map float → uint32 (larger float, larger key); -0 and +0 share a key, as
// they compare equal on the host.
__device__ __forceinline__ uint32_t order_key(float v) {
  const uint32_t u = __float_as_uint(v == 0.f ? 0.f : v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float key_value(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k);
}

// The weights of a row, as fixed point: round(w × 2^40) with w = exp((l - max) / T) ∈ [0, 1],
// and 0 for tokens min_p removes. vocab < 2^23 keeps any sum below 2^63.
struct Weights {
  float max;
  float inv_t;
  float min_p;
  __device__ __forceinline__ uint64_t operator()(float l) const {
    const float w = expf((l - max) * inv_t);
    if (!(w >= min_p)) return 0;  // also NaN
    return __float2ull_rn(w * 0x1.0p40f);
  }
};

// A prefix of the order (logit descending, id ascending): every token with key > `key`, and
// those with key == `key` and id ≤ `last_tie`. The default is the whole row.
struct Cut {
  uint32_t key = 0;
  int32_t last_tie = kAllTies;
  __device__ __forceinline__ bool keeps(uint32_t k, int32_t id) const {
    return k > key || (k == key && id <= last_tie);
  }
};

// ---- block primitives (blockDim.x == kThreads) ----------------------------------------------

struct SampleShared {
  unsigned long long mass[kBins];
  unsigned int count[kBins];
  unsigned long long warp_u64[32];
  float warp_f[32];
  int32_t warp_i[32];
  int32_t found;
  int32_t sel_bin;
  unsigned long long sel_rest;
  unsigned int sel_ties;
};

struct ArgMax {
  float value;
  int32_t id;
};

__device__ __forceinline__ bool better(float v, int32_t i, float bv, int32_t bi) {
  return v > bv || (v == bv && i < bi);
}

// Largest logit of the row, ties to the lower id; NaNs never win. Every thread gets the result.
__device__ ArgMax block_argmax(const float* x, int vocab, SampleShared& sh) {
  float bv = -INFINITY;
  int32_t bi = INT32_MAX;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = x[i];
    if (better(v, i, bv, bi)) bv = v, bi = i;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float v = __shfl_xor_sync(kFullMask, bv, o);
    const int32_t i = __shfl_xor_sync(kFullMask, bi, o);
    if (better(v, i, bv, bi)) bv = v, bi = i;
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) {
    sh.warp_f[threadIdx.x >> 5] = bv;
    sh.warp_i[threadIdx.x >> 5] = bi;
  }
  __syncthreads();
  bv = sh.warp_f[0], bi = sh.warp_i[0];
  for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
    if (better(sh.warp_f[w], sh.warp_i[w], bv, bi)) bv = sh.warp_f[w], bi = sh.warp_i[w];
  }
  return {bv, bi == INT32_MAX ? 0 : bi};
}

__device__ uint64_t block_sum(uint64_t v, SampleShared& sh) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(kFullMask, v, o);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh.warp_u64[threadIdx.x >> 5] = v;
  __syncthreads();
  uint64_t s = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w)
    s += sh.warp_u64[w];
  return s;
}

// Exclusive prefix sum over the block (thread order); `total` gets the block's sum.
__device__ uint64_t block_exclusive_scan(uint64_t v, uint64_t& total, SampleShared& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint64_t inc = v;
  for (int o = 1; o < 32; o <<= 1) {
    const uint64_t up = __shfl_up_sync(kFullMask, inc, o);
    if (lane >= o) inc += up;
  }
  __syncthreads();
  if (lane == 31) sh.warp_u64[warp] = inc;
  __syncthreads();
  uint64_t before = 0, all = 0;
  for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) {
    if (w < warp) before += sh.warp_u64[w];
    all += sh.warp_u64[w];
  }
  total = all;
  return before + inc - v;
}

// Σ measure(id, logit, key) over the row.
template <class Measure>
__device__ uint64_t row_sum(const float* x, int vocab, Measure measure, SampleShared& sh) {
  uint64_t s = 0;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float l = x[i];
    s += measure(i, l, order_key(l));
  }
  return block_sum(s, sh);
}

// The first id (increasing order) at which Σ measure up to and including it exceeds `target`;
// -1 if the whole row's sum is ≤ target.
template <class Measure>
__device__ int32_t find_cumulative(const float* x, int vocab, uint64_t target, Measure measure,
                                   SampleShared& sh) {
  __syncthreads();
  if (threadIdx.x == 0) sh.found = -1;
  __syncthreads();
  uint64_t base = 0;
  for (int c0 = 0; c0 < vocab; c0 += kThreads * kItems) {
    const int i0 = c0 + static_cast<int>(threadIdx.x) * kItems;
    uint64_t m[kItems];
    uint64_t local = 0;
#pragma unroll
    for (int e = 0; e < kItems; ++e) {
      const int i = i0 + e;
      m[e] = 0;
      if (i < vocab) {
        const float l = x[i];
        m[e] = measure(i, l, order_key(l));
      }
      local += m[e];
    }
    uint64_t total;
    uint64_t acc = base + block_exclusive_scan(local, total, sh);
    if (local > 0 && target >= acc && target < acc + local) {
#pragma unroll
      for (int e = 0; e < kItems; ++e) {
        if (m[e] > 0 && target >= acc && target < acc + m[e]) sh.found = i0 + e;
        acc += m[e];
      }
    }
    __syncthreads();
    if (sh.found >= 0) return sh.found;
    base += total;
  }
  return -1;
}

struct Selection {
  uint32_t key;   // the key at which the running measure (from the top) reaches the target
  uint64_t rest;  // measure still needed from the tokens with exactly that key
  uint32_t ties;  // tokens with that key and a non-zero measure
};

// Radix selection, descending: the key τ such that Σ measure over keys > τ < target ≤ Σ over
// keys ≥ τ. Histograms are integer (counts and fixed-point masses), aggregated per warp over
// the lanes that share a digit, so the hot bins see one atomic per warp, not one per token.
template <class Measure>
__device__ Selection radix_select(const float* x, int vocab, uint64_t target, Measure measure,
                                  SampleShared& sh) {
  const auto warp = cg::tiled_partition<32>(cg::this_thread_block());
  uint32_t want = 0, mask = 0;
  uint64_t rest = target;
  uint32_t ties = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    __syncthreads();
    for (int b = threadIdx.x; b < kBins; b += blockDim.x)
      sh.mass[b] = 0, sh.count[b] = 0;
    __syncthreads();
    for (int i0 = 0; i0 < vocab; i0 += blockDim.x) {
      const int i = i0 + static_cast<int>(threadIdx.x);
      uint64_t m = 0;
      uint32_t digit = kBins;  // kBins: not counted
      if (i < vocab) {
        const float l = x[i];
        const uint32_t k = order_key(l);
        if ((k & mask) == want) {
          m = measure(i, l, k);
          if (m > 0) digit = (k >> shift) & (kBins - 1);
        }
      }
      if (!warp.any(digit != kBins)) continue;
      const cg::coalesced_group peers = cg::labeled_partition(warp, digit);
      const uint64_t s = cg::reduce(peers, m, cg::plus<uint64_t>());
      if (digit != kBins && peers.thread_rank() == 0) {
        atomicAdd(&sh.mass[digit], static_cast<unsigned long long>(s));
        atomicAdd(&sh.count[digit], static_cast<unsigned int>(peers.size()));
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      uint64_t above = 0;
      int b = kBins - 1;
      for (; b > 0; --b) {
        if (above + sh.mass[b] >= rest) break;
        above += sh.mass[b];
      }
      sh.sel_bin = b;
      sh.sel_rest = rest - above;
      sh.sel_ties = sh.count[b];
    }
    __syncthreads();
    want |= static_cast<uint32_t>(sh.sel_bin) << shift;
    mask |= static_cast<uint32_t>(kBins - 1) << shift;
    rest = sh.sel_rest;
    ties = sh.sel_ties;
  }
  return {want, rest, ties};
}

// The id of the `take`-th token (by id) whose key is `key`, or kAllTies when `take` ≥ `ties`.
__device__ int32_t last_tie(const float* x, int vocab, uint32_t key, uint64_t take, uint32_t ties,
                            SampleShared& sh) {
  if (take >= ties) return kAllTies;
  const int32_t id = find_cumulative(
      x, vocab, take - 1, [key](int, float, uint32_t k) -> uint64_t { return k == key ? 1 : 0; },
      sh);
  return id < 0 ? kAllTies : id;
}

// ---- kernels -------------------------------------------------------------------------------

struct PenaltyArgs {
  float* logits;  // [rows, vocab]
  int vocab;
  const RowSampling* params;      // [rows]
  const int32_t* prompt_tokens;   // CSR
  const int32_t* prompt_offsets;  // [rows + 1]
  const int32_t* output_tokens;   // CSR
  const int32_t* output_offsets;  // [rows + 1]
  uint32_t* seen;                 // [rows, ceil(vocab / 32)] workspace
};

// Repetition: every distinct valid id of prompt ∪ output once (a bit set claims it); then
// frequency and presence on each distinct output id, from its first occurrence, which counts
// all occurrences by scanning the output through shared-memory tiles (O(n² / threads)).
__global__ void __launch_bounds__(kPenaltyThreads) penalty_kernel(PenaltyArgs a) {
  __shared__ int32_t tile[kPenaltyThreads];
  const int row = blockIdx.x;
  const RowSampling p = a.params[row];
  const bool repetition = p.repetition_penalty != 1.f;
  const bool counted = p.frequency_penalty != 0.f || p.presence_penalty != 0.f;
  if (!repetition && !counted) return;
  float* x = a.logits + static_cast<size_t>(row) * a.vocab;
  const int32_t* prompt = a.prompt_tokens + a.prompt_offsets[row];
  const int n_prompt = a.prompt_offsets[row + 1] - a.prompt_offsets[row];
  const int32_t* output = a.output_tokens + a.output_offsets[row];
  const int n_output = a.output_offsets[row + 1] - a.output_offsets[row];
  if (repetition) {
    const int words = (a.vocab + 31) / 32;
    uint32_t* seen = a.seen + static_cast<size_t>(row) * words;
    for (int w = threadIdx.x; w < words; w += blockDim.x)
      seen[w] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < n_prompt + n_output; i += blockDim.x) {
      const int32_t t = i < n_prompt ? prompt[i] : output[i - n_prompt];
      if (t < 0 || t >= a.vocab) continue;
      const uint32_t bit = 1u << (t & 31);
      if (atomicOr(&seen[t >> 5], bit) & bit) continue;
      const float l = x[t];
      x[t] = l > 0.f ? __fdiv_rn(l, p.repetition_penalty) : __fmul_rn(l, p.repetition_penalty);
    }
    __syncthreads();  // the repetition writes are visible to the block below
  }
  if (!counted) return;
  for (int base = 0; base < n_output; base += blockDim.x) {
    const int i = base + static_cast<int>(threadIdx.x);
    const int32_t t = i < n_output ? output[i] : -1;
    bool first = t >= 0 && t < a.vocab;
    int count = 0;
    for (int t0 = 0; t0 < n_output; t0 += blockDim.x) {
      __syncthreads();
      if (t0 + static_cast<int>(threadIdx.x) < n_output)
        tile[threadIdx.x] = output[t0 + threadIdx.x];
      __syncthreads();
      const int n = min(static_cast<int>(blockDim.x), n_output - t0);
      for (int j = 0; j < n && first; ++j) {
        if (tile[j] == t) {
          ++count;
          if (t0 + j < i) first = false;
        }
      }
    }
    if (first) {
      // As the host: logit -= frequency × count + presence (no contraction into an fma).
      const float sub =
          __fadd_rn(__fmul_rn(p.frequency_penalty, static_cast<float>(count)), p.presence_penalty);
      x[t] = __fsub_rn(x[t], sub);
    }
  }
}

struct SampleArgs {
  const float* logits;  // [rows, vocab]
  int vocab;
  const RowSampling* params;  // [rows]
  int32_t* sampled;           // [rows]
};

__global__ void __launch_bounds__(kThreads) sample_kernel(SampleArgs a) {
  __shared__ SampleShared sh;
  const int row = blockIdx.x;
  const int vocab = a.vocab;
  const RowSampling p = a.params[row];
  const float* x = a.logits + static_cast<size_t>(row) * vocab;
  const ArgMax top = block_argmax(x, vocab, sh);
  if (!(p.temperature > 0.f) || p.top_k == 1) {
    if (threadIdx.x == 0) a.sampled[row] = top.id;
    return;
  }
  const Weights weight{top.value, 1.f / p.temperature, p.min_p > 0.f ? p.min_p : 0.f};

  // top_k: the prefix of k tokens.
  Cut by_k;
  if (p.top_k > 0 && p.top_k < vocab) {
    const Selection s = radix_select(
        x, vocab, static_cast<uint64_t>(p.top_k),
        [](int, float, uint32_t) -> uint64_t { return 1; }, sh);
    by_k = Cut{s.key, last_tie(x, vocab, s.key, s.rest, s.ties, sh)};
  }
  const auto kept_by_k = [&](int id, float l, uint32_t k) -> uint64_t {
    return by_k.keeps(k, id) ? weight(l) : 0;
  };

  // top_p: the shortest prefix whose mass reaches ceil(top_p × the mass left by top_k, min_p).
  Cut by_p;
  uint64_t total;
  if (p.top_p < 1.f) {
    const uint64_t all = row_sum(x, vocab, kept_by_k, sh);
    double want = ::ceil(static_cast<double>(p.top_p) * static_cast<double>(all));
    uint64_t target = want < 1.0 ? 1 : static_cast<uint64_t>(want);
    if (target > all) target = all;
    const Selection s = radix_select(x, vocab, target, kept_by_k, sh);
    const uint64_t q = weight(key_value(s.key));  // > 0: the selected bin has mass
    const uint64_t take = q > 0 ? (s.rest + q - 1) / q : s.ties;
    by_p = Cut{s.key, last_tie(x, vocab, s.key, take, s.ties, sh)};
    total = (target - s.rest) + take * q;
  } else {
    total = row_sum(x, vocab, kept_by_k, sh);
  }

  // The draw: the first id, in increasing order, whose cumulative kept mass exceeds u × total.
  const uint64_t target = __umul64hi(sample_draw_bits(p.seed, p.offset), total);
  const int32_t id = find_cumulative(
      x, vocab, target,
      [&](int i, float l, uint32_t k) -> uint64_t {
        return by_k.keeps(k, i) && by_p.keeps(k, i) ? weight(l) : 0;
      },
      sh);
  if (threadIdx.x == 0) a.sampled[row] = id < 0 ? top.id : id;
}

__global__ void __launch_bounds__(kThreads) argmax_kernel(Logits in, int32_t* out) {
  __shared__ SampleShared sh;
  const ArgMax top = block_argmax(in.data + static_cast<size_t>(blockIdx.x) * in.vocab,
                                  static_cast<int>(in.vocab), sh);
  if (threadIdx.x == 0) out[blockIdx.x] = top.id;
}

__global__ void __launch_bounds__(kThreads)
    log_softmax_at_kernel(Logits in, const int32_t* ids, float* out) {
  __shared__ SampleShared sh;
  __shared__ double warp_d[32];
  const int vocab = static_cast<int>(in.vocab);
  const float* x = in.data + static_cast<size_t>(blockIdx.x) * vocab;
  const ArgMax top = block_argmax(x, vocab, sh);
  float s = 0.f;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x)
    s += expf(x[i] - top.value);
  double d = s;
  for (int o = 16; o > 0; o >>= 1)
    d += __shfl_xor_sync(kFullMask, d, o);
  if ((threadIdx.x & 31) == 0) warp_d[threadIdx.x >> 5] = d;
  __syncthreads();
  if (threadIdx.x == 0) {
    double sum = 0;
    for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w)
      sum += warp_d[w];
    const int32_t id = ids[blockIdx.x];
    out[blockIdx.x] = id >= 0 && id < vocab
                          ? static_cast<float>(static_cast<double>(x[id]) - top.value - log(sum))
                          : NAN;
  }
}

// ---- launches ------------------------------------------------------------------------------

void launch_penalties(const SampleParams& p, cudaStream_t stream) {
  const PenaltyArgs a{p.logits,         static_cast<int>(p.vocab),
                      p.row_params,     p.prompt_tokens,
                      p.prompt_offsets, p.output_tokens,
                      p.output_offsets, static_cast<uint32_t*>(p.workspace)};
  penalty_kernel<<<static_cast<unsigned>(p.rows), kPenaltyThreads, 0, stream>>>(a);
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_sample(const SampleParams& p, cudaStream_t stream) {
  const SampleArgs a{p.logits, static_cast<int>(p.vocab), p.row_params, p.sampled};
  sample_kernel<<<static_cast<unsigned>(p.rows), kThreads, 0, stream>>>(a);
  SIEVE_CUDA_CHECK_LAUNCH();
}

void check_logits(const Logits& l) {
  SIEVE_CUDA_REQUIRE(l.rows >= 0 && l.rows <= INT32_MAX, "rows out of range");
  SIEVE_CUDA_REQUIRE(l.vocab >= 1 && l.vocab < (int64_t{1} << 23), "vocab must be in [1, 2^23)");
  SIEVE_CUDA_REQUIRE(l.rows == 0 || l.data != nullptr, "logits must be a device pointer");
}

}  // namespace

size_t sample_workspace_bytes(int64_t rows, int64_t vocab) {
  return static_cast<size_t>(rows) * static_cast<size_t>((vocab + 31) / 32) * sizeof(uint32_t);
}

void sample(const SampleParams& p, cudaStream_t stream) {
  check_logits(Logits{p.logits, p.rows, p.vocab});
  if (p.rows == 0) return;
  SIEVE_CUDA_REQUIRE(p.row_params != nullptr && p.sampled != nullptr,
                     "row_params and sampled must be device pointers");
  const int set = (p.prompt_tokens != nullptr) + (p.prompt_offsets != nullptr) +
                  (p.output_tokens != nullptr) + (p.output_offsets != nullptr);
  SIEVE_CUDA_REQUIRE(set == 0 || set == 4, "prompt/output tokens and offsets: all four or none");
  if (set == 4) {
    SIEVE_CUDA_REQUIRE(
        p.workspace != nullptr && p.workspace_bytes >= sample_workspace_bytes(p.rows, p.vocab),
        "workspace smaller than sample_workspace_bytes(rows, vocab)");
    launch_penalties(p, stream);
  }
  launch_sample(p, stream);
}

void argmax(const Logits& logits, int32_t* out, cudaStream_t stream) {
  check_logits(logits);
  if (logits.rows == 0) return;
  SIEVE_CUDA_REQUIRE(out != nullptr, "out must be a device pointer");
  argmax_kernel<<<static_cast<unsigned>(logits.rows), kThreads, 0, stream>>>(logits, out);
  SIEVE_CUDA_CHECK_LAUNCH();
}

void log_softmax_at(const Logits& logits, const int32_t* ids, float* out, cudaStream_t stream) {
  check_logits(logits);
  if (logits.rows == 0) return;
  SIEVE_CUDA_REQUIRE(ids != nullptr && out != nullptr, "ids and out must be device pointers");
  log_softmax_at_kernel<<<static_cast<unsigned>(logits.rows), kThreads, 0, stream>>>(logits, ids,
                                                                                     out);
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
