// The weights half of random checkpoints. Values are a pure function of (seed, tensor index,
// element index) — a counter-based hash, not a sequential stream — so any chunking over any
// number of threads writes the same bytes, and a 60 GB checkpoint fills at disk speed.
#include "models/random_checkpoint.h"

#include <nlohmann/json.hpp>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/weight_fill.h"
#include "models/model_size.h"
#include "models/quantized_checkpoint.h"
#include "models/random_init.h"
#include "models/registry.h"

namespace sieve {

Status make_random_checkpoint(const RandomCheckpointOptions& o) {
  if (o.dir.empty()) return invalid_argument("random checkpoint: no output directory given");
  SIEVE_ASSIGN_OR_RETURN(nlohmann::json config, random_checkpoint_config(o));
  SIEVE_ASSIGN_OR_RETURN(ModelConfig model, parse_model_config(config));
  if (o.config_only) return write_model_config(o.dir, config);
  const TensorList declared = declared_tensors(model);
  const std::vector<FilledTensor> tensors =
      random_fills(declared, model, RandomWeights{o.seed, o.router_skew});
  HostFiller filler(o.threads);
  // Element i of tensor t as `dtype`, whichever way the tensor is filled.
  auto fill_as = [&](const FilledTensor& t, DType dtype, void* dst) {
    int64_t n = 1;
    for (int64_t d : t.shape)
      n *= d;
    if (t.row_blocks.empty()) {
      filler.fill(t.fill, n, dtype, dst);
      return;
    }
    const int64_t row = n / t.shape[0];
    auto* at = static_cast<uint8_t*>(dst);
    for (const RowBlockFill& b : t.row_blocks) {
      filler.fill(b.fill, b.rows * row, dtype, at);
      at += static_cast<size_t>(b.rows * row) * dtype_size(dtype);
    }
  };
  CheckpointWriteOptions write;
  write.max_shard_bytes = o.max_shard_bytes;
  write.progress = o.progress;

  if (o.quantization.quantized()) {
    QuantizedWrite w;
    w.dir = o.dir;
    w.config = &config;
    w.tensors = &declared;
    w.dtype = o.dtype;
    w.quant = o.quantization;
    if (w.quant.method == QuantMethod::kMxfp4) {
      w.quant.modules_to_not_convert = modules_left_plain(declared);
    }
    w.source = [&](size_t i, float* out) {
      fill_as(tensors[i], DType::kF32, out);
      return Status::Ok();
    };
    w.write = write;
    return write_quantized_checkpoint(w);
  }

  std::vector<SafetensorsWriteEntry> entries;
  for (const FilledTensor& t : tensors)
    entries.push_back({t.name, o.dtype, t.shape});
  auto fill = [&](size_t index, void* dst) { fill_as(tensors[index], o.dtype, dst); };
  return write_checkpoint(o.dir, config, entries, fill, write);
}

}  // namespace sieve
