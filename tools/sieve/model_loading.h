// Opening and loading a model for a subcommand, on the backend the flags ask for, with a
// progress bar and one log line.
#pragma once

#include <memory>
#include <string>

#include "engine/backends/cpu_backend.h"
#include "engine/experts/routing_recorder.h"
#include "models/registry.h"
#include "tools/sieve/distributed.h"
#include "tools/sieve/engine_flags.h"

namespace sieve {

class HybridMoeExecutor;

struct LoadedModel {
  std::unique_ptr<Backend> backend;
  // --expert-placement (its flags checked with the others, before any weight loads): the host
  // tier's CPU backend (declared before the model, which uses it until it is gone) and the
  // executor (engine/experts/hybrid/hybrid_moe_executor.h), which the model owns.
  std::unique_ptr<CpuBackend> host_tier;
  HybridMoeExecutor* hybrid = nullptr;
  ModelDir dir;
  std::unique_ptr<Model> model;  // on CUDA: decode steps replayed as CUDA graphs
  DType weight_dtype = DType::kF32;
  WeightFormat weight_format;  // weight_dtype, and --quantization
  // Memory the KV cache may take: --kv-cache-gib on the CPU; on a GPU what
  // --gpu-memory-utilization leaves after weights and the largest step's activations.
  int64_t kv_cache_bytes = 0;
  // --record-routing: the trace being written (opened before the weights loaded).
  std::unique_ptr<RoutingRecorder> routing;

  // The CPU backend, or null on another backend.
  CpuBackend* cpu() const { return dynamic_cast<CpuBackend*>(backend.get()); }
  // The flags' engine options with the KV cache sized for this backend, and with --record-routing
  // the engine's routing going to the trace.
  EngineOptions engine_options(const EngineFlags& flags) const;
  // With --record-routing, one log line: how many steps went to which file.
  void log_routing_recorded() const;
};

// --model and the engine flags (--backend, --dtype, --threads, --load-format, --router-skew,
// --record-routing, --gpu-memory-utilization, --enforce-eager) → a loaded model, or the error to
// print. Flags that cannot apply (a bad trace path, --router-skew on a checkpoint) fail before
// the weights load. With `dist` (a multi-rank run), only this rank's experts are loaded.
Result<LoadedModel> load_engine_model(const std::string& model_dir, const EngineFlags& flags,
                                      Distributed* dist = nullptr);

}  // namespace sieve
