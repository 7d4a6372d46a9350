#include "engine/checkpoint/model_config.h"

namespace sieve {

int64_t ModelConfig::num_moe_layers() const {
  int64_t n = 0;
  for (bool m : layer_is_moe)
    n += m ? 1 : 0;
  return n;
}

namespace {
struct ParamCount {
  int64_t total = 0;
  int64_t active = 0;
  int64_t experts = 0;  // gate/up/down of every expert (routers not included)
};

ParamCount count_params(const ModelConfig& c) {
  ParamCount p;
  const int64_t h = c.hidden_size;
  int64_t attn = h * c.q_size() + 2 * h * c.kv_size() + c.q_size() * h;
  if (c.qk_norm == QkNorm::kPerHead) attn += 2 * c.head_dim;
  if (c.qk_norm == QkNorm::kWholeProjection) attn += c.q_size() + c.kv_size();
  const int64_t norms = 2 * h;
  const int64_t expert = 3 * h * c.moe_intermediate_size;
  const int64_t dense = 3 * h * c.intermediate_size;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    p.total += attn + norms;
    p.active += attn + norms;
    if (c.layer_is_moe[l]) {
      p.total += c.num_experts * h + c.num_experts * expert;
      p.active += c.num_experts * h + c.top_k * expert;
      p.experts += c.num_experts * expert;
    } else {
      p.total += dense;
      p.active += dense;
    }
  }
  const int64_t embed = c.vocab_size * h;
  p.total += embed + h + (c.tie_word_embeddings ? 0 : embed);
  // One row of the embedding is read per token; the whole lm_head is applied.
  p.active += h + h + embed;
  return p;
}
}  // namespace

int64_t ModelConfig::total_params() const {
  return count_params(*this).total;
}
int64_t ModelConfig::active_params() const {
  return count_params(*this).active;
}

int64_t ModelConfig::expert_params() const {
  return count_params(*this).experts;
}

Status ModelConfig::check_expert_parallel_size(int64_t size) const {
  if (size < 1) {
    return invalid_argument("--expert-parallel-size must be at least 1, got " +
                            std::to_string(size));
  }
  if (size > 1 && num_moe_layers() == 0) {
    return invalid_argument("--expert-parallel-size " + std::to_string(size) +
                            ": the model has no MoE layers, so there are no experts to split");
  }
  if (size > 1 && size > num_experts) {
    return invalid_argument("--expert-parallel-size " + std::to_string(size) +
                            " is larger than the number of experts (" +
                            std::to_string(num_experts) + "): every rank must hold one");
  }
  return Status::Ok();
}

int64_t ModelConfig::kv_bytes_per_token(DType kv_dtype) const {
  return 2 * num_layers * kv_size() * static_cast<int64_t>(dtype_size(kv_dtype));
}

}  // namespace sieve
