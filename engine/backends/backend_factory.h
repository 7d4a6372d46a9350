// Which backend a run uses, and making it: the one place that knows whether this build has
// the CUDA backend and whether a device is present.
#pragma once

#include <memory>
#include <string>

#include "engine/backends/backend.h"
#include "engine/base/status.h"

namespace sieve {

struct BackendChoice {
  std::string name = "cpu";  // "cpu" or "cuda" (resolve_backend's answer)
  int threads = 0;           // the CPU backend's threads; <= 0: one per core
  // The CUDA backend's MoE kernel choice (cuda_backend.h MoeTuningOptions).
  bool moe_autotune = false;
  std::string moe_tuning_cache;
};

// "auto" (CUDA when this build has it and a device is present, else CPU), "cpu" or "cuda";
// "cuda" without a device or without CUDA in the build is an error that says so.
Result<std::string> resolve_backend(const std::string& flag);

// The backend `choice` names, ready for weights.
Result<std::unique_ptr<Backend>> make_backend(const BackendChoice& choice);

}  // namespace sieve
