#include "models/model_size.h"

#include "models/registry.h"

namespace sieve {

TensorList declared_tensors(const ModelConfig& config) {
  return declare_decoder(config, family_of(config).recipe(config));
}

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config) {
  std::vector<ExpectedTensor> out;
  for (DeclaredTensor& t : declared_tensors(config))
    out.push_back({std::move(t.name), std::move(t.shape), t.in_major});
  return out;
}

uint64_t held_weight_bytes(const TensorList& tensors, DType weight_dtype) {
  uint64_t total = 0;
  for (const DeclaredTensor& t : tensors)
    total += held_bytes(t.shape, weight_dtype);
  return total;
}

ModelSize count_params(const ModelConfig& config) {
  ModelSize s;
  for (const DeclaredTensor& t : declared_tensors(config)) {
    const int64_t n = t.numel();
    s.total += n;
    switch (t.use) {
      case ParamUse::kEveryToken:
        s.active += n;
        break;
      case ParamUse::kRoutedExpert:
        s.experts += n;
        break;
      case ParamUse::kTableRow:
        s.active += t.shape[1];
        break;
      case ParamUse::kTableRowAndHead:
        s.active += t.shape[1] + n;
        break;
    }
  }
  // Every MoE layer's experts are alike, so a token reads top_k / num_experts of them.
  if (config.num_experts > 0) s.active += s.experts * config.top_k / config.num_experts;
  return s;
}

int64_t params_on_rank(const ModelConfig& config, const ExpertPlacement& placement, int rank) {
  SIEVE_CHECK_EQ(placement.num_experts, config.num_experts);
  SIEVE_CHECK_GE(rank, 0);
  SIEVE_CHECK_LT(rank, placement.world);
  int64_t n = 0;
  int64_t held_experts = 0;
  for (int64_t e = 0; e < config.num_experts; ++e)
    held_experts += placement.holds(rank, e) ? 1 : 0;
  for (const DeclaredTensor& t : declared_tensors(config)) {
    if (t.use != ParamUse::kRoutedExpert) {
      n += t.numel();
    } else if (t.expert < 0) {  // every expert stacked along dim 0
      n += t.numel() / t.shape[0] * held_experts;
    } else if (placement.holds(rank, t.expert)) {
      n += t.numel();
    }
  }
  return n;
}

KvLayout kv_layout(const ModelConfig& config) {
  return decoder_kv_layout(family_of(config).recipe(config));
}

}  // namespace sieve
