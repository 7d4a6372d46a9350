// How each tensor of a random-weight model is initialised, shared by `sieve make-checkpoint`
// (written to safetensors) and --load-format dummy (filled straight on the backend): the same
// config and seed give the same weights either way.
#pragma once

#include <cstdint>

#include "engine/checkpoint.h"
#include "engine/model_config.h"
#include "kernels/random_fill.h"
#include "models/family.h"

namespace sieve {

// The fill of tensor `t`, number `index` in expected_tensors()' order.
kernels::FillSpec random_init(const ExpectedTensor& t, int64_t index, const ModelConfig& config,
                              const WeightNaming& names, uint64_t seed);

}  // namespace sieve
