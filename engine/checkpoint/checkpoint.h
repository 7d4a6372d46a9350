// A Hugging Face checkpoint directory: config.json plus model.safetensors, or shards named
// in model.safetensors.index.json. Opening it maps and validates every file; nothing large is
// allocated until a caller reads tensors.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/dtype.h"
#include "engine/base/status.h"
#include "engine/checkpoint/quantization.h"
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
  // `shape` is [..., in, out] (x @ W); stored quantized, the parameter is its transpose
  // [..., out, in], quantized along the in-features.
  bool in_major = false;
};

// [..., a, b] → [..., b, a].
std::vector<int64_t> swap_last_two(std::vector<int64_t> shape);

// dir/config.json, which must be a JSON object (all --load-format dummy reads).
Result<nlohmann::json> read_model_config(const std::string& dir);

class Checkpoint {
 public:
  // Reads config.json (must be a JSON object, with a quantization_config sieve supports, if
  // any) and maps the weights. With an index, every shard it names must exist and every tensor
  // it maps must be in that shard; a tensor found in two files is an error.
  static Result<std::unique_ptr<Checkpoint>> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const nlohmann::json& config() const { return *config_; }
  // config.json's quantization_config (method kNone for a plain checkpoint).
  const QuantizationConfig& quantization() const { return quant_; }
  const std::map<std::string, CheckpointTensor, std::less<>>& tensors() const { return tensors_; }
  const CheckpointTensor* find(std::string_view name) const;
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  uint64_t total_bytes() const;

  // Missing tensors, unexpected tensors, wrong shapes and dtypes other than F32/BF16/F16 are
  // errors; the first is reported naming the file and the tensor (and the count of others).
  // An expected `X` [..., n, k] may also be stored quantized as quantization() says
  // (quantization.h): fp8 as `X` F8_E4M3 [..., n, k] with `X_scale_inv` F32 of the block-derived
  // shape; mxfp4 as `X_blocks` U8 [..., n, k / 32, 16] with `X_scales` U8 [..., n, k / 32].
  // A missing companion, a companion of the wrong shape or dtype, k not a multiple of 32 for
  // mxfp4, and quantized storage the config does not declare are errors naming the tensor.
  // Remembers which parameters are in-major, for read().
  Status validate(const std::vector<ExpectedTensor>& expected);

  // How parameter `name` is stored: plain, or quantized with its companions (pointers into the
  // mapped files, for a loader that keeps the quantized bytes). Not found: neither `name` nor
  // (for mxfp4) `name`_blocks is in the checkpoint. Shapes are those validate() checks.
  Result<StoredMatrix> stored_matrix(std::string_view name) const;

  // Copies a tensor's elements, converted to `dst` (kF32 or kBF16), into `out`
  // (numel × dtype_size(dst) bytes); a quantized parameter is dequantized (quant_codec.h), and
  // one validate() was told is in-major transposed back to its declared layout.
  Status read(std::string_view name, DType dst, void* out) const;

  ~Checkpoint();

 private:
  Checkpoint();
  // validate()'s checks of an expected tensor stored quantized (stored_tensor.cpp): problems
  // appended, companions added to `wanted` so they do not count as unexpected. Returns false
  // when `want` is not stored quantized (then validate checks it as a plain tensor).
  bool check_quantized(const ExpectedTensor& want, std::set<std::string, std::less<>>& wanted,
                       std::vector<Status>& problems) const;
  std::string dir_;
  std::unique_ptr<nlohmann::json> config_;
  QuantizationConfig quant_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, CheckpointTensor, std::less<>> tensors_;
  std::set<std::string, std::less<>> in_major_;  // from validate()
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
