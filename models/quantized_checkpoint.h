// Writing checkpoints in the quantized layouts releases ship (engine/checkpoint/quantization.h):
// the projections of attention, experts and dense MLPs quantized (fp8 E4M3 with block scales, or
// mxfp4), embeddings, lm_head, norms and routers left plain, as DeepSeek-V3's and gpt-oss's
// releases leave them. Also converting an existing checkpoint: to a quantized copy, or a
// quantized one back to a plain (dequantized) copy.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/dtype.h"
#include "engine/base/status.h"
#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/quantization.h"
#include "models/blocks/declared_tensor.h"

namespace sieve {

// Whether a quantized release stores `t` quantized: projections (kLinear, kResidualOut) of two
// or more dims, except the lm_head.
bool quantized_in_release(const DeclaredTensor& t);

// The modules_to_not_convert an mxfp4 config.json lists for `tensors`: each matrix left plain,
// as its module name, with layer numbers as '*' ("model.layers.*.mlp.gate", "lm_head").
std::vector<std::string> modules_left_plain(const TensorList& tensors);

// One checkpoint to write: config.json (its quantization_config replaced by `quant`'s, or
// removed when `quant` is none) and `tensors`, whose fp32 values `source(i, out)` gives
// (numel floats). Plain tensors are stored as `dtype` (kF32 or kBF16).
struct QuantizedWrite {
  std::string dir;
  const nlohmann::json* config = nullptr;
  const TensorList* tensors = nullptr;
  DType dtype = DType::kBF16;
  QuantizationConfig quant;
  std::function<Status(size_t index, float* out)> source;
  CheckpointWriteOptions write;
};
Status write_quantized_checkpoint(const QuantizedWrite& w);

// An existing checkpoint (`from`, validated as loading would) rewritten to `dir`: quantized as
// `quant` says, or with `quant` none every tensor plain at `dtype` (a quantized source
// dequantized). The tokenizer files are the caller's to copy.
struct ConvertCheckpointOptions {
  std::string from;
  std::string dir;
  DType dtype = DType::kBF16;
  QuantizationConfig quant;
  uint64_t max_shard_bytes = 5'000'000'000;
  std::function<void(uint64_t done_bytes, uint64_t total_bytes)> progress;
};
Status convert_checkpoint(const ConvertCheckpointOptions& o);

}  // namespace sieve
