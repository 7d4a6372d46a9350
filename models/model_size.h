// What a model of a given config is made of, derived from its family's blocks without loading
// anything: its tensors (checkpoint validation, random weights), its parameters (total, per
// token, per rank of an expert-parallel run) and what its KV cache keeps per token. A new block
// declares its tensors and its KV layout; nothing here changes.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/backends/kv_cache.h"
#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/model_config.h"
#include "engine/experts/expert_placement.h"
#include "models/blocks/declared_tensor.h"

namespace sieve {

// Every tensor a model of `config` has, in checkpoint order (its family's recipe).
TensorList declared_tensors(const ModelConfig& config);
// The same as Checkpoint::validate takes them.
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config);

// Bytes `tensors` take held as a model holds them: matrices and tables at `weight_dtype`,
// vectors (norms) in fp32.
uint64_t held_weight_bytes(const TensorList& tensors, DType weight_dtype);

struct ModelSize {
  int64_t total = 0;    // parameters in the checkpoint
  int64_t active = 0;   // those one token's forward pass reads (top_k experts, one embedding row)
  int64_t experts = 0;  // the routed experts' (what expert parallelism splits over ranks)
  // What every rank of an expert-parallel run holds: attention, norms, routers, embeddings,
  // lm_head, dense layers.
  int64_t replicated() const { return total - experts; }
};
ModelSize count_params(const ModelConfig& config);

// Parameters `rank` holds under `placement`: the replicated ones plus its own experts'.
int64_t params_on_rank(const ModelConfig& config, const ExpertPlacement& placement, int rank);

// What each layer keeps per token in the KV cache (its family's attention blocks).
KvLayout kv_layout(const ModelConfig& config);

}  // namespace sieve
