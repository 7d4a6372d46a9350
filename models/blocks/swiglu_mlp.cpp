#include "models/blocks/swiglu_mlp.h"

namespace sieve {

void SwigluMlp::declare(TensorList& out) const {
  const int64_t H = o_.hidden, I = o_.intermediate;
  out.push_back({o_.prefix + "gate_proj.weight", {I, H}});
  out.push_back({o_.prefix + "up_proj.weight", {I, H}});
  out.push_back({o_.prefix + "down_proj.weight", {H, I}, InitRole::kResidualOut});
}

Status SwigluMlp::load(const LoadContext& ctx) {
  const std::string& p = o_.prefix;
  SIEVE_ASSIGN_OR_RETURN(gate_up_,
                         ctx.weights.matrix({p + "gate_proj.weight", p + "up_proj.weight"}));
  SIEVE_ASSIGN_OR_RETURN(down_, ctx.weights.matrix({p + "down_proj.weight"}));
  return Status::Ok();
}

void SwigluMlp::forward(const LayerCall& call, const Tensor& x, Tensor& out) {
  Backend& be = call.be;
  const int64_t T = x.dim(0);
  Tensor gu = be.scratch({T, 2 * o_.intermediate}, DType::kF32);
  Tensor act = be.scratch({T, o_.intermediate}, DType::kF32);
  be.linear({&x, gate_up_.get(), &gu});
  be.silu_mul(gu, act);
  be.linear({&act, down_.get(), &out});
}

}  // namespace sieve
