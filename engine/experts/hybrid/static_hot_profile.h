// static-hot's resident set (--expert-placement static-hot --placement-profile TRACE): the
// routing trace's token counts per (MoE layer, expert), summed over its steps, and the busiest
// pairs over all layers fill the device budget — a hot set fixed ahead of time, as llama.cpp's
// -ot and KTransformers' frequency placement choose one.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/base/status.h"
#include "engine/experts/routing_trace.h"

namespace sieve {

// [MoE layer][expert] nonzero for the at most `slots` busiest pairs (ties to the lower layer,
// then the lower expert; experts the trace never routed to are left out). The trace must be of
// the model: `num_experts` per layer and the MoE layers `moe_layers` (model layer indices), or
// the error says what differs.
Result<std::vector<std::vector<uint8_t>>> static_hot_residency(
    const RoutingTrace& trace, int64_t num_experts, const std::vector<int64_t>& moe_layers,
    int64_t slots);

}  // namespace sieve
