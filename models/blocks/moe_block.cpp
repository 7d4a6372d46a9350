#include "models/blocks/moe_block.h"

namespace sieve {

void MoeBlock::declare(TensorList& out) const {
  router_->declare(out);
  experts_->declare(out);
}

Status MoeBlock::load(const LoadContext& ctx) {
  SIEVE_RETURN_IF_ERROR(router_->load(ctx));
  return experts_->load(ctx);
}

void MoeBlock::forward(const LayerCall& call, const Tensor& x, Tensor& out) {
  const Routing routing = router_->route(call, x);
  if (ForwardTrace* trace = call.trace) {
    const size_t n = static_cast<size_t>(x.dim(0) * router_->top_k());
    auto& ids = trace->router_ids[call.layer];
    auto& weights = trace->router_weights[call.layer];
    ids.resize(n);
    weights.resize(n);
    call.be.copy_to_host(routing.ids, ids.data());
    call.be.copy_to_host(routing.weights, weights.data());
  }
  experts_->forward(call, x, routing, out);
}

}  // namespace sieve
