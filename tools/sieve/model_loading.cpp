#include "tools/sieve/model_loading.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "kernels/cpu/gemm.h"
#include "tools/sieve/progress_bar.h"

namespace sieve {

Result<LoadedCpuModel> load_cpu_model(const std::string& model_dir, const EngineFlags& flags) {
  LoadedCpuModel m;
  SIEVE_ASSIGN_OR_RETURN(const LoadFormat format, parse_load_format(flags.load_format));
  SIEVE_ASSIGN_OR_RETURN(m.dir, open_model_dir(model_dir, format));
  SIEVE_ASSIGN_OR_RETURN(m.weight_dtype, resolve_weight_dtype(flags.dtype, m.dir.config));
  m.backend = std::make_unique<CpuBackend>(flags.threads);
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t total =
      m.dir.checkpoint ? m.dir.checkpoint->total_bytes() : m.dir.weight_bytes(m.weight_dtype);
  ProgressBar bar(m.dir.checkpoint ? "Loading weights" : "Making dummy weights",
                  static_cast<int64_t>(total));
  bar.show_as_bytes();
  LoadProgress progress;
  progress.on_progress = [&bar](uint64_t done, uint64_t) {
    bar.update(static_cast<int64_t>(done));
  };
  SIEVE_ASSIGN_OR_RETURN(m.model, load_model(m.dir, *m.backend, m.weight_dtype, progress));
  bar.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const ModelConfig& c = m.dir.config;
  spdlog::info(
      "loaded {} ({}, {} layers, {} experts top-{}) from {}{} as {} in {:.1f} s: {} of "
      "weights, CPU backend ({}, {} threads)",
      c.architecture, c.model_type, c.num_layers, c.num_experts, c.top_k, model_dir,
      m.dir.checkpoint ? "" : " (dummy weights: config.json only)", dtype_name(m.weight_dtype),
      secs, format_bytes(m.model->weight_bytes()), kernels::cpu_isa_name(),
      m.backend->pool()->size());
  return m;
}

}  // namespace sieve
