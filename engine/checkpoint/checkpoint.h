// A Hugging Face checkpoint directory: config.json plus model.safetensors, or shards named
// in model.safetensors.index.json. Opening it maps and validates every file; nothing large is
// allocated until a caller reads tensors.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/dtype.h"
#include "engine/base/status.h"
#include "engine/checkpoint/safetensors.h"

namespace sieve {

struct CheckpointTensor {
  const SafetensorsFile* file = nullptr;
  const SafetensorsEntry* entry = nullptr;
};

// What an architecture expects to find (from config.json).
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};

// dir/config.json, which must be a JSON object (all --load-format dummy reads).
Result<nlohmann::json> read_model_config(const std::string& dir);

class Checkpoint {
 public:
  // Reads config.json (must be a JSON object) and maps the weights. With an index, every
  // shard it names must exist and every tensor it maps must be in that shard; a tensor found in
  // two files is an error.
  static Result<std::unique_ptr<Checkpoint>> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const nlohmann::json& config() const { return *config_; }
  const std::map<std::string, CheckpointTensor, std::less<>>& tensors() const { return tensors_; }
  const CheckpointTensor* find(std::string_view name) const;
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  uint64_t total_bytes() const;

  // Missing tensors, unexpected tensors, wrong shapes and dtypes other than F32/BF16/F16 are
  // errors; the first is reported naming the file and the tensor (and the count of others).
  Status validate(const std::vector<ExpectedTensor>& expected) const;

  // Copies a tensor's elements, converted to `dst` (kF32 or kBF16), into `out`
  // (numel × dtype_size(dst) bytes).
  Status read(std::string_view name, DType dst, void* out) const;

  ~Checkpoint();

 private:
  Checkpoint();
  std::string dir_;
  std::unique_ptr<nlohmann::json> config_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, CheckpointTensor, std::less<>> tensors_;
};

// Writes dir/config.json (creating dir), as write_checkpoint does.
Status write_model_config(const std::string& dir, const nlohmann::json& config);

// Writes config.json and the weights as one model.safetensors or, when the total exceeds
// `max_shard_bytes`, as model-0000i-of-0000n.safetensors shards with an index.
// `fill(i, dst)` produces entry i's bytes; `progress(done_bytes, total_bytes)` is optional.
// Weight files of an earlier write to `dir` that this layout does not use are removed.
struct CheckpointWriteOptions {
  uint64_t max_shard_bytes = 4ull << 30;
  std::function<void(uint64_t, uint64_t)> progress;
};
Status write_checkpoint(const std::string& dir, const nlohmann::json& config,
                        const std::vector<SafetensorsWriteEntry>& entries,
                        const std::function<void(size_t index, void* dst)>& fill,
                        const CheckpointWriteOptions& options = {});

}  // namespace sieve
