#include "models/blocks/swiglu_experts.h"

namespace sieve {

std::string SwigluExperts::name(int64_t expert, const std::string& projection) const {
  return o_.prefix + std::to_string(expert) + "." + projection + ".weight";
}

void SwigluExperts::declare(TensorList& out) const {
  const int64_t H = o_.hidden, I = o_.intermediate;
  for (int64_t e = 0; e < o_.num_experts; ++e) {
    const ParamUse routed = ParamUse::kRoutedExpert;
    out.push_back({name(e, o_.gate), {I, H}, InitRole::kLinear, routed, e});
    out.push_back({name(e, o_.up), {I, H}, InitRole::kLinear, routed, e});
    out.push_back({name(e, o_.down), {H, I}, InitRole::kResidualOut, routed, e});
  }
}

Status SwigluExperts::load(const LoadContext& ctx) {
  WeightSource& src = ctx.weights;
  for (int64_t e = 0; e < o_.num_experts; ++e) {
    if (!ctx.moe.holds(e)) {
      SIEVE_RETURN_IF_ERROR(src.skip({name(e, o_.gate), name(e, o_.up), name(e, o_.down)}));
      continue;
    }
    const MatrixRole routed = MatrixRole::kRoutedExpert;
    SIEVE_ASSIGN_OR_RETURN(auto gate_up, src.matrix({name(e, o_.gate), name(e, o_.up)}, routed));
    SIEVE_ASSIGN_OR_RETURN(auto down, src.matrix({name(e, o_.down)}, routed));
    experts_.gate_up.push_back(std::move(gate_up));
    experts_.down.push_back(std::move(down));
  }
  LayerExpertNames layer;
  layer.hidden = o_.hidden;
  layer.intermediate = o_.intermediate;
  for (int64_t e = 0; e < o_.num_experts; ++e)
    layer.names.push_back({{name(e, o_.gate), name(e, o_.up)}, name(e, o_.down)});
  SIEVE_ASSIGN_OR_RETURN(auto source, src.experts(layer));
  return ctx.moe.adopt_experts(ctx.layer, std::move(source));
}

void SwigluExperts::forward(const LayerCall& call, const Tensor& x, const Routing& routing,
                            Tensor& out) {
  run_experts(call, x, routing, experts_, ExpertActivation{}, out);
}

}  // namespace sieve
