// A dense SwiGLU MLP: down(silu(gate x) · up x), with gate_proj/up_proj/down_proj under one
// prefix (Qwen3-MoE's mlp_only_layers; also the shape of an always-on shared expert).
#pragma once

#include <cstdint>
#include <string>

#include "models/blocks/block.h"

namespace sieve {

struct SwigluMlpOptions {
  std::string prefix;  // "model.layers.{l}.mlp.": gate_proj, up_proj, down_proj
  int64_t hidden = 0, intermediate = 0;
};

class SwigluMlp final : public FeedForwardBlock {
 public:
  explicit SwigluMlp(SwigluMlpOptions options) : o_(std::move(options)) {}

  void declare(TensorList& out) const override;
  Status load(const LoadContext& ctx) override;
  void forward(const LayerCall& call, const Tensor& x, Tensor& out) override;

 private:
  SwigluMlpOptions o_;
  std::shared_ptr<Matrix> gate_up_;  // [2 * intermediate, hidden]: gate rows, then up rows
  std::shared_ptr<Matrix> down_;     // [hidden, intermediate]
};

}  // namespace sieve
