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
#include "tools/bench/engine_timing.h"
#include "tools/sieve/model_loading.h"

namespace sieve {
namespace {

using bench::best_prefill_seconds;
using bench::decode_step_seconds;

// Weight bytes one batch-1 decode step must read: everything a token touches (attention,
// router, its top-k experts, norms, lm_head), plus one embedding row.
double decode_bytes_per_step(const ModelConfig& c, DType weight_dtype) {
  return static_cast<double>(c.active_params()) * dtype_size(weight_dtype);
}

}  // namespace
}  // namespace sieve

int main(int argc, char** argv) {
  using namespace sieve;
  std::string model_dir, dtype = "bf16";
  int threads = 2;
  int64_t decode_steps = 32, prefill_len = 512;
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
  app.add_option("--decode-steps", decode_steps, "Timed decode steps")->capture_default_str();
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

  const kernels::TriadResult triad = kernels::measure_triad(*loaded->cpu()->pool());
  EngineOptions base;
  base.max_num_batched_tokens = 4096;
  base.kv_cache_bytes = 1ll << 30;
  // Batches of 16-token prompts; tokens per second = batch / step time.
  const double step1 = decode_step_seconds(model, backend, base, 1, 16, decode_steps);
  const double tps1 = 1.0 / step1;
  const double tps8 = 8.0 / decode_step_seconds(model, backend, base, 8, 16, decode_steps);
  const double prefill = prefill_len / best_prefill_seconds(model, backend, base, prefill_len, 3);
  const double bytes = decode_bytes_per_step(c, loaded->weight_dtype);
  const double gbps = bytes / step1 / 1e9;
  const double best_triad = std::max(triad.gbps_huge_pages, triad.gbps_small_pages);

  std::printf("\nsieve-cpu-bench  %s  %s weights  %d threads\n", model_dir.c_str(),
              dtype_name(loaded->weight_dtype), threads);
  std::printf("  %-34s %10s %12s %8s\n", "figure", "value", "reference", "ratio");
  std::printf("  %-34s %10.2f %12.2f %8.2f\n", "triad GB/s (2 MiB pages)", triad.gbps_huge_pages,
              34.8, triad.gbps_huge_pages / 34.8);
  std::printf("  %-34s %10.2f %12.2f %8.2f\n", "triad GB/s (4 KiB pages)", triad.gbps_small_pages,
              29.7, triad.gbps_small_pages / 29.7);
  std::printf("  %-34s %10.2f %12.2f %8.2f\n", "decode b1 tok/s (vs llama.cpp)", tps1, ref_decode,
              tps1 / ref_decode);
  std::printf("  %-34s %10.2f %12.2f %8.2f  (target >= 0.90)\n", "decode b1 GB/s (vs triad)", gbps,
              best_triad, gbps / best_triad);
  std::printf("  %-34s %10.2f %12s %8s\n", "decode b1 GB read per step", bytes / 1e9, "", "");
  std::printf("  %-34s %10.2f %12.2f %8.2f\n", "decode b8 tok/s (vs b1)", tps8, tps1, tps8 / tps1);
  std::printf("  %-34s %10.2f %12.2f %8.2f  (target >= 1.50)\n", "prefill tok/s (vs llama.cpp)",
              prefill, ref_prefill, prefill / ref_prefill);
  return 0;
}
