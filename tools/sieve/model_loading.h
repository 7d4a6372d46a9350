// Opening and loading a model for a subcommand, with a progress bar and one log line.
#pragma once

#include <memory>
#include <string>

#include "engine/cpu_backend.h"
#include "models/registry.h"
#include "tools/sieve/engine_flags.h"

namespace sieve {

struct LoadedCpuModel {
  std::unique_ptr<CpuBackend> backend;
  ModelDir dir;
  std::unique_ptr<Model> model;
  DType weight_dtype = DType::kF32;
};

// --model and the engine flags (--dtype, --threads, --load-format) → a model on the CPU
// backend, or the error to print.
Result<LoadedCpuModel> load_cpu_model(const std::string& model_dir, const EngineFlags& flags);

}  // namespace sieve
