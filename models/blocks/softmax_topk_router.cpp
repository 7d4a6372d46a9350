#include "models/blocks/softmax_topk_router.h"

namespace sieve {

void SoftmaxTopkRouter::declare(TensorList& out) const {
  out.push_back({o_.weight, {o_.num_experts, o_.hidden}, InitRole::kRouter});
}

Status SoftmaxTopkRouter::load(const LoadContext& ctx) {
  SIEVE_ASSIGN_OR_RETURN(gate_, ctx.weights.matrix({o_.weight}, MatrixRole::kRouter));
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
  be.router_topk(logits, o_.top_k, o_.renormalize, r.ids, r.weights);
  return r;
}

}  // namespace sieve
