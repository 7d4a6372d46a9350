// sieve-cpu-bench: the CPU engine's decode and prefill speed on a real checkpoint, next to the
// machine's memory bandwidth measured in the same run and llama.cpp's figures on the same
// shapes (the reference of the foundation issue).
//
//   sieve make-checkpoint --preset qwen3-30b-a3b --layers 6 --dtype bf16 --out /tmp/q30b-6l
//   sieve-cpu-bench --model /tmp/q30b-6l --threads 2 --dtype bf16
#include <algorithm>
#include <cstdio>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "engine/engine.h"
#include "kernels/cpu/triad.h"
#include "models/model_size.h"
#include "tools/bench/engine_timing.h"
#include "tools/sieve/model_loading.h"

namespace sieve {
namespace {

using bench::best_prefill_seconds;
using bench::decode_block_seconds;
using bench::decode_step_seconds;

// Batch-1 decode is timed in blocks of this many steps, each bracketed by triad samples.
constexpr int64_t kStepsPerBlock = 8;
// The bracketing triad: 3 × 64 MiB (twice the L3 of the machines this runs on), best of 3.
constexpr size_t kBracketTriadBytes = size_t{64} << 20;
constexpr int kBracketTriadReps = 3;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Weight bytes one batch-1 decode step must read: everything a token touches (attention,
// router, its top-k experts, norms, lm_head), plus one embedding row.
double decode_bytes_per_step(const ModelConfig& c, DType weight_dtype) {
  return static_cast<double>(count_params(c).active) * dtype_size(weight_dtype);
}

}  // namespace
}  // namespace sieve

int main(int argc, char** argv) {
  using namespace sieve;
  std::string model_dir, dtype = "bf16";
  int threads = 2;
  int64_t decode_steps = 64, prefill_len = 512;
  double ref_decode = 26.8, ref_prefill = 204;
  CLI::App app{
      "sieve-cpu-bench: CPU engine decode/prefill speed vs memory bandwidth and "
      "llama.cpp",
      "sieve-cpu-bench"};
  app.add_option("--model", model_dir, "Model directory")->required();
  app.add_option("--dtype", dtype, "Weight dtype: fp32, bf16, auto")->capture_default_str();
  app.add_option("--threads", threads, "CPU threads")->capture_default_str();
  std::string load_format = "auto";
  app.add_option("--load-format", load_format,
                 "auto: read the checkpoint; dummy: config.json only, random weights in memory")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "safetensors", "dummy"}));
  app.add_option("--decode-steps", decode_steps,
                 "Timed decode steps (batch 1: in blocks of 8, each between two triad samples)")
      ->capture_default_str();
  app.add_option("--prefill-tokens", prefill_len, "Prompt length of the prefill test")
      ->capture_default_str();
  app.add_option("--ref-decode", ref_decode, "Reference decode tokens/s (llama.cpp tg128 BF16)")
      ->capture_default_str();
  app.add_option("--ref-prefill", ref_prefill, "Reference prefill tokens/s (llama.cpp pp512 BF16)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  EngineFlags flags;
  flags.dtype = dtype;
  flags.threads = threads;
  flags.load_format = load_format;
  flags.backend = "cpu";  // this benchmark measures the CPU engine against the CPU's bandwidth
  auto loaded = load_engine_model(model_dir, flags);
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.status().message());
    return 1;
  }
  Model& model = *loaded->model;
  Backend& backend = *loaded->backend;
  const ModelConfig& c = model.config();

  kernels::ThreadPool& pool = *loaded->cpu()->pool();
  const kernels::TriadResult triad = kernels::measure_triad(pool);
  EngineOptions base;
  base.max_num_batched_tokens = 4096;
  base.kv_cache_bytes = 1ll << 30;
  // Batch 1 in blocks with the bandwidth sampled between them: the machine's bandwidth drifts
  // (by half within seconds on a shared host), so each block is compared with the triad taken
  // right before and right after it.
  kernels::TriadMeter meter(pool, kBracketTriadBytes, true);
  std::vector<double> bracket;
  const int64_t blocks = std::max<int64_t>(1, (decode_steps + kStepsPerBlock - 1) / kStepsPerBlock);
  const std::vector<double> block_secs =
      decode_block_seconds(model, backend, base, 1, 16, blocks, kStepsPerBlock,
                           [&] { bracket.push_back(meter.best_gbps(kBracketTriadReps)); });
  const double bytes = decode_bytes_per_step(c, loaded->weight_dtype);
  double step1 = 0, near_triad = 0;
  std::vector<double> block_ratio;
  for (size_t b = 0; b < block_secs.size(); ++b) {
    const double around = (bracket[b] + bracket[b + 1]) / 2;
    step1 += block_secs[b] / static_cast<double>(block_secs.size());
    near_triad += around / static_cast<double>(block_secs.size());
    block_ratio.push_back(bytes / block_secs[b] / 1e9 / around);
  }
  const double tps1 = 1.0 / step1;
  // Batch 8 and prefill are compute-heavier; their references are llama.cpp and batch 1.
  const double tps8 = 8.0 / decode_step_seconds(model, backend, base, 8, 16, decode_steps);
  const double prefill = prefill_len / best_prefill_seconds(model, backend, base, prefill_len, 3);
  const double gbps = bytes / step1 / 1e9;
  const auto [lo, hi] = std::minmax_element(block_ratio.begin(), block_ratio.end());

  std::printf("\nsieve-cpu-bench  %s  %s weights  %d threads\n", model_dir.c_str(),
              dtype_name(loaded->weight_dtype), threads);
  std::printf("  %-38s %10s %12s %8s\n", "figure", "value", "reference", "ratio");
  std::printf("  %-38s %10.2f %12.2f %8.2f\n", "triad GB/s (2 MiB pages)", triad.gbps_huge_pages,
              34.8, triad.gbps_huge_pages / 34.8);
  std::printf("  %-38s %10.2f %12.2f %8.2f\n", "triad GB/s (4 KiB pages)", triad.gbps_small_pages,
              29.7, triad.gbps_small_pages / 29.7);
  std::printf("  %-38s %10.2f %12.2f %8.2f\n", "decode b1 tok/s (vs llama.cpp)", tps1, ref_decode,
              tps1 / ref_decode);
  std::printf("  %-38s %10.2f %12.2f %8.2f  (target >= 0.90)\n",
              "decode b1 GB/s (vs triad, same time)", gbps, near_triad, gbps / near_triad);
  std::printf("  %-38s %10.2f %12.2f %8.2f\n", "decode b1 GB/s (vs triad at start)", gbps,
              triad.gbps_huge_pages, gbps / triad.gbps_huge_pages);
  std::printf("  %-38s %10.2f %12s %8s  (%zu blocks of %lld steps, min %.2f, max %.2f)\n",
              "decode b1 GB/s / triad per block", median(block_ratio), "median", "",
              block_ratio.size(), static_cast<long long>(kStepsPerBlock), *lo, *hi);
  std::printf("  %-38s %10.2f %12s %8s\n", "decode b1 GB read per step", bytes / 1e9, "", "");
  std::printf("  %-38s %10.2f %12.2f %8.2f\n", "decode b8 tok/s (vs b1)", tps8, tps1, tps8 / tps1);
  std::printf("  %-38s %10.2f %12.2f %8.2f  (target >= 1.50)\n", "prefill tok/s (vs llama.cpp)",
              prefill, ref_prefill, prefill / ref_prefill);
  return 0;
}
