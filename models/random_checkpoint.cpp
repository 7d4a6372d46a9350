// The weights half of random checkpoints. Values are a pure function of (seed, tensor index,
// element index) — a counter-based hash, not a sequential stream — so any chunking over any
// number of threads writes the same bytes, and a 60 GB checkpoint fills at disk speed.
#include "models/random_checkpoint.h"

#include <cmath>
#include <cstring>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/checkpoint.h"
#include "kernels/cpu/numeric.h"
#include "kernels/cpu/thread_pool.h"
#include "models/registry.h"

namespace sieve {
namespace {

// SplitMix64's finaliser: a fast bijective mix with good avalanche, enough for test weights.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// How one tensor is filled: every element `constant`, or uniform on [-bound, bound).
struct Init {
  float constant = 0.0f;
  float bound = 0.0f;  // > 0: random
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Uniform with standard deviation `std` (a uniform on [-b, b) has std b / sqrt(3)).
Init uniform_with_std(double std) {
  return {0.0f, static_cast<float>(std * std::sqrt(3.0))};
}

// Scales chosen so a random model behaves like a trained one in the ways the engine cares
// about: linear maps keep the RMS of their input (std 1/sqrt(in)); residual-branch outputs
// (o_proj, down projections) are shrunk by 1/sqrt(2·layers) so the residual stream stays O(1)
// over 48 layers; router logits have std ~1 over experts, so different tokens pick different
// experts without any one dominating; norms are 1 as at initialisation.
Init init_for(const ExpectedTensor& t, const ModelConfig& c, const WeightNaming& names) {
  const std::string& n = t.name;
  if (t.shape.size() == 1) return {1.0f, 0.0f};  // RMSNorm weights
  const double in = static_cast<double>(t.shape[1]);
  if (n == "model.embed_tokens.weight") {
    // Untied: rows of RMS 1. Tied, the same matrix makes the logits, so size them like lm_head.
    return uniform_with_std(c.tie_word_embeddings ? 1.0 / std::sqrt(in) : 1.0);
  }
  const bool residual_out = ends_with(n, "self_attn.o_proj.weight") ||
                            ends_with(n, "." + names.expert_down + ".weight") ||
                            ends_with(n, "mlp.down_proj.weight");
  const double scale =
      residual_out ? 1.0 / std::sqrt(2.0 * static_cast<double>(c.num_layers)) : 1.0;
  return uniform_with_std(scale / std::sqrt(in));
}

// Fills elements [begin, end) of tensor `tensor` of a checkpoint seeded with `seed`.
template <class Store>
void fill_range(uint64_t seed, uint64_t tensor, const Init& init, int64_t begin, int64_t end,
                Store store) {
  if (init.bound == 0.0f) {
    for (int64_t i = begin; i < end; ++i)
      store(i, init.constant);
    return;
  }
  const uint64_t key = mix64(seed ^ mix64(tensor + 0x9e3779b97f4a7c15ull));
  constexpr float kTwoTo24 = 1.0f / 16777216.0f;
  for (int64_t i = begin; i < end; ++i) {
    // Counter mode: element i's value depends on nothing else.
    const uint64_t r = mix64(key + static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull);
    const float u = static_cast<float>(r >> 40) * kTwoTo24;  // [0, 1), 24 bits
    store(i, (2.0f * u - 1.0f) * init.bound);
  }
}

}  // namespace

Status make_random_checkpoint(const RandomCheckpointOptions& o) {
  if (o.dir.empty()) return invalid_argument("random checkpoint: no output directory given");
  SIEVE_ASSIGN_OR_RETURN(nlohmann::json config, random_checkpoint_config(o));
  SIEVE_ASSIGN_OR_RETURN(ModelConfig model, parse_model_config(config));
  const Family* family = find_family(model.model_type);
  if (!family) return internal_error("random checkpoint: no family for " + model.model_type);
  const std::vector<ExpectedTensor> tensors = expected_tensors(model, family->naming);

  std::vector<SafetensorsWriteEntry> entries;
  std::vector<Init> inits;
  for (const auto& t : tensors) {
    entries.push_back({t.name, o.dtype, t.shape});
    inits.push_back(init_for(t, model, family->naming));
  }

  kernels::ThreadPool pool(o.threads);
  auto fill = [&](size_t index, void* dst) {
    int64_t n = 1;
    for (int64_t d : entries[index].shape)
      n *= d;
    const Init& init = inits[index];
    constexpr int64_t kGrain = 1 << 16;
    pool.parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
      if (o.dtype == DType::kBF16) {
        auto* out = static_cast<uint16_t*>(dst);
        fill_range(o.seed, index, init, begin, end,
                   [out](int64_t i, float v) { out[i] = kernels::f32_to_bf16(v); });
      } else {
        auto* out = static_cast<float*>(dst);
        fill_range(o.seed, index, init, begin, end, [out](int64_t i, float v) { out[i] = v; });
      }
    });
  };
  CheckpointWriteOptions write;
  write.max_shard_bytes = o.max_shard_bytes;
  write.progress = o.progress;
  return write_checkpoint(o.dir, config, entries, fill, write);
}

}  // namespace sieve
