// A MoE feed-forward: a router picks each token's experts, the routed experts run through the
// MoE executor and are combined with the router's weights. The routing goes to the step's
// ForwardTrace when one is asked for.
#pragma once

#include <memory>

#include "models/blocks/block.h"

namespace sieve {

class MoeBlock final : public FeedForwardBlock {
 public:
  MoeBlock(std::unique_ptr<RouterBlock> router, std::unique_ptr<ExpertsBlock> experts)
      : router_(std::move(router)), experts_(std::move(experts)) {}

  void declare(TensorList& out) const override;
  Status load(const LoadContext& ctx) override;
  void forward(const LayerCall& call, const Tensor& x, Tensor& out) override;

 private:
  std::unique_ptr<RouterBlock> router_;
  std::unique_ptr<ExpertsBlock> experts_;
};

}  // namespace sieve
