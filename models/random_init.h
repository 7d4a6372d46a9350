// How each tensor of a random-weight model is initialised, shared by `sieve make-checkpoint`
// (written to safetensors) and --load-format dummy (filled straight on the backend): the same
// config and seed give the same weights either way.
#pragma once

#include <cstdint>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/model_config.h"
#include "engine/checkpoint/weight_fill.h"
#include "models/family.h"

namespace sieve {

// The fill of tensor `t`, number `index` in expected_tensors()' order.
WeightFill random_init(const ExpectedTensor& t, int64_t index, const ModelConfig& config,
                       const WeightNaming& names, uint64_t seed);

}  // namespace sieve
