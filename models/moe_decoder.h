// The decoder shared by the MoE families: embedding → N × [RMSNorm → attention (q/k/v,
// optional q/k norm, RoPE, paged KV) → RMSNorm → MoE block or dense SwiGLU MLP] → RMSNorm →
// lm_head. Families differ only in config fields and weight names (models/family.h).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/backends/model.h"
#include "engine/checkpoint/checkpoint.h"
#include "engine/experts/expert_placement.h"
#include "models/family.h"

namespace sieve {

// Every tensor the checkpoint must hold for `config`, with its shape.
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config, const WeightNaming& names);

// Bytes `tensors` take held as a model holds them: matrices and tables at `weight_dtype`, vectors
// (norms) in fp32.
uint64_t held_weight_bytes(const std::vector<ExpectedTensor>& tensors, DType weight_dtype);

struct LoadProgress {
  std::function<void(uint64_t done_bytes, uint64_t total_bytes)> on_progress;
};

// Reads every weight from a checkpoint already validated against expected_tensors() onto
// `backend`, matrices stored as `weight_dtype` (kF32 or kBF16), norms in fp32.
// With `shard`, only this rank's experts are read (expert parallelism); MoE layers then
// exchange tokens with the other ranks on shard->comm, which must outlive the model.
Result<std::unique_ptr<Model>> load_moe_decoder(const Checkpoint& ckpt, const ModelConfig& config,
                                                const WeightNaming& names, Backend& backend,
                                                DType weight_dtype, const LoadProgress& progress,
                                                const ExpertShard* shard = nullptr);

// --load-format dummy: the same model with every weight made on `backend` as random_init() makes
// it (models/random_init.h) — equal to loading the checkpoint `sieve make-checkpoint` writes for
// this config and seed, with nothing read from disk.
Result<std::unique_ptr<Model>> make_dummy_moe_decoder(const ModelConfig& config,
                                                      const WeightNaming& names, Backend& backend,
                                                      DType weight_dtype, uint64_t seed,
                                                      const LoadProgress& progress,
                                                      const ExpertShard* shard = nullptr);

}  // namespace sieve
