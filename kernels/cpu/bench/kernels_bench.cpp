// Kernel benchmarks: gemm (bf16 / fp32 / int8 / int4 / MXFP4 / FP8) at the Qwen3-30B-A3B shapes, a
// STREAM triad and a vdpbf16ps peak as references, attention and ops. Threads: SIEVE_BENCH_THREADS
// (default 2).
//
// Counters: GB/s = weight bytes / time, GFLOP/s = 2·m·n·k / time, of_triad = GB/s ÷ the triad
// sampled just before and after the row (the m = 1 target is ≥ 0.9), of_peak = GFLOP/s ÷ the
// measured vdpbf16ps peak.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/triad.h"
#include "kernels/cpu/weight_arena.h"
#include "tests/support/random.h"

namespace sieve::kernels {
namespace bench {
float dpbf16_loop(int64_t iters);
float read_streams(const char* p, int64_t bytes, int streams, int64_t prefetch_bytes);
}  // namespace bench
namespace {

using test_inputs::random_floats;

int bench_threads() {
  const char* env = std::getenv("SIEVE_BENCH_THREADS");
  return env ? std::max(1, std::atoi(env)) : 2;
}

ThreadPool& pool() {
  static ThreadPool p(bench_threads());
  return p;
}

double g_triad_gbps = 0;
double g_peak_gflops = 0;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// STREAM triad over 3 × 256 MiB huge-page arrays, best of 10, GB/s counting 3 arrays: the same
// measurement sieve-cpu-bench reports.
double measure_triad() {
  return kernels::measure_triad(pool(), 256u << 20, 10).gbps_huge_pages;
}

// The triad right now (3 × 64 MiB, best of 3).
double triad_now() {
  static TriadMeter meter(pool(), 64u << 20, true);
  return meter.best_gbps(3);
}

// The of_triad counter of a row: its bytes over the mean of the triad sampled when the bracket
// is made (right before the timed loop) and when the counter is taken (right after it), since a
// shared host's bandwidth drifts by half within seconds and a figure from the start of the run
// would say little about one row. A rate: Google Benchmark divides it by the time.
struct TriadBracket {
  double before = triad_now();
  double mean = 0;  // set by of_triad
  benchmark::Counter of_triad(double bytes) {
    mean = (before + triad_now()) / 2;
    return benchmark::Counter(bytes / 1e9 / mean, benchmark::Counter::kIsRate);
  }
};

// The bf16 row of each (shape, m): its time per product and the triad around it, for the
// quantized rows' speed-ups (bf16 rows run first).
struct Bf16Row {
  double seconds = 0, triad = 0;
};
std::map<std::string, Bf16Row>& bf16_rows() {
  static std::map<std::string, Bf16Row> rows;
  return rows;
}

// One core's vdpbf16ps rate (24 independent accumulators, registers only) times the number of
// threads: measuring all threads at once would under-read whenever a core is shared.
double measure_peak() {
  if (!internal::isa_supported(internal::Isa::kAvx512) || !__builtin_cpu_supports("avx512bf16")) {
    return 0;
  }
  const int64_t iters = 10'000'000;
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    const double t0 = now_s();
    benchmark::DoNotOptimize(bench::dpbf16_loop(iters));
    best = std::max(best, 2.0 * 32 * 24 * iters / (now_s() - t0) / 1e9);
  }
  return best * pool().size();
}

void BM_Triad(benchmark::State& st) {
  for (auto _ : st)
    st.SetIterationTime(1);
  st.counters["GB/s"] = g_triad_gbps;
}

void BM_Dpbf16Peak(benchmark::State& st) {
  for (auto _ : st)
    st.SetIterationTime(1);
  st.counters["GFLOP/s"] = g_peak_gflops;
}

// Weights are replicated until the set (512 MiB) exceeds the last-level cache, and used in turn,
// so every product streams its weights from memory as in a real model; the copies come from
// the weight arena, as a model's do, so small (quantized expert) matrices sit on huge pages too.
//
// Quantized rows add vs_bf16 (the bf16 row's time ÷ this one's, same shape and m) and
// vs_bf16_at_triad (the same with each time scaled by the triad sampled around it, which takes
// out the host's bandwidth drift between the two rows).
void BM_Gemm(benchmark::State& st, ElemType type, const char* shape, int64_t n, int64_t k) {
  const int64_t m = st.range(0);
  const auto src = random_floats(static_cast<size_t>(n * k), 1, -1.f, 1.f);
  const PackedMatrix first = is_quantized(type)
                                 ? quantize_matrix(src.data(), ElemType::kF32, n, k, type)
                                 : pack_matrix(src.data(), ElemType::kF32, n, k, type);
  const size_t copies = std::clamp<size_t>((512u << 20) / std::max<size_t>(first.bytes, 1), 1, 64);
  std::vector<PackedMatrix> ws{first};
  for (size_t i = 1; i < copies; ++i) {
    PackedMatrix w = first;
    w.storage = arena_alloc(first.bytes);
    std::memcpy(w.storage.get(), first.storage.get(), first.bytes);
    ws.push_back(w);
  }
  const auto x = random_floats(static_cast<size_t>(m * k), 2, -1.f, 1.f);
  std::vector<float> y(static_cast<size_t>(m * n));
  MatmulArgs a;
  a.x = x.data();
  a.y = y.data();
  a.m = m;
  size_t i = 0;
  TriadBracket triad;
  const double t0 = now_s();
  for (auto _ : st) {
    a.w = &ws[i++ % ws.size()];
    matmul(a, &pool());
    benchmark::ClobberMemory();
  }
  const double iters = static_cast<double>(st.iterations());
  const double per_product = (now_s() - t0) / std::max(iters, 1.0);
  const double bytes = static_cast<double>(first.bytes) * iters;
  const double flops = 2.0 * m * n * k * iters;
  st.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
  st.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
  st.counters["of_triad"] = triad.of_triad(bytes);
  const std::string key = std::string(shape) + "/m" + std::to_string(m);
  if (type == ElemType::kBF16) bf16_rows()[key] = {per_product, triad.mean};
  const auto ref = bf16_rows().find(key);
  if (is_quantized(type) && ref != bf16_rows().end()) {
    st.counters["vs_bf16"] = ref->second.seconds / per_product;
    st.counters["vs_bf16_at_triad"] =
        ref->second.seconds * ref->second.triad / (per_product * triad.mean);
  }
  st.counters["of_peak"] = benchmark::Counter(g_peak_gflops > 0 ? flops / 1e9 / g_peak_gflops : 0,
                                              benchmark::Counter::kIsRate);
}

// A MoE step: `experts` products of [n, k] weights, `rows` rows each, in one matmul_many.
// Each step takes the next `experts` matrices from a 512 MiB set, so weights come from memory.
void BM_MoeMany(benchmark::State& st, ElemType type, int64_t n, int64_t k) {
  const int64_t experts = st.range(0), rows = st.range(1);
  const auto src = random_floats(static_cast<size_t>(n * k), 3, -1.f, 1.f);
  const PackedMatrix first = is_quantized(type)
                                 ? quantize_matrix(src.data(), ElemType::kF32, n, k, type)
                                 : pack_matrix(src.data(), ElemType::kF32, n, k, type);
  const int64_t total =
      std::max<int64_t>(experts, static_cast<int64_t>((512u << 20) / first.bytes));
  std::vector<PackedMatrix> ws{first};
  for (int64_t e = 1; e < total; ++e) {
    PackedMatrix w = first;
    w.storage = arena_alloc(first.bytes);
    std::memcpy(w.storage.get(), first.storage.get(), first.bytes);
    ws.push_back(w);
  }
  const auto x = random_floats(static_cast<size_t>(experts * rows * k), 4, -1.f, 1.f);
  std::vector<float> y(static_cast<size_t>(experts * rows * n));
  std::vector<MatmulArgs> args(static_cast<size_t>(experts));
  for (int64_t e = 0; e < experts; ++e) {
    args[e].x = x.data() + e * rows * k;
    args[e].y = y.data() + e * rows * n;
    args[e].m = rows;
  }
  int64_t next = 0;
  TriadBracket triad;
  for (auto _ : st) {
    for (auto& a : args)
      a.w = &ws[next++ % total];
    matmul_many(args, &pool());
    benchmark::ClobberMemory();
  }
  const double iters = static_cast<double>(st.iterations());
  const double bytes = static_cast<double>(first.bytes) * experts * iters;
  const double flops = 2.0 * experts * rows * n * k * iters;
  st.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
  st.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
  st.counters["of_triad"] = triad.of_triad(bytes);
}

// The decode kernel's access pattern without its bookkeeping: every thread reads its share of
// 1 GiB (huge pages) in range(0) concurrent streams, prefetched range(1) bytes ahead. One stream
// 8 KiB ahead is what the m <= 8 gemm does; four streams 3 KiB ahead is what it did before.
void BM_ReadStreams(benchmark::State& st) {
  const int streams = static_cast<int>(st.range(0));
  const int64_t prefetch = st.range(1);
  constexpr size_t kBytes = size_t{1} << 30;
  static char* buf = [] {
    void* p = std::aligned_alloc(2u << 20, kBytes);
    madvise(p, kBytes, MADV_HUGEPAGE);
    std::memset(p, 1, kBytes);
    return static_cast<char*>(p);
  }();
  TriadBracket triad;
  for (auto _ : st) {
    pool().run_on_all([&](int t, int nt) {
      const int64_t share = static_cast<int64_t>(kBytes) / nt / 4096 * 4096;
      benchmark::DoNotOptimize(bench::read_streams(buf + t * share, share, streams, prefetch));
    });
  }
  const double bytes = static_cast<double>(kBytes) * static_cast<double>(st.iterations());
  st.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
  st.counters["of_triad"] = triad.of_triad(bytes);
}

// Qwen3-30B-A3B attention: 32 query heads, 4 kv heads, head_dim 128. range(0) = sequences
// decoding one token each at context range(1), or with range(0) = 0 one prompt of range(1)
// tokens prefilled.
void BM_Attention(benchmark::State& st) {
  const int64_t heads = 32, kvh = 4, hd = 128, bs = 16;
  const bool prefill = st.range(0) == 0;
  const int64_t seqs = prefill ? 1 : st.range(0), ctx = st.range(1);
  const int64_t blocks_per = (ctx + bs - 1) / bs;
  const auto kc =
      random_floats(static_cast<size_t>(seqs * blocks_per * bs * kvh * hd), 5, -1.f, 1.f);
  const auto vc = random_floats(kc.size(), 6, -1.f, 1.f);
  std::vector<int32_t> tables(static_cast<size_t>(seqs * blocks_per));
  for (size_t i = 0; i < tables.size(); ++i)
    tables[i] = static_cast<int32_t>(i);
  const int64_t qlen = prefill ? ctx : 1;
  std::vector<int32_t> qs(static_cast<size_t>(seqs + 1)), lens(static_cast<size_t>(seqs), ctx);
  for (int64_t s = 0; s <= seqs; ++s)
    qs[s] = static_cast<int32_t>(s * qlen);
  const auto q = random_floats(static_cast<size_t>(seqs * qlen * heads * hd), 7, -1.f, 1.f);
  std::vector<float> out(q.size());
  PagedAttentionArgs a;
  a.q = q.data();
  a.out = out.data();
  a.k_cache = kc.data();
  a.v_cache = vc.data();
  a.block_tables = tables.data();
  a.query_start = qs.data();
  a.context_lens = lens.data();
  a.num_seqs = seqs;
  a.max_blocks_per_seq = blocks_per;
  a.num_heads = heads;
  a.num_kv_heads = kvh;
  a.head_dim = hd;
  a.block_size = bs;
  a.ld_q = heads * hd;
  a.ld_out = heads * hd;
  a.scale = 1.0f / std::sqrt(128.f);
  for (auto _ : st)
    paged_attention(a, &pool());
  const double pairs = prefill ? 0.5 * ctx * (ctx + 1) : static_cast<double>(seqs * ctx);
  st.counters["GFLOP/s"] = benchmark::Counter(4.0 * pairs * heads * hd * st.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}

void BM_RmsNorm(benchmark::State& st) {
  const int64_t rows = st.range(0), dim = 2048;
  auto x = random_floats(static_cast<size_t>(rows * dim), 8, -1.f, 1.f);
  const auto w = random_floats(static_cast<size_t>(dim), 9, -1.f, 1.f);
  std::vector<float> y(x.size());
  RmsNormArgs a;
  a.x = x.data();
  a.w = w.data();
  a.y = y.data();
  a.rows = rows;
  a.dim = dim;
  for (auto _ : st)
    rms_norm(a, &pool());
  st.SetBytesProcessed(st.iterations() * rows * dim * 8);
}

void BM_SiluMul(benchmark::State& st) {
  const int64_t rows = st.range(0), inter = 768;
  const auto gu = random_floats(static_cast<size_t>(rows * 2 * inter), 10, -1.f, 1.f);
  std::vector<float> out(static_cast<size_t>(rows * inter));
  for (auto _ : st)
    silu_mul(gu.data(), rows, inter, 2 * inter, out.data(), inter, &pool());
  st.SetBytesProcessed(st.iterations() * rows * inter * 12);
}

// The sampler's exp over a whole vocabulary (Qwen3's), one thread.
void BM_ExpShifted(benchmark::State& st) {
  const int64_t n = st.range(0);
  const auto x = random_floats(static_cast<size_t>(n), 13, -1.f, 1.f);
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : st)
    benchmark::DoNotOptimize(exp_shifted(x.data(), n, 1.0f, 1.0f, out.data()));
  st.SetBytesProcessed(st.iterations() * n * 8);
}

void BM_Rope(benchmark::State& st) {
  const int64_t tokens = st.range(0), heads = 32, hd = 128;
  auto x = random_floats(static_cast<size_t>(tokens * heads * hd), 11, -1.f, 1.f);
  std::vector<float> inv(hd / 2);
  for (int64_t i = 0; i < hd / 2; ++i)
    inv[i] = std::pow(1e6f, -2.0f * i / hd);
  std::vector<int32_t> pos(static_cast<size_t>(tokens));
  for (int64_t t = 0; t < tokens; ++t)
    pos[t] = static_cast<int32_t>(t);
  RopeArgs a;
  a.x = x.data();
  a.positions = pos.data();
  a.inv_freq = inv.data();
  a.tokens = tokens;
  a.heads = heads;
  a.head_dim = hd;
  a.rotary_dim = hd;
  a.ld_token = heads * hd;
  for (auto _ : st)
    rope(a, &pool());
}

void BM_SoftmaxTopk(benchmark::State& st) {
  const int64_t tokens = st.range(0), experts = 128, k = 8;
  const auto logits = random_floats(static_cast<size_t>(tokens * experts), 12, -1.f, 1.f);
  std::vector<int32_t> ids(static_cast<size_t>(tokens * k));
  std::vector<float> w(ids.size());
  TopkArgs a;
  a.logits = logits.data();
  a.tokens = tokens;
  a.experts = experts;
  a.k = k;
  a.ids = ids.data();
  a.weights = w.data();
  for (auto _ : st)
    softmax_topk(a);
}

// Load-time packing of a bf16 checkpoint matrix [1536, 2048] into the bf16 panel layout.
void BM_PackBf16(benchmark::State& st) {
  const int64_t n = 1536, k = 2048;
  const auto src = random_floats(static_cast<size_t>(n * k), 13, -1.f, 1.f);
  std::vector<uint16_t> bf(src.size());
  for (size_t i = 0; i < src.size(); ++i)
    bf[i] = static_cast<uint16_t>(src[i] * 100);
  for (auto _ : st) {
    PackedMatrix w = pack_matrix(bf.data(), ElemType::kBF16, n, k, ElemType::kBF16);
    benchmark::DoNotOptimize(w.storage.get());
  }
  st.SetBytesProcessed(st.iterations() * n * k * 2);
}

void BM_ForkJoin(benchmark::State& st) {
  for (auto _ : st)
    pool().run_on_all([](int, int) {});
}

struct GemmShape {
  const char* name;
  int64_t n, k;
  bool lm_head;
};
const GemmShape kShapes[] = {
    {"expert_gate_up", 1536, 2048, false},
    {"expert_down", 2048, 768, false},
    {"q_proj", 4096, 2048, false},
    {"kv_proj", 512, 2048, false},
    {"o_proj", 2048, 4096, false},
    {"lm_head", 151936, 2048, true},
    // The built-in default model's: a real vocabulary over a tiny hidden size (short K).
    {"lm_head_short_k", 151669, 128, true},
};

void register_all() {
  benchmark::RegisterBenchmark("triad", BM_Triad)->UseManualTime()->Iterations(1);
  benchmark::RegisterBenchmark("dpbf16_peak", BM_Dpbf16Peak)->UseManualTime()->Iterations(1);
  for (ElemType type : {ElemType::kBF16, ElemType::kF32, ElemType::kI8, ElemType::kI4,
                        ElemType::kMXFP4, ElemType::kFP8}) {
    const bool quantized = is_quantized(type);
    for (const GemmShape& s : kShapes) {
      if (s.lm_head && type == ElemType::kF32) continue;
      // Quantized rows: the MoE expert shapes and the lm_head (most of a decode step's bytes).
      if (quantized && !(s.lm_head || std::string(s.name).rfind("expert", 0) == 0)) continue;
      const std::string name = std::string("gemm_") + elem_type_name(type) + "/" + s.name + "/n" +
                               std::to_string(s.n) + "_k" + std::to_string(s.k);
      auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_Gemm, type, s.name, s.n, s.k);
      b->ArgName("m")->UseRealTime()->Unit(benchmark::kMicrosecond);
      if (s.lm_head) {
        b->Arg(1)->Arg(8);
      } else if (quantized) {
        b->Arg(1)->Arg(8)->Arg(512);
      } else {
        b->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16)->Arg(32)->Arg(64)->Arg(512);
      }
    }
  }
  if (internal::isa_supported(internal::Isa::kAvx512) && __builtin_cpu_supports("avx512bf16")) {
    benchmark::RegisterBenchmark("read_streams", BM_ReadStreams)
        ->ArgNames({"streams", "prefetch"})
        ->Args({1, 8192})
        ->Args({4, 3072})
        ->Args({4, 8192})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (ElemType type :
       {ElemType::kBF16, ElemType::kI8, ElemType::kI4, ElemType::kMXFP4, ElemType::kFP8}) {
    const std::string name = std::string("moe_gate_up_") + elem_type_name(type);
    benchmark::RegisterBenchmark(name.c_str(), BM_MoeMany, type, int64_t{1536}, int64_t{2048})
        ->ArgNames({"experts", "rows"})
        ->Args({8, 1})
        ->Args({128, 32})
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("attention", BM_Attention)
      ->ArgNames({"seqs", "ctx"})
      ->Args({1, 1024})
      ->Args({8, 4096})
      ->Args({0, 512})
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("rms_norm", BM_RmsNorm)->Arg(1)->Arg(512)->UseRealTime();
  benchmark::RegisterBenchmark("silu_mul", BM_SiluMul)->Arg(8)->Arg(512)->UseRealTime();
  benchmark::RegisterBenchmark("exp_shifted", BM_ExpShifted)->Arg(151936)->UseRealTime();
  benchmark::RegisterBenchmark("rope", BM_Rope)->Arg(1)->Arg(512)->UseRealTime();
  benchmark::RegisterBenchmark("softmax_topk", BM_SoftmaxTopk)->Arg(1)->Arg(512)->UseRealTime();
  benchmark::RegisterBenchmark("fork_join", BM_ForkJoin)->UseRealTime();
  benchmark::RegisterBenchmark("pack_bf16", BM_PackBf16)->Unit(benchmark::kMillisecond);
}

}  // namespace
}  // namespace sieve::kernels

int main(int argc, char** argv) {
  using namespace sieve::kernels;
  benchmark::Initialize(&argc, argv);
  g_triad_gbps = measure_triad();
  g_peak_gflops = measure_peak();
  std::printf("threads %d, isa %s, triad %.1f GB/s, vdpbf16ps peak %.0f GFLOP/s\n", pool().size(),
              cpu_isa_name(), g_triad_gbps, g_peak_gflops);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
