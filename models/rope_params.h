// rope_theta / rope_scaling / partial_rotary_factor → RopeConfig, with inv_freq and the
// attention scaling derived the way transformers' ROPE_INIT_FUNCTIONS derive them.
#pragma once

#include "engine/checkpoint/model_config.h"
#include "models/config_reader.h"

namespace sieve {

// Supported rope types: default, linear, yarn. Anything else is an Unimplemented error in
// `reader`. `neox` says how the family pairs features.
RopeConfig read_rope(ConfigReader& reader, int64_t head_dim, bool neox);

}  // namespace sieve
