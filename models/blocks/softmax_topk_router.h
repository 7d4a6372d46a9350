// The softmax top-k router: logits = gate · x, softmax over all experts, the k largest, their
// weights optionally renormalised to sum to 1 (Qwen3-MoE and OLMoE when norm_topk_prob,
// Mixtral always). gpt-oss's router (bias, top-k of the logits, softmax over those k) is this
// one with a bias and renormalisation: softmax is monotone, so the k largest logits are the k
// largest probabilities, and renormalising those is the softmax over the k logits.
#pragma once

#include <cstdint>
#include <string>

#include "models/blocks/block.h"

namespace sieve {

struct SoftmaxTopkRouterOptions {
  std::string weight;  // the gate's tensor name, [num_experts, hidden]
  std::string bias{};  // its bias [num_experts] (gpt-oss), or empty
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
  Tensor bias_;                   // [num_experts], undefined without a bias
};

}  // namespace sieve
