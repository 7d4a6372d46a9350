// The weights half of random checkpoints. Values are a pure function of (seed, tensor index,
// element index) — a counter-based hash, not a sequential stream — so any chunking over any
// number of threads writes the same bytes, and a 60 GB checkpoint fills at disk speed.
#include "models/random_checkpoint.h"

#include <cstring>

#include <nlohmann/json.hpp>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/weight_fill.h"
#include "models/random_init.h"
#include "models/registry.h"

namespace sieve {

Status make_random_checkpoint(const RandomCheckpointOptions& o) {
  if (o.dir.empty()) return invalid_argument("random checkpoint: no output directory given");
  SIEVE_ASSIGN_OR_RETURN(nlohmann::json config, random_checkpoint_config(o));
  SIEVE_ASSIGN_OR_RETURN(ModelConfig model, parse_model_config(config));
  if (o.config_only) return write_model_config(o.dir, config);
  const Family* family = find_family(model.model_type);
  if (!family) return internal_error("random checkpoint: no family for " + model.model_type);
  const std::vector<ExpectedTensor> tensors = expected_tensors(model, family->naming);

  std::vector<SafetensorsWriteEntry> entries;
  std::vector<WeightFill> fills;
  for (size_t i = 0; i < tensors.size(); ++i) {
    entries.push_back({tensors[i].name, o.dtype, tensors[i].shape});
    fills.push_back(
        random_init(tensors[i], static_cast<int64_t>(i), model, family->naming, o.seed));
  }

  HostFiller filler(o.threads);
  auto fill = [&](size_t index, void* dst) {
    int64_t n = 1;
    for (int64_t d : entries[index].shape)
      n *= d;
    filler.fill(fills[index], n, o.dtype, dst);
  };
  CheckpointWriteOptions write;
  write.max_shard_bytes = o.max_shard_bytes;
  write.progress = o.progress;
  return write_checkpoint(o.dir, config, entries, fill, write);
}

}  // namespace sieve
