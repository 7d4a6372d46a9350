// Routed SwiGLU experts, each its own gate/up/down tensors (expert e: down(silu(gate x) · up x)),
// run through the layer's MoeExecutor. A process loads only the experts its executor holds; the
// tensors of the others are skipped. The executor is also told where every expert comes from
// (adopt_experts), for one that keeps its own copies (the hybrid executor: host and device).
#pragma once

#include <cstdint>
#include <string>

#include "models/blocks/block.h"

namespace sieve {

struct SwigluExpertsOptions {
  // Expert e's tensors: <prefix><e>.<gate|up|down>.weight, e.g. "model.layers.3.mlp.experts.",
  // with the family's names for the three projections.
  std::string prefix;
  std::string gate = "gate_proj", up = "up_proj", down = "down_proj";
  int64_t num_experts = 0, hidden = 0, intermediate = 0;
};

class SwigluExperts final : public ExpertsBlock {
 public:
  explicit SwigluExperts(SwigluExpertsOptions options) : o_(std::move(options)) {}

  void declare(TensorList& out) const override;
  Status load(const LoadContext& ctx) override;
  void forward(const LayerCall& call, const Tensor& x, const Routing& routing,
               Tensor& out) override;

 private:
  std::string name(int64_t expert, const std::string& projection) const;

  SwigluExpertsOptions o_;
  ExpertWeights experts_;  // this process's experts, ascending
};

}  // namespace sieve
