// How each tensor of a random-weight model is initialised, shared by `sieve make-checkpoint`
// (written to safetensors) and --load-format dummy (filled straight on the backend): the same
// config and seed give the same weights either way. The scale follows the role the tensor's
// block declared for it.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/checkpoint/model_config.h"
#include "engine/checkpoint/weight_fill.h"
#include "models/blocks/declared_tensor.h"
#include "models/blocks/weight_source.h"
#include "models/router_skew.h"

namespace sieve {

// The fill of tensor `t`, number `index` in the model's declared order.
WeightFill random_init(const DeclaredTensor& t, int64_t index, const ModelConfig& config,
                       uint64_t seed);

// What a random-weight model's weights are made from.
struct RandomWeights {
  uint64_t seed = 0;
  RouterSkew router_skew;  // none: routers filled like any projection
};

// Every tensor of `tensors` (a model's, in declared order) with its fill; routers' rows filled
// one by one when `weights` has a router skew.
std::vector<FilledTensor> random_fills(const TensorList& tensors, const ModelConfig& config,
                                       const RandomWeights& weights);

}  // namespace sieve
