// sieve-cpu-bench: the CPU engine's decode and prefill speed on a real checkpoint, next to the
// machine's memory bandwidth measured in the same run and llama.cpp's figures on the same
// shapes (the reference of the foundation issue).
//
//   sieve make-checkpoint --preset qwen3-30b-a3b --layers 6 --dtype bf16 --out /tmp/q30b-6l
//   sieve-cpu-bench --model /tmp/q30b-6l --threads 2 --dtype bf16
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "engine/engine.h"
#include "kernels/cpu/triad.h"
#include "tools/bench/bench_util.h"
#include "tools/sieve/model_loading.h"

namespace sieve {
namespace {

using bench::Clock;
using bench::random_prompt;
using bench::seconds_since;

struct DecodeResult {
  double tokens_per_s = 0;
  double step_s = 0;
};

// `batch` sequences with short prompts, then `steps` decode steps timed (each step one token
// per sequence). Greedy, EOS ignored, so every step has the full batch.
DecodeResult bench_decode(Model& model, Backend& backend, int64_t batch, int64_t steps) {
  EngineOptions o;
  o.max_num_seqs = batch;
  o.max_num_batched_tokens = 4096;
  o.kv_cache_bytes = 1ll << 30;
  Engine engine(model, backend, o);
  for (int64_t i = 0; i < batch; ++i) {
    GenerationRequest r;
    r.prompt_token_ids = random_prompt(16, model.config().vocab_size, 100 + i);
    r.params.temperature = 0;
    r.params.ignore_eos = true;
    r.params.max_tokens = steps + 2;
    (void)engine.add_request(std::move(r), {});
  }
  engine.step();  // prefill (and the first token)
  engine.step();  // one decode step as warm-up
  const auto t0 = Clock::now();
  for (int64_t s = 0; s < steps; ++s)
    engine.step();
  const double secs = seconds_since(t0);
  return {static_cast<double>(batch * steps) / secs, secs / steps};
}

// One prompt of `len` tokens in one step; best of `reps`.
double bench_prefill(Model& model, Backend& backend, int64_t len, int reps) {
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    EngineOptions o;
    o.max_num_seqs = 1;
    o.max_num_batched_tokens = len;
    o.kv_cache_bytes = 1ll << 30;
    Engine engine(model, backend, o);
    GenerationRequest req;
    req.prompt_token_ids = random_prompt(len, model.config().vocab_size, 7 + r);
    req.params.max_tokens = 1;
    (void)engine.add_request(std::move(req), {});
    const auto t0 = Clock::now();
    engine.step();
    best = std::max(best, len / seconds_since(t0));
  }
  return best;
}

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
  const DecodeResult d1 = bench_decode(model, backend, 1, decode_steps);
  const DecodeResult d8 = bench_decode(model, backend, 8, decode_steps);
  const double prefill = bench_prefill(model, backend, prefill_len, 3);
  const double bytes = decode_bytes_per_step(c, loaded->weight_dtype);
  const double gbps = bytes / d1.step_s / 1e9;
  const double best_triad = std::max(triad.gbps_huge_pages, triad.gbps_small_pages);

  std::printf("\nsieve-cpu-bench  %s  %s weights  %d threads\n", model_dir.c_str(),
              dtype_name(loaded->weight_dtype), threads);
  std::printf("  %-34s %10s %12s %8s\n", "figure", "value", "reference", "ratio");
  std::printf("  %-34s %10.2f %12.2f %8.2f\n", "triad GB/s (2 MiB pages)", triad.gbps_huge_pages,
              34.8, triad.gbps_huge_pages / 34.8);
  std::printf("  %-34s %10.2f %12.2f %8.2f\n", "triad GB/s (4 KiB pages)", triad.gbps_small_pages,
              29.7, triad.gbps_small_pages / 29.7);
  std::printf("  %-34s %10.2f %12.2f %8.2f\n", "decode b1 tok/s (vs llama.cpp)", d1.tokens_per_s,
              ref_decode, d1.tokens_per_s / ref_decode);
  std::printf("  %-34s %10.2f %12.2f %8.2f  (target >= 0.90)\n", "decode b1 GB/s (vs triad)", gbps,
              best_triad, gbps / best_triad);
  std::printf("  %-34s %10.2f %12s %8s\n", "decode b1 GB read per step", bytes / 1e9, "", "");
  std::printf("  %-34s %10.2f %12.2f %8.2f\n", "decode b8 tok/s (vs b1)", d8.tokens_per_s,
              d1.tokens_per_s, d8.tokens_per_s / d1.tokens_per_s);
  std::printf("  %-34s %10.2f %12.2f %8.2f  (target >= 1.50)\n", "prefill tok/s (vs llama.cpp)",
              prefill, ref_prefill, prefill / ref_prefill);
  return 0;
}
