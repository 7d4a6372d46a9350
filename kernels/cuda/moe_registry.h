// Which expert-product kernel (moe.h MoeGemmVariant) runs each MoE shape: the built-in rule
// (moe_choose_gemm) until a tuner has timed every supported variant on the GPU in use, then
// the fastest, cached per shape and kept across runs in a JSON file per GPU.
//
// Shapes are keyed by (tokens bucket, top_k, experts, hidden, inter, weight type); tokens are
// bucketed to the next power of two, since a server sees every token count and the best variant
// changes slowly with it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/cuda/moe.h"

namespace sieve::cuda {

struct MoeShape {
  int64_t tokens = 0, top_k = 0, num_experts = 0, hidden = 0, inter = 0;
  WeightType w_type = WeightType::kBF16;
};
MoeShape moe_shape_of(const MoeParams& p);
// The smallest power of two >= tokens (1 for tokens <= 1).
int64_t moe_tokens_bucket(int64_t tokens);

struct MoeTuneResult {
  MoeGemmVariant best = MoeGemmVariant::kAuto;
  std::vector<std::pair<MoeGemmVariant, double>> microseconds;  // median per accepted variant
  // Variants whose output strayed from the reference variant's, with ‖out − ref‖ / ‖ref‖.
  std::vector<std::pair<MoeGemmVariant, double>> rejected;
};

// A variant is only chosen if its output is within this of kGrouped's (fp32 CUDA cores, the
// plainest kernel), as ‖out − ref‖ / ‖ref‖: products of bf16 operands land between 1e-3 and
// 1e-2 of a higher-precision reference, and this leaves room for the rounding of activations.
inline constexpr double kMoeTuneMaxRelativeError = 2e-2;

// Runs moe_experts(p) with every variant that supports p's shapes; checks each one's output
// against kGrouped's; times the ones that agree (one warm-up launch each, then the median of
// `iters` event-timed launches) and returns them with the fastest. It synchronizes `stream`, so
// it must not run during graph capture. p.out holds the fastest variant's result at return;
// p.gemm is ignored.
MoeTuneResult moe_tune(MoeParams p, cudaStream_t stream, int iters = 5);

class MoeKernelRegistry {
 public:
  // `device` names the GPU the choices are for (cached choices of another GPU are not used):
  // moe_device_key() for the current one.
  explicit MoeKernelRegistry(std::string device);

  const std::string& device() const { return device_; }
  // The tuned choice for this shape's bucket, if any.
  std::optional<MoeGemmVariant> cached(const MoeShape& s) const;
  // The tuned choice, or the built-in rule.
  MoeGemmVariant choose(const MoeShape& s) const;
  void remember(const MoeShape& s, const MoeTuneResult& r);
  size_t size() const { return entries_.size(); }

  // The JSON cache: {"format": 1, "device": "...", "choices": [{"tokens_bucket", "top_k",
  // "experts", "hidden", "inter", "weights": "bf16"|"fp32", "variant": name, "microseconds":
  // {name: µs, ...}}, ...]}. load() merges a file's choices when its device matches (a file for
  // another device loads nothing and says so in *note); a malformed file is an error naming
  // what is wrong. A missing file is not an error (nothing is loaded). save() writes atomically
  // (temporary file, then rename).
  bool load(const std::string& path, std::string* error, std::string* note = nullptr);
  bool save(const std::string& path, std::string* error) const;

 private:
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int>;
  static Key key_of(const MoeShape& s);
  struct Entry {
    MoeGemmVariant variant;
    std::vector<std::pair<MoeGemmVariant, double>> microseconds;
  };
  std::string device_;
  std::map<Key, Entry> entries_;
};

// "<name> sm_<major><minor> <SMs> SMs" of the current device: a tuned choice holds for that.
std::string moe_device_key();

}  // namespace sieve::cuda
