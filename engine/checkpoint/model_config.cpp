#include "engine/checkpoint/model_config.h"

namespace sieve {

int64_t ModelConfig::num_moe_layers() const {
  int64_t n = 0;
  for (bool m : layer_is_moe)
    n += m ? 1 : 0;
  return n;
}

Status ModelConfig::check_expert_parallel_size(int64_t size) const {
  if (size < 1) {
    return invalid_argument("--expert-parallel-size must be at least 1, got " +
                            std::to_string(size));
  }
  if (size > 1 && num_moe_layers() == 0) {
    return invalid_argument("--expert-parallel-size " + std::to_string(size) +
                            ": the model has no MoE layers, so there are no experts to split");
  }
  if (size > 1 && size > num_experts) {
    return invalid_argument("--expert-parallel-size " + std::to_string(size) +
                            " is larger than the number of experts (" +
                            std::to_string(num_experts) + "): every rank must hold one");
  }
  return Status::Ok();
}

}  // namespace sieve
