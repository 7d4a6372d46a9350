// sieve-gpu-bench: the CUDA engine's decode and prefill speed on a model of real shapes (by
// default --load-format dummy: only config.json, weights made on the device), each figure next
// to its roofline measured in the same run:
//   memory:  bytes a step must read (weights of the layers and of the experts the batch touches,
//            plus the KV cache) ÷ the device-to-device copy bandwidth;
//   compute: the step's FLOPs ÷ the rate of a large bf16 cuBLASLt GEMM.
// The roofline time is the larger of the two; ratio = roofline time ÷ measured time (1 = at the
// roofline).
//
//   sieve make-checkpoint --preset qwen3-30b-a3b --config-only --out /tmp/q30b
//   sieve-gpu-bench --model /tmp/q30b
// Without a CUDA device it measures nothing and exits 77; with one that cannot be used, 1.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "engine/engine.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/gemm.h"
#include "models/model_size.h"
#include "tools/bench/engine_timing.h"
#include "tools/sieve/model_loading.h"

namespace sieve {
namespace {

using bench::best_prefill_seconds;
using bench::decode_step_seconds;

// Best of 5 timings (CUDA events on the default stream) of `launch`, in milliseconds.
template <class F>
float best_ms_of_5(F&& launch) {
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  float best = 1e30f;
  for (int i = 0; i < 5; ++i) {
    cudaEventRecord(e0);
    launch();
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    best = std::min(best, ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return best;
}

// Device-to-device copy bandwidth, read + write bytes ÷ time, best of 5 × 1 GiB.
double measure_copy_gbps() {
  const size_t bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  SIEVE_CUDA_CHECK(cudaMalloc(&a, bytes));
  SIEVE_CUDA_CHECK(cudaMalloc(&b, bytes));
  SIEVE_CUDA_CHECK(cudaMemset(a, 1, bytes));
  const float best =
      best_ms_of_5([&] { SIEVE_CUDA_CHECK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice)); });
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) / (best * 1e-3) / 1e9;
}

// A bf16 GEMM of 8192³ through cuBLASLt, TFLOP/s, best of 5.
double measure_bf16_tflops() {
  const int64_t n = 8192;
  void *x = nullptr, *w = nullptr, *y = nullptr;
  SIEVE_CUDA_CHECK(cudaMalloc(&x, n * n * 2));
  SIEVE_CUDA_CHECK(cudaMalloc(&w, n * n * 2));
  SIEVE_CUDA_CHECK(cudaMalloc(&y, n * n * 4));
  SIEVE_CUDA_CHECK(cudaMemset(x, 0x3c, n * n * 2));  // small non-zero bf16 values
  SIEVE_CUDA_CHECK(cudaMemset(w, 0x3c, n * n * 2));
  cuda::LtGemm gemm;
  cuda::GemmParams p;
  p.x = x;
  p.w = w;
  p.y = static_cast<float*>(y);
  p.m = p.n = p.k = n;
  p.type = cuda::WeightType::kBF16;
  gemm.run(p, nullptr);  // warm-up: the plan is made here
  const float best = best_ms_of_5([&] { gemm.run(p, nullptr); });
  cudaFree(x);
  cudaFree(w);
  cudaFree(y);
  return 2.0 * n * n * n / (best * 1e-3) / 1e12;
}

struct StepCost {
  double bytes = 0;  // that must be read
  double flops = 0;
};

// Decode of `batch` sequences at context `ctx`: the attention and dense weights once, the
// experts the batch is expected to touch (uniform routing: E · (1 − (1 − k/E)^batch) per layer),
// the lm_head, and every sequence's KV cache (fp32).
StepCost decode_cost(const ModelConfig& c, DType wdt, int64_t batch, int64_t ctx) {
  const double w = static_cast<double>(dtype_size(wdt));
  const double h = static_cast<double>(c.hidden_size);
  const double attn = h * c.q_size() * 2 + 2 * h * c.kv_size();
  const double expert = 3 * h * c.moe_intermediate_size;
  const double touched =
      c.num_experts * (1.0 - std::pow(1.0 - static_cast<double>(c.top_k) / c.num_experts, batch));
  StepCost s;
  double weights = static_cast<double>(c.vocab_size) * h;  // lm_head
  for (int64_t l = 0; l < c.num_layers; ++l) {
    weights += attn;
    weights += c.layer_is_moe[l] ? c.num_experts * h + touched * expert
                                 : 3 * h * static_cast<double>(c.intermediate_size);
  }
  s.bytes =
      weights * w + static_cast<double>(batch) * ctx * kv_layout(c).bytes_per_token(DType::kF32);
  s.flops = 2.0 * static_cast<double>(count_params(c).active) * batch +
            4.0 * batch * ctx * c.q_size() * c.num_layers;  // QKᵀ and PV
  return s;
}

StepCost prefill_cost(const ModelConfig& c, DType wdt, int64_t tokens) {
  StepCost s;
  const ModelSize size = count_params(c);
  s.bytes = static_cast<double>(size.total) * dtype_size(wdt);
  s.flops = 2.0 * static_cast<double>(size.active) * tokens +
            2.0 * static_cast<double>(tokens) * tokens * c.q_size() * c.num_layers;  // causal
  return s;
}

struct Row {
  std::string name;
  double tokens_per_s = 0, step_ms = 0, roofline_ms = 0;
  const char* bound = "";
};

Row ratio_row(std::string name, double tokens, double secs, const StepCost& cost, double gbps,
              double tflops) {
  Row r;
  r.name = std::move(name);
  r.tokens_per_s = tokens / secs;
  r.step_ms = secs * 1e3;
  const double mem_ms = cost.bytes / (gbps * 1e9) * 1e3;
  const double flop_ms = cost.flops / (tflops * 1e12) * 1e3;
  r.roofline_ms = std::max(mem_ms, flop_ms);
  r.bound = mem_ms >= flop_ms ? "memory" : "compute";
  return r;
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    out.push_back(std::stoll(item));
  return out;
}

}  // namespace
}  // namespace sieve

int main(int argc, char** argv) {
  using namespace sieve;
  std::string model_dir, batches = "1,8,64,256";
  int64_t context = 1024, decode_steps = 32, prefill_len = 2048;
  EngineFlags flags;
  flags.backend = "cuda";
  flags.dtype = "bf16";
  flags.load_format = "dummy";
  CLI::App app{"sieve-gpu-bench: CUDA engine decode/prefill speed next to the roofline",
               "sieve-gpu-bench"};
  app.add_option("--model", model_dir, "Model directory (config.json is enough)")->required();
  app.add_option("--dtype", flags.dtype, "Weight dtype: bf16 or fp32")->capture_default_str();
  app.add_option("--load-format", flags.load_format, "dummy or safetensors")->capture_default_str();
  app.add_option("--gpu-memory-utilization", flags.gpu_memory_utilization,
                 "Fraction of GPU memory to use")
      ->capture_default_str();
  app.add_flag("--enforce-eager", flags.enforce_eager, "No CUDA graphs");
  app.add_flag("--moe-autotune", flags.moe_autotune,
               "Time every MoE expert-product kernel on each new shape's first (warm-up) run and "
               "keep the fastest, instead of the built-in rule");
  app.add_option("--moe-tuning-cache", flags.moe_tuning_cache,
                 "JSON file of tuned MoE kernel choices for this GPU (read, and written with "
                 "--moe-autotune)");
  app.add_option("--batches", batches, "Decode batch sizes, comma-separated")
      ->capture_default_str();
  app.add_option("--context", context, "Tokens in each sequence's cache during decode")
      ->capture_default_str();
  app.add_option("--decode-steps", decode_steps, "Timed decode steps")->capture_default_str();
  app.add_option("--prefill-tokens", prefill_len, "Prompt length of the prefill test")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (const cuda::DeviceInfo& dev = cuda::device_info(); !dev.available) {
    return cuda::exit_without_device(dev, "sieve-gpu-bench");
  }

  const std::vector<int64_t> sizes = parse_list(batches);
  flags.max_num_seqs = *std::max_element(sizes.begin(), sizes.end());
  flags.max_num_batched_tokens = std::max<int64_t>(8192, prefill_len);
  flags.max_model_len = context + decode_steps + 16;
  auto loaded = load_engine_model(model_dir, flags);
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.status().message());
    return 1;
  }
  Model& model = *loaded->model;
  const ModelConfig& c = model.config();
  const EngineOptions base = loaded->engine_options(flags);
  // Decode batches are prefilled in few steps (the prompts may exceed the serving budget).
  EngineOptions decode_base = base;
  decode_base.max_num_batched_tokens = std::max<int64_t>(8192, base.max_num_batched_tokens);

  const double gbps = measure_copy_gbps();
  const double tflops = measure_bf16_tflops();
  std::vector<Row> rows;
  for (int64_t b : sizes) {
    const double secs =
        decode_step_seconds(model, *loaded->backend, decode_base, b, context, decode_steps);
    rows.push_back(ratio_row("decode b" + std::to_string(b) + " ctx " + std::to_string(context),
                             static_cast<double>(b), secs,
                             decode_cost(c, loaded->weight_dtype, b, context), gbps, tflops));
  }
  const double pf = best_prefill_seconds(model, *loaded->backend, base, prefill_len, 3);
  rows.push_back(ratio_row("prefill " + std::to_string(prefill_len) + " tokens",
                           static_cast<double>(prefill_len), pf,
                           prefill_cost(c, loaded->weight_dtype, prefill_len), gbps, tflops));

  std::printf("\nsieve-gpu-bench  %s  %s weights  %s\n", model_dir.c_str(),
              dtype_name(loaded->weight_dtype), loaded->backend->name().c_str());
  std::printf("  references measured now: copy %.0f GB/s, bf16 GEMM %.0f TFLOP/s\n", gbps, tflops);
  std::printf("  %-26s %12s %10s %12s %8s %8s\n", "figure", "tokens/s", "step ms", "roofline ms",
              "bound", "ratio");
  for (const Row& r : rows) {
    std::printf("  %-26s %12.1f %10.3f %12.3f %8s %8.3f\n", r.name.c_str(), r.tokens_per_s,
                r.step_ms, r.roofline_ms, r.bound, r.roofline_ms / r.step_ms);
  }
  return 0;
}
