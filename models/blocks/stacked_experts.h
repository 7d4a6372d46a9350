// Routed experts stored stacked, with biases and a chosen gated activation (gpt-oss): one tensor
// per projection holds every expert of the layer (weight_source.h, StackedExpertNames), gate and
// up interleaved, and expert e computes
//   down_e(act(gate_e x + b_gate, up_e x + b_up)) + b_down
// with the clamped SwiGLU of ExpertActivation. Run through the layer's MoeExecutor like
// SwigluExperts; a process makes only the experts its executor holds.
#pragma once

#include <cstdint>
#include <string>

#include "models/blocks/block.h"

namespace sieve {

struct StackedExpertsOptions {
  // "model.layers.{l}.mlp.experts.": gate_up_proj, gate_up_proj_bias, down_proj, down_proj_bias.
  std::string prefix;
  int64_t num_experts = 0, hidden = 0, intermediate = 0;
  ExpertActivation activation{};
};

class StackedExperts final : public ExpertsBlock {
 public:
  explicit StackedExperts(StackedExpertsOptions options) : o_(std::move(options)) {}

  void declare(TensorList& out) const override;
  Status load(const LoadContext& ctx) override;
  void forward(const LayerCall& call, const Tensor& x, const Routing& routing,
               Tensor& out) override;

 private:
  StackedExpertNames names() const;

  StackedExpertsOptions o_;
  ExpertWeights experts_;  // this process's experts, ascending
};

}  // namespace sieve
