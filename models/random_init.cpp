#include "models/random_init.h"

#include <cmath>

namespace sieve {
namespace {

// A uniform on [-b, b) has standard deviation b / sqrt(3).
float bound_for_std(double std) {
  return static_cast<float>(std * std::sqrt(3.0));
}

}  // namespace

// Scales chosen so a random model behaves like a trained one in the ways the engine cares
// about: linear maps keep the RMS of their input (std 1/sqrt(in)); residual-branch outputs
// (o_proj, down projections) are shrunk by 1/sqrt(2·layers) so the residual stream stays O(1)
// over 48 layers; router logits have std ~1 over experts, so different tokens pick different
// experts without any one dominating; norms are 1 as at initialisation.
WeightFill random_init(const DeclaredTensor& t, int64_t index, const ModelConfig& c,
                       uint64_t seed) {
  WeightFill fill;
  fill.key = weight_fill_key(seed, static_cast<uint64_t>(index));
  if (t.init == InitRole::kNorm) {
    fill.constant = 1.0f;
    return fill;
  }
  if (t.init == InitRole::kBias) {
    fill.bound = bound_for_std(0.1);
    return fill;
  }
  // The input features: dim 1 of a [out, in] matrix and of a stacked [experts, in, out] one.
  const double in = static_cast<double>(t.shape[1]);
  if (t.init == InitRole::kEmbedding) {
    // Untied: rows of RMS 1. Tied, the same matrix makes the logits, so size them like lm_head.
    fill.bound = bound_for_std(c.tie_word_embeddings ? 1.0 / std::sqrt(in) : 1.0);
    return fill;
  }
  const double scale = t.init == InitRole::kResidualOut
                           ? 1.0 / std::sqrt(2.0 * static_cast<double>(c.num_layers))
                           : 1.0;
  fill.bound = bound_for_std(scale / std::sqrt(in));
  return fill;
}

std::vector<FilledTensor> random_fills(const TensorList& tensors, const ModelConfig& config,
                                       const RandomWeights& weights) {
  std::vector<FilledTensor> out;
  out.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const DeclaredTensor& t = tensors[i];
    FilledTensor f{
        t.name, t.shape, random_init(t, static_cast<int64_t>(i), config, weights.seed), {}};
    if (t.init == InitRole::kRouter && weights.router_skew.enabled()) {
      f.row_blocks = skewed_router_rows(f.fill, t.shape[0], weights.router_skew);
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace sieve
