#include "models/blocks/stacked_experts.h"

namespace sieve {

StackedExpertNames StackedExperts::names() const {
  StackedExpertNames n;
  n.gate_up = o_.prefix + "gate_up_proj";
  n.gate_up_bias = o_.prefix + "gate_up_proj_bias";
  n.down = o_.prefix + "down_proj";
  n.down_bias = o_.prefix + "down_proj_bias";
  n.num_experts = o_.num_experts;
  n.hidden = o_.hidden;
  n.intermediate = o_.intermediate;
  return n;
}

// In the checkpoint's order. The stacked tensors are the routed experts' (ParamUse
// kRoutedExpert with no single expert): parameter counts and expert parallelism split them
// along their first dimension.
void StackedExperts::declare(TensorList& out) const {
  const StackedExpertNames n = names();
  const int64_t E = o_.num_experts, H = o_.hidden, I = o_.intermediate;
  const ParamUse routed = ParamUse::kRoutedExpert;
  out.push_back({n.gate_up, {E, H, 2 * I}, InitRole::kLinear, routed, -1, /*in_major=*/true});
  out.push_back({n.gate_up_bias, {E, 2 * I}, InitRole::kBias, routed});
  out.push_back({n.down, {E, I, H}, InitRole::kResidualOut, routed, -1, /*in_major=*/true});
  out.push_back({n.down_bias, {E, H}, InitRole::kBias, routed});
}

Status StackedExperts::load(const LoadContext& ctx) {
  WeightSource& src = ctx.weights;
  const StackedExpertNames n = names();
  SIEVE_ASSIGN_OR_RETURN(auto source, src.stacked_experts(n));
  for (int64_t e = 0; e < o_.num_experts; ++e) {
    if (!ctx.moe.holds(e)) continue;
    SIEVE_ASSIGN_OR_RETURN(ExpertMatrices m, src.held_expert(*source, e));
    append_expert(experts_, std::move(m));
  }
  // The stacked tensors' bytes, read or not, count as loaded once.
  SIEVE_RETURN_IF_ERROR(src.skip({n.gate_up, n.gate_up_bias, n.down, n.down_bias}));
  return ctx.moe.adopt_experts(ctx.layer, std::move(source));
}

void StackedExperts::forward(const LayerCall& call, const Tensor& x, const Routing& routing,
                             Tensor& out) {
  run_experts(call, x, routing, experts_, o_.activation, out);
}

}  // namespace sieve
