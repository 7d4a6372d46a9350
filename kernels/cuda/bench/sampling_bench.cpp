// Benchmark rows for sampling at vocab 151936 (Qwen3), rows 1/64/256: argmax alone and full
// sampling (temperature 0.8, top_k 50, top_p 0.9, no penalties). GB/s = logit bytes ÷ time (one
// read of the logits; full sampling reads them ~12 times from L2), of_copy = GB/s ÷ the
// device-to-device copy bandwidth.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/cuda/bench/bench_common.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/sampling.h"

namespace sieve::cuda::bench {
namespace {

constexpr int64_t kVocab = 151936;
constexpr int kIters = 20;

// Device memory for one benchmark row.
template <class T>
struct Dev {
  explicit Dev(const std::vector<T>& h) : n(h.size()) {
    SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)));
    SIEVE_CUDA_CHECK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* p = nullptr;
  size_t n;
};

std::vector<float> logits(int64_t rows) {
  std::vector<float> h(static_cast<size_t>(rows * kVocab));
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 3.f);
  for (float& x : h)
    x = d(rng);
  return h;
}

template <class F>
void run_row(benchmark::State& state, int64_t rows, F&& launch) {
  const double bytes = static_cast<double>(rows * kVocab) * sizeof(float);
  double total_ms = 0;
  int64_t samples = 0;
  for (auto _ : state) {
    const double ms = time_ms(nullptr, kIters, launch);
    state.SetIterationTime(ms * 1e-3);
    total_ms += ms;
    ++samples;
  }
  const double gbps = bytes / (total_ms / static_cast<double>(samples) * 1e-3) / 1e9;
  state.counters["GB/s"] = gbps;
  state.counters["of_copy"] = gbps / copy_gbps();
}

void BM_Argmax(benchmark::State& state) {
  const int64_t rows = state.range(0);
  Dev<float> x(logits(rows));
  Dev<int32_t> out(std::vector<int32_t>(static_cast<size_t>(rows)));
  run_row(state, rows, [&] { argmax(Logits{x.p, rows, kVocab}, out.p, nullptr); });
}

void BM_SampleTopKTopP(benchmark::State& state) {
  const int64_t rows = state.range(0);
  Dev<float> x(logits(rows));
  Dev<int32_t> out(std::vector<int32_t>(static_cast<size_t>(rows)));
  std::vector<RowSampling> h(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    h[r] = RowSampling{};
    h[r].temperature = 0.8f;
    h[r].top_p = 0.9f;
    h[r].repetition_penalty = 1.f;
    h[r].top_k = 50;
    h[r].seed = 1;
    h[r].offset = static_cast<uint64_t>(r);
  }
  Dev<RowSampling> params(h);
  SampleParams p;
  p.logits = x.p;
  p.rows = rows;
  p.vocab = kVocab;
  p.row_params = params.p;
  p.sampled = out.p;
  run_row(state, rows, [&] { sample(p, nullptr); });
}

BENCHMARK(BM_Argmax)->Arg(1)->Arg(64)->Arg(256)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SampleTopKTopP)
    ->Arg(1)
    ->Arg(64)
    ->Arg(256)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sieve::cuda::bench
