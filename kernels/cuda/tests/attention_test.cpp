// sieve::cuda::paged_attention against the CPU kernels::paged_attention (the plain
// reference): decode batches (split-KV), prefill from empty, chunked prefill, mixed batches,
// GQA ratios, head sizes, sliding window, padding sequences, loose bounds and graph replay.
#include "kernels/cuda/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/tests/device_buffer.h"

namespace sieve::cuda {
namespace {

using test::DeviceBuffer;

constexpr float kSentinel = 1234.5f;  // rows and row padding nobody may write
constexpr float kTol = 1e-4f;

struct Seq {
  int32_t qlen, ctx;
};

struct Case {
  int64_t num_heads = 8, num_kv_heads = 2, head_dim = 128, block_size = 16, window = 0;
  std::vector<Seq> seqs;
  int64_t table_tokens = 0;  // block tables cover at least this many tokens per sequence
  uint32_t seed = 1;
  bool sinks = false;  // per-head sink logits in the softmax (gpt-oss)
};

// Host data of one call: random q and caches, shuffled (non-contiguous) block tables.
struct Problem {
  Case c;
  int64_t tokens = 0, max_blocks = 0, num_blocks = 0, ld = 0;
  std::vector<float> q, k_cache, v_cache;
  std::vector<int32_t> tables, query_start, context_lens;
  std::vector<float> sinks;  // [num_heads] when c.sinks
};

Problem make_problem(const Case& c) {
  Problem p;
  p.c = c;
  std::mt19937 rng(c.seed);
  int64_t max_tokens = std::max<int64_t>(c.table_tokens, 1);
  for (const Seq& s : c.seqs)
    max_tokens = std::max<int64_t>(max_tokens, s.ctx);
  p.max_blocks = (max_tokens + c.block_size - 1) / c.block_size;
  p.num_blocks = static_cast<int64_t>(c.seqs.size()) * p.max_blocks + 3;
  std::vector<int32_t> perm(static_cast<size_t>(p.num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  p.tables.assign(c.seqs.size() * static_cast<size_t>(p.max_blocks), 0);
  size_t next = 0;
  for (size_t s = 0; s < c.seqs.size(); ++s)
    for (int64_t b = 0; b < p.max_blocks; ++b)
      p.tables[s * static_cast<size_t>(p.max_blocks) + static_cast<size_t>(b)] = perm[next++];
  p.query_start.push_back(0);
  for (const Seq& s : c.seqs) {
    p.query_start.push_back(p.query_start.back() + s.qlen);
    p.context_lens.push_back(s.ctx);
  }
  p.tokens = p.query_start.back();
  p.ld = c.num_heads * c.head_dim + 5;  // padded row strides
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  p.q.resize(static_cast<size_t>(std::max<int64_t>(p.tokens, 1) * p.ld));
  for (float& x : p.q)
    x = u(rng);
  const size_t cache =
      static_cast<size_t>(p.num_blocks * c.block_size * c.num_kv_heads * c.head_dim);
  p.k_cache.resize(cache);
  p.v_cache.resize(cache);
  for (float& x : p.k_cache)
    x = u(rng);
  for (float& x : p.v_cache)
    x = u(rng);
  // Sinks around the scores' range (|q·k| · scale stays within ~±3 here): some heads' sinks
  // dominate their softmax, others barely count.
  if (c.sinks) {
    for (int64_t h = 0; h < c.num_heads; ++h)
      p.sinks.push_back(4.f * u(rng));
  }
  return p;
}

float scale_of(const Problem& p) {
  return 1.0f / std::sqrt(static_cast<float>(p.c.head_dim));
}

// The problem's geometry, with no pointers set.
kernels::PagedAttentionArgs geometry(const Problem& p) {
  kernels::PagedAttentionArgs a;
  a.num_seqs = static_cast<int64_t>(p.c.seqs.size());
  a.max_blocks_per_seq = p.max_blocks;
  a.num_heads = p.c.num_heads;
  a.num_kv_heads = p.c.num_kv_heads;
  a.head_dim = p.c.head_dim;
  a.block_size = p.c.block_size;
  a.ld_q = p.ld;
  a.ld_out = p.ld;
  a.scale = scale_of(p);
  a.sliding_window = p.c.window;
  return a;
}

std::vector<float> run_cpu(const Problem& p) {
  std::vector<float> out(p.q.size(), kSentinel);
  kernels::PagedAttentionArgs a = geometry(p);
  a.q = p.q.data();
  a.out = out.data();
  a.k_cache = p.k_cache.data();
  a.v_cache = p.v_cache.data();
  a.block_tables = p.tables.data();
  a.query_start = p.query_start.data();
  a.context_lens = p.context_lens.data();
  a.sinks = p.c.sinks ? p.sinks.data() : nullptr;
  kernels::paged_attention(a, nullptr);
  return out;
}

// Device copies of a Problem and the params pointing at them.
struct DeviceProblem {
  DeviceBuffer<float> q, out, k_cache, v_cache;
  DeviceBuffer<int32_t> tables, query_start, context_lens;
  DeviceBuffer<float> sinks;
  DeviceBuffer<unsigned char> workspace;
  PagedAttentionParams params;
};

// max_q / max_ctx: the bounds; 0 means tight (the real maxima).
void upload(const Problem& p, int64_t max_q, int64_t max_ctx, DeviceProblem& d) {
  d.q = DeviceBuffer<float>::from_host(p.q);
  d.out = DeviceBuffer<float>::from_host(std::vector<float>(p.q.size(), kSentinel));
  d.k_cache = DeviceBuffer<float>::from_host(p.k_cache);
  d.v_cache = DeviceBuffer<float>::from_host(p.v_cache);
  d.tables = DeviceBuffer<int32_t>::from_host(p.tables);
  d.query_start = DeviceBuffer<int32_t>::from_host(p.query_start);
  d.context_lens = DeviceBuffer<int32_t>::from_host(p.context_lens);
  int64_t tight_q = 0, tight_ctx = 0;
  for (const Seq& s : p.c.seqs) {
    tight_q = std::max<int64_t>(tight_q, s.qlen);
    tight_ctx = std::max<int64_t>(tight_ctx, s.ctx);
  }
  PagedAttentionParams& a = d.params;
  static_cast<kernels::PagedAttentionArgs&>(a) = geometry(p);
  a.q = d.q.data();
  a.out = d.out.data();
  a.k_cache = d.k_cache.data();
  a.v_cache = d.v_cache.data();
  a.block_tables = d.tables.data();
  a.query_start = d.query_start.data();
  a.context_lens = d.context_lens.data();
  if (p.c.sinks) {
    d.sinks = DeviceBuffer<float>::from_host(p.sinks);
    a.sinks = d.sinks.data();
  }
  a.max_query_len = max_q > 0 ? max_q : std::max<int64_t>(tight_q, 1);
  a.max_context_len = max_ctx > 0 ? max_ctx : std::max<int64_t>(tight_ctx, a.max_query_len);
  d.workspace = DeviceBuffer<unsigned char>(paged_attention_workspace_bytes(a));
  a.workspace = d.workspace.data();
  a.workspace_bytes = d.workspace.size();
}

std::vector<float> run_gpu(const Problem& p, int64_t max_q = 0, int64_t max_ctx = 0) {
  DeviceProblem d;
  upload(p, max_q, max_ctx, d);
  paged_attention(d.params, nullptr);
  SIEVE_CUDA_CHECK(cudaDeviceSynchronize());
  return d.out.to_host();
}

void expect_close(const std::vector<float>& want, const std::vector<float>& got, const Problem& p) {
  ASSERT_EQ(want.size(), got.size());
  size_t bad = 0;
  float worst = 0.f;
  for (size_t i = 0; i < want.size(); ++i) {
    const float diff = std::fabs(want[i] - got[i]);
    if (!(diff <= kTol)) {
      if (bad++ < 5) {
        const int64_t row = static_cast<int64_t>(i) / p.ld, col = static_cast<int64_t>(i) % p.ld;
        ADD_FAILURE() << "row " << row << " head " << col / p.c.head_dim << " dim "
                      << col % p.c.head_dim << ": want " << want[i] << " got " << got[i];
      }
      worst = std::isnan(diff) ? diff : std::max(worst, diff);
    }
  }
  EXPECT_EQ(bad, 0u) << "mismatches (worst " << worst << ")";
}

void check(const Case& c) {
  const Problem p = make_problem(c);
  expect_close(run_cpu(p), run_gpu(p), p);
}

std::vector<Seq> random_decodes(int n, int max_ctx, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> len(1, max_ctx);
  std::vector<Seq> seqs;
  for (int i = 0; i < n; ++i)
    seqs.push_back({1, len(rng)});
  return seqs;
}

struct HeadShape {
  int64_t num_heads, num_kv_heads, head_dim;
};

// GQA ratios 1, 4, 8 and head sizes 64, 128 (float4 instances) and 96 (runtime head_dim).
const HeadShape kShapes[] = {{4, 4, 128}, {8, 2, 128}, {16, 2, 128}, {4, 4, 64}, {8, 2, 64},
                             {8, 1, 64},  {4, 4, 96},  {8, 2, 96},   {16, 2, 96}};

Case with_shape(Case c, const HeadShape& h) {
  c.num_heads = h.num_heads;
  c.num_kv_heads = h.num_kv_heads;
  c.head_dim = h.head_dim;
  return c;
}

TEST(CudaAttention, DecodeBatchOfOne) {
  uint32_t seed = 10;
  for (const HeadShape& h : kShapes) {
    for (int ctx : {1, 17, 128, 129, 513, 4999}) {
      SCOPED_TRACE(testing::Message() << "heads " << h.num_heads << "/" << h.num_kv_heads
                                      << " head_dim " << h.head_dim << " ctx " << ctx);
      Case c;
      c.seqs = {{1, ctx}};
      c.seed = ++seed;
      check(with_shape(c, h));
    }
  }
}

TEST(CudaAttention, DecodeBatchOf37) {
  uint32_t seed = 100;
  for (const HeadShape& h : kShapes) {
    SCOPED_TRACE(testing::Message()
                 << "heads " << h.num_heads << "/" << h.num_kv_heads << " head_dim " << h.head_dim);
    Case c;
    c.seqs = random_decodes(37, 5000, ++seed);
    c.seed = ++seed;
    check(with_shape(c, h));
  }
}

TEST(CudaAttention, DecodeManyHeadChunksAndOddHeadDims) {
  // group 32 (four CTAs per kv head), head_dim 256 and odd sizes on the runtime path.
  const HeadShape shapes[] = {{64, 2, 64}, {32, 1, 128}, {4, 2, 256}, {6, 3, 33}, {2, 1, 1}};
  uint32_t seed = 200;
  for (const HeadShape& h : shapes) {
    SCOPED_TRACE(testing::Message()
                 << "heads " << h.num_heads << "/" << h.num_kv_heads << " head_dim " << h.head_dim);
    Case c;
    c.seqs = random_decodes(5, 3000, ++seed);
    c.seed = ++seed;
    check(with_shape(c, h));
  }
}

TEST(CudaAttention, PrefillFromEmpty) {
  uint32_t seed = 300;
  for (const HeadShape& h : kShapes) {
    SCOPED_TRACE(testing::Message()
                 << "heads " << h.num_heads << "/" << h.num_kv_heads << " head_dim " << h.head_dim);
    Case c;
    c.seqs = {{1, 1}, {31, 31}, {32, 32}, {33, 33}, {257, 257}};
    c.seed = ++seed;
    check(with_shape(c, h));
  }
}

TEST(CudaAttention, ChunkedPrefill) {
  uint32_t seed = 400;
  for (const HeadShape& h : kShapes) {
    SCOPED_TRACE(testing::Message()
                 << "heads " << h.num_heads << "/" << h.num_kv_heads << " head_dim " << h.head_dim);
    Case c;
    c.seqs = {{50, 300}, {64, 1000}, {7, 1500}, {100, 133}};
    c.block_size = 8;
    c.seed = ++seed;
    check(with_shape(c, h));
  }
}

TEST(CudaAttention, ChunkedPrefillEqualsOneGo) {
  // The last 60 rows of a 200-token prefill equal a 60-token chunk on a 140-token prefix.
  Case whole;
  whole.seqs = {{200, 200}};
  whole.seed = 7;
  const Problem pw = make_problem(whole);
  Problem pc = pw;
  pc.c.seqs = {{60, 200}};
  pc.query_start = {0, 60};
  pc.tokens = 60;
  pc.q.erase(pc.q.begin(), pc.q.begin() + 140 * pw.ld);
  const std::vector<float> w = run_gpu(pw), ch = run_gpu(pc);
  expect_close(std::vector<float>(w.begin() + 140 * pw.ld, w.end()), ch, pc);
}

TEST(CudaAttention, MixedPrefillAndDecode) {
  uint32_t seed = 500;
  for (const HeadShape& h : kShapes) {
    SCOPED_TRACE(testing::Message()
                 << "heads " << h.num_heads << "/" << h.num_kv_heads << " head_dim " << h.head_dim);
    Case c;
    c.seqs = {{1, 900}, {64, 64}, {1, 1}, {33, 700}, {0, 0}, {1, 4000}, {0, 77}, {5, 5}};
    c.seed = ++seed;
    check(with_shape(c, h));
  }
}

TEST(CudaAttention, SlidingWindow) {
  uint32_t seed = 600;
  for (const HeadShape& h : {kShapes[1], kShapes[4], kShapes[7]}) {
    for (int64_t window : {1, 100, 700}) {
      SCOPED_TRACE(testing::Message() << "head_dim " << h.head_dim << " window " << window);
      Case decode;
      decode.window = window;
      decode.seqs = random_decodes(9, 5000, ++seed);
      decode.seqs.push_back({1, 50});
      decode.seed = ++seed;
      check(with_shape(decode, h));
      Case prefill;
      prefill.window = window;
      prefill.seqs = {{300, 300}, {90, 1200}, {1, 2000}, {0, 0}};
      prefill.seed = ++seed;
      check(with_shape(prefill, h));
    }
  }
}

// gpt-oss's attention: sinks on sliding and full layers, decode (direct and split into
// partitions, whose reduce applies the sink) and prefill.
TEST(CudaAttention, Sinks) {
  uint32_t seed = 800;
  for (const HeadShape& h : {kShapes[1], kShapes[4], kShapes[7]}) {
    for (int64_t window : {0, 128}) {
      SCOPED_TRACE(testing::Message() << "head_dim " << h.head_dim << " window " << window);
      Case decode;
      decode.sinks = true;
      decode.window = window;
      decode.seqs = random_decodes(9, 5000, ++seed);
      decode.seqs.push_back({1, 50});
      decode.seed = ++seed;
      check(with_shape(decode, h));
      Case prefill = decode;
      prefill.seqs = {{300, 300}, {90, 1200}, {1, 2000}, {0, 0}};
      prefill.seed = ++seed;
      check(with_shape(prefill, h));
    }
  }
}

TEST(CudaAttention, PaddingSequencesWriteNothing) {
  Case decode;
  decode.seqs = {{0, 0}, {1, 600}, {0, 0}, {0, 300}, {1, 2}, {0, 0}};
  check(decode);
  Case prefill;
  prefill.seqs = {{0, 0}, {40, 600}, {0, 0}, {0, 300}, {3, 3}};
  check(prefill);
  Case all_padding;
  all_padding.seqs = {{0, 0}, {0, 0}};
  check(all_padding);
}

TEST(CudaAttention, LooseBoundsMatchTightBounds) {
  // Decode: the grid sized for 8192 keys; prefill: for 300 query rows and 4096 keys.
  Case decode;
  decode.seqs = random_decodes(12, 3000, 700);
  decode.seqs.push_back({0, 0});
  decode.table_tokens = 8192;
  const Problem pd = make_problem(decode);
  const std::vector<float> tight = run_gpu(pd), loose = run_gpu(pd, 1, 8192);
  expect_close(run_cpu(pd), tight, pd);
  EXPECT_EQ(tight, loose);

  Case prefill;
  prefill.seqs = {{40, 600}, {1, 900}, {0, 0}, {100, 100}};
  prefill.table_tokens = 4096;
  const Problem pp = make_problem(prefill);
  const std::vector<float> tight_p = run_gpu(pp), loose_p = run_gpu(pp, 300, 4096);
  expect_close(run_cpu(pp), tight_p, pp);
  EXPECT_EQ(tight_p, loose_p);
}

TEST(CudaAttention, DecodeGraphReplaysForOtherLengths) {
  // One decode step captured with bounds, replayed after the context lengths change on the
  // device: each replay matches the CPU reference for the lengths of that step.
  Case c;
  c.seqs = random_decodes(6, 2000, 800);
  c.table_tokens = 4096;
  Problem p = make_problem(c);
  DeviceProblem d;
  upload(p, 1, 4096, d);
  cudaStream_t stream;
  SIEVE_CUDA_CHECK(cudaStreamCreate(&stream));
  paged_attention(d.params, stream);  // first call outside capture (sets kernel attributes)
  SIEVE_CUDA_CHECK(cudaStreamSynchronize(stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  SIEVE_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  paged_attention(d.params, stream);
  SIEVE_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  SIEVE_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  std::mt19937 rng(801);
  for (int step = 0; step < 3; ++step) {
    std::uniform_int_distribution<int> len(step == 0 ? 1 : 2000, 4096);
    for (size_t s = 0; s < p.context_lens.size(); ++s)
      p.context_lens[s] = (s == 2 && step == 1) ? 0 : len(rng);
    if (step == 1) {  // sequence 2 becomes padding
      p.query_start = {0, 1, 2, 2, 3, 4, 5};
      p.tokens = 5;
    } else {
      p.query_start = {0, 1, 2, 3, 4, 5, 6};
      p.tokens = 6;
    }
    SIEVE_CUDA_CHECK(cudaMemcpy(d.context_lens.data(), p.context_lens.data(),
                                p.context_lens.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
    SIEVE_CUDA_CHECK(cudaMemcpy(d.query_start.data(), p.query_start.data(),
                                p.query_start.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
    const std::vector<float> fill(p.q.size(), kSentinel);
    SIEVE_CUDA_CHECK(
        cudaMemcpy(d.out.data(), fill.data(), fill.size() * sizeof(float), cudaMemcpyHostToDevice));
    SIEVE_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    SIEVE_CUDA_CHECK(cudaStreamSynchronize(stream));
    SCOPED_TRACE(testing::Message() << "step " << step);
    expect_close(run_cpu(p), d.out.to_host(), p);
  }
  SIEVE_CUDA_CHECK(cudaGraphExecDestroy(exec));
  SIEVE_CUDA_CHECK(cudaGraphDestroy(graph));
  SIEVE_CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace
}  // namespace sieve::cuda
