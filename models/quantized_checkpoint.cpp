#include "models/quantized_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/backends/host_convert.h"
#include "engine/base/tensor.h"
#include "engine/checkpoint/quant_codec.h"
#include "models/model_size.h"
#include "models/registry.h"

namespace sieve {
namespace {

constexpr const char* kLmHead = "lm_head.weight";

// One entry of the written file: tensor `tensor`'s plain values, or its quantized values or
// scales.
enum class Part : uint8_t { kPlain, kValues, kScales };
struct Slot {
  size_t tensor = 0;
  Part part = Part::kPlain;
};

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

// "model.layers.12.mlp.gate.weight" → "model.layers.*.mlp.gate".
std::string module_pattern(const std::string& name) {
  std::string m = name;
  const std::string suffix = ".weight";
  if (m.size() > suffix.size() && m.compare(m.size() - suffix.size(), suffix.size(), suffix) == 0)
    m.resize(m.size() - suffix.size());
  const std::string layers = "model.layers.";
  if (m.rfind(layers, 0) == 0) {
    size_t end = layers.size();
    while (end < m.size() && std::isdigit(static_cast<unsigned char>(m[end])))
      ++end;
    if (end > layers.size()) m = layers + "*" + m.substr(end);
  }
  return m;
}

// The shape `t` is stored in quantized: [..., out, in].
std::vector<int64_t> stored_shape(const DeclaredTensor& t) {
  return t.in_major ? swap_last_two(t.shape) : t.shape;
}

}  // namespace

bool quantized_in_release(const DeclaredTensor& t) {
  return t.shape.size() >= 2 && t.name != kLmHead &&
         (t.init == InitRole::kLinear || t.init == InitRole::kResidualOut);
}

std::vector<std::string> modules_left_plain(const TensorList& tensors) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const DeclaredTensor& t : tensors) {
    if (t.shape.size() < 2 || quantized_in_release(t)) continue;
    std::string m = module_pattern(t.name);
    if (seen.insert(m).second) out.push_back(std::move(m));
  }
  return out;
}

Status write_quantized_checkpoint(const QuantizedWrite& w) {
  const TensorList& tensors = *w.tensors;
  const QuantizationConfig& q = w.quant;
  if (w.dtype != DType::kF32 && w.dtype != DType::kBF16) {
    return invalid_argument(std::string("plain tensors are written as fp32 or bf16, not ") +
                            dtype_name(w.dtype));
  }
  nlohmann::json config = *w.config;
  config.erase("quantization_config");
  if (q.quantized()) config["quantization_config"] = quantization_config_json(q);

  std::vector<SafetensorsWriteEntry> entries;
  std::vector<Slot> slots;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const DeclaredTensor& t = tensors[i];
    if (!q.quantized() || !quantized_in_release(t)) {
      entries.push_back({t.name, w.dtype, t.shape});
      slots.push_back({i, Part::kPlain});
    } else if (q.method == QuantMethod::kFp8) {
      const std::vector<int64_t> shape = stored_shape(t);
      entries.push_back({t.name, DType::kF8E4M3, shape});
      entries.push_back(
          {fp8_scale_name(t.name), DType::kF32, fp8_scale_shape(shape, q.block_n, q.block_k)});
      slots.push_back({i, Part::kValues});
      slots.push_back({i, Part::kScales});
    } else {
      const std::vector<int64_t> shape = stored_shape(t);
      if (shape.back() % kMxfp4Group != 0) {
        return invalid_argument("tensor '" + t.name + "' of shape " + format_shape(t.shape) +
                                " cannot be stored as mxfp4: its in-features are not a multiple "
                                "of 32");
      }
      entries.push_back({mxfp4_blocks_name(t.name), DType::kU8, mxfp4_blocks_shape(shape)});
      entries.push_back({mxfp4_scales_name(t.name), DType::kU8, mxfp4_scales_shape(shape)});
      slots.push_back({i, Part::kValues});
      slots.push_back({i, Part::kScales});
    }
  }

  // Entries are filled in order, so a tensor's values and scales come one after the other: the
  // quantized tensor is computed for its values and kept for its scales.
  Status failed = Status::Ok();
  std::vector<float> f32;
  std::optional<size_t> cached;
  std::vector<uint8_t> values, scales;
  auto source = [&](size_t index) {
    f32.resize(static_cast<size_t>(numel(tensors[index].shape)));
    if (Status s = w.source(index, f32.data()); !s.ok() && failed.ok()) failed = s;
  };
  auto quantize = [&](size_t index) {
    if (cached == index) return;
    source(index);
    const std::vector<int64_t> shape = stored_shape(tensors[index]);
    if (tensors[index].in_major) {
      std::vector<float> in = std::move(f32);
      f32.resize(in.size());
      const int64_t a = shape[shape.size() - 1], b = shape[shape.size() - 2];  // stored [.., b, a]
      transpose_matrices(in.data(), f32.data(), numel(shape) / (a * b), a, b, sizeof(float));
    }
    const int64_t n = numel(shape);
    if (q.method == QuantMethod::kFp8) {
      values.resize(static_cast<size_t>(n));
      scales.resize(static_cast<size_t>(numel(fp8_scale_shape(shape, q.block_n, q.block_k))) * 4);
      quantize_fp8_blocks(f32.data(), shape, q.block_n, q.block_k, values.data(),
                          reinterpret_cast<float*>(scales.data()));
    } else {
      values.resize(static_cast<size_t>(n / 2));
      scales.resize(static_cast<size_t>(n / kMxfp4Group));
      quantize_mxfp4(f32.data(), shape, values.data(), scales.data());
    }
    cached = index;
  };
  auto fill = [&](size_t e, void* dst) {
    const Slot& s = slots[e];
    switch (s.part) {
      case Part::kPlain:
        source(s.tensor);
        host_convert(f32.data(), DType::kF32, dst, w.dtype, static_cast<int64_t>(f32.size()));
        return;
      case Part::kValues:
        quantize(s.tensor);
        std::memcpy(dst, values.data(), values.size());
        return;
      case Part::kScales:
        quantize(s.tensor);
        std::memcpy(dst, scales.data(), scales.size());
        return;
    }
  };
  SIEVE_RETURN_IF_ERROR(write_checkpoint(w.dir, config, entries, fill, w.write));
  if (!failed.ok()) {
    return Status(failed.code(), failed.message() + " (the checkpoint written to " + w.dir +
                                     " is incomplete: delete it)");
  }
  return Status::Ok();
}

Status convert_checkpoint(const ConvertCheckpointOptions& o) {
  if (o.dir.empty()) return invalid_argument("convert checkpoint: no output directory given");
  std::error_code ec;
  if (std::filesystem::equivalent(o.from, o.dir, ec)) {
    return invalid_argument(o.dir +
                            ": is the checkpoint being converted; write to another "
                            "directory");
  }
  SIEVE_ASSIGN_OR_RETURN(ModelDir src, open_model_dir(o.from));
  const TensorList tensors = declared_tensors(src.config);
  nlohmann::json config = src.checkpoint->config();
  config["dtype"] = o.dtype == DType::kF32 ? "float32" : "bfloat16";
  config.erase("torch_dtype");
  QuantizedWrite w;
  w.dir = o.dir;
  w.config = &config;
  w.tensors = &tensors;
  w.dtype = o.dtype;
  w.quant = o.quant;
  if (w.quant.method == QuantMethod::kMxfp4)
    w.quant.modules_to_not_convert = modules_left_plain(tensors);
  const Checkpoint& ck = *src.checkpoint;
  w.source = [&](size_t i, float* out) { return ck.read(tensors[i].name, DType::kF32, out); };
  w.write.max_shard_bytes = o.max_shard_bytes;
  w.write.progress = o.progress;
  return write_quantized_checkpoint(w);
}

}  // namespace sieve
