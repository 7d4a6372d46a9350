// The model registry: config.json's "model_type" → the family that reads it, and the one way
// every tool opens a model directory (open → parse → validate → load). The list of families is
// models/registry.cpp; everything that lists families (make-checkpoint's --like, error messages,
// the tests that run every family) asks here.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/backends/backend.h"
#include "engine/backends/model.h"
#include "engine/checkpoint/checkpoint.h"
#include "engine/experts/expert_placement.h"
#include "models/blocks/weight_source.h"
#include "models/family.h"
#include "models/router_skew.h"

namespace sieve {

// The families sieve runs, in the registry's order; the first is make-checkpoint's default.
const std::vector<const Family*>& supported_families();
const Family& default_family();
// Their model_types, in the same order, and as prose ("a, b or c").
std::vector<std::string> supported_model_types();
std::string supported_model_types_text();
const Family* find_family(std::string_view model_type);
// The family of a config that came from parse_model_config (or names a supported model_type):
// an invariant, checked.
const Family& family_of(const ModelConfig& config);

// config.json → ModelConfig through its family, with the checks that span fields
// (top-k ≤ experts, rotary dims, ...). Unknown and not-yet-supported model types are errors
// that list what is supported.
Result<ModelConfig> parse_model_config(const nlohmann::json& config);

// --load-format: read the safetensors checkpoint, or (dummy, as in vLLM) build the model from
// config.json alone with random weights made on the backend (models/random_init.h).
enum class LoadFormat { kSafetensors, kDummy };
// "auto" and "safetensors" → kSafetensors; "dummy" → kDummy; anything else is an error.
Result<LoadFormat> parse_load_format(std::string_view flag);

// A checkpoint opened, its config parsed and its tensors validated against the architecture:
// everything known to be loadable before any large allocation. With LoadFormat::kDummy only
// config.json is read and `checkpoint` is null.
struct ModelDir {
  std::string path;
  std::unique_ptr<Checkpoint> checkpoint;
  ModelConfig config;
  const Family* family = nullptr;
  // config.json's synthetic routing skew: the router weights a dummy load makes (a checkpoint's
  // weights already have it).
  RouterSkew router_skew;
  // Bytes the weights take at `dtype` (norms in fp32), whichever way they are loaded.
  uint64_t weight_bytes(DType dtype) const;
};
Result<ModelDir> open_model_dir(const std::string& dir,
                                LoadFormat format = LoadFormat::kSafetensors);

// --dtype: "fp32", "bf16" or "auto" (the checkpoint's own dtype; f16 checkpoints load as bf16).
Result<DType> resolve_weight_dtype(std::string_view flag, const ModelConfig& config);

// Reads the checkpoint, or with a dummy ModelDir makes the weights of a random checkpoint of seed
// 0 (what `sieve make-checkpoint` writes for this config.json), onto `backend` as
// `weight_format` says (its dtype kF32 or kBF16, norms in fp32; experts and dense projections
// quantized if it asks, which the backend must hold()). With `shard`, only this rank's experts are
// loaded (expert parallelism); MoE layers then exchange tokens with the other ranks on shard->comm,
// which must outlive the model.
Result<std::unique_ptr<Model>> load_model(const ModelDir& dir, Backend& backend,
                                          WeightFormat weight_format,
                                          const LoadProgress& progress = {},
                                          const ExpertShard* shard = nullptr);
// The same with the MoE executor given, which the model then owns: the hybrid executor
// (engine/experts/hybrid/hybrid_moe_executor.h) decides where the routed experts live, and makes
// its copies of them from what each MoE layer hands it while loading (MoeExecutor::adopt_experts).
Result<std::unique_ptr<Model>> load_model(const ModelDir& dir, Backend& backend,
                                          WeightFormat weight_format,
                                          std::unique_ptr<MoeExecutor> moe,
                                          const LoadProgress& progress = {});

}  // namespace sieve
