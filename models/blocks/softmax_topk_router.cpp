#include "models/blocks/softmax_topk_router.h"

namespace sieve {

void SoftmaxTopkRouter::declare(TensorList& out) const {
  out.push_back({o_.weight, {o_.num_experts, o_.hidden}, InitRole::kRouter});
  if (!o_.bias.empty()) out.push_back({o_.bias, {o_.num_experts}, InitRole::kBias});
}

Status SoftmaxTopkRouter::load(const LoadContext& ctx) {
  SIEVE_ASSIGN_OR_RETURN(gate_, ctx.weights.matrix({o_.weight}, MatrixRole::kRouter));
  if (!o_.bias.empty()) {
    SIEVE_ASSIGN_OR_RETURN(bias_, ctx.weights.vector(o_.bias));
  }
  return Status::Ok();
}

Routing SoftmaxTopkRouter::route(const LayerCall& call, const Tensor& x) {
  Backend& be = call.be;
  const int64_t T = x.dim(0);
  Tensor logits = be.scratch({T, o_.num_experts}, DType::kF32);
  Routing r;
  r.ids = be.scratch({T, o_.top_k}, DType::kI32);
  r.weights = be.scratch({T, o_.top_k}, DType::kF32);
  be.linear({&x, gate_.get(), &logits});
  if (!o_.bias.empty()) be.add_bias(logits, bias_);
  be.router_topk(logits, o_.top_k, o_.renormalize, r.ids, r.weights);
  return r;
}

}  // namespace sieve
