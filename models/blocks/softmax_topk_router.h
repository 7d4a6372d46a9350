// The softmax top-k router: logits = gate · x, softmax over all experts, the k largest, their
// weights optionally renormalised to sum to 1 (Qwen3-MoE and OLMoE when norm_topk_prob,
// Mixtral always).
#pragma once

#include <cstdint>
#include <string>

#include "models/blocks/block.h"

namespace sieve {

struct SoftmaxTopkRouterOptions {
  std::string weight;  // the gate's tensor name, [num_experts, hidden]
  int64_t hidden = 0, num_experts = 0, top_k = 0;
  bool renormalize = true;
};

class SoftmaxTopkRouter final : public RouterBlock {
 public:
  explicit SoftmaxTopkRouter(SoftmaxTopkRouterOptions options) : o_(std::move(options)) {}

  void declare(TensorList& out) const override;
  Status load(const LoadContext& ctx) override;
  int64_t top_k() const override { return o_.top_k; }
  Routing route(const LayerCall& call, const Tensor& x) override;

 private:
  SoftmaxTopkRouterOptions o_;
  std::shared_ptr<Matrix> gate_;  // [num_experts, hidden]
};

}  // namespace sieve
