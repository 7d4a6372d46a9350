// Opening a model directory and loading it: the registry's ModelDir, load_model and the flags
// they read (models/registry.h).
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "models/model_size.h"
#include "models/random_init.h"
#include "models/registry.h"

namespace sieve {
namespace {

Status check_weight_format(const WeightFormat& format, const Backend& backend) {
  for (QuantFormat q : {format.experts, format.dense}) {
    if (!backend.holds(q)) {
      return invalid_argument(std::string("--quantization ") + quant_format_name(q) + ": the " +
                              backend.name() +
                              " backend holds no quantized weights yet; run it on --backend cpu, "
                              "or without --quantization");
    }
  }
  const DType weight_dtype = format.dtype;
  if (weight_dtype != DType::kF32 && weight_dtype != DType::kBF16) {
    return invalid_argument(std::string("weights can be held as fp32 or bf16, not ") +
                            dtype_name(weight_dtype));
  }
  return Status::Ok();
}

}  // namespace

Result<LoadFormat> parse_load_format(std::string_view flag) {
  if (flag == "auto" || flag == "safetensors") return LoadFormat::kSafetensors;
  if (flag == "dummy") return LoadFormat::kDummy;
  return invalid_argument("--load-format must be auto, safetensors or dummy, got '" +
                          std::string(flag) + "'");
}

uint64_t ModelDir::weight_bytes(DType dtype) const {
  return held_weight_bytes(declared_tensors(config), dtype);
}

Result<ModelDir> open_model_dir(const std::string& dir, LoadFormat format) {
  const bool dummy = format == LoadFormat::kDummy;
  if (!std::filesystem::is_directory(dir)) {
    return not_found(dir + (dummy ? ": no such model directory (--load-format dummy needs its "
                                    "config.json)"
                                  : ": no such model directory (expected config.json and "
                                    "*.safetensors)"));
  }
  ModelDir out;
  out.path = dir;
  nlohmann::json config_json;
  if (dummy) {
    SIEVE_ASSIGN_OR_RETURN(config_json, read_model_config(dir));
  } else {
    SIEVE_ASSIGN_OR_RETURN(out.checkpoint, Checkpoint::open(dir));
    config_json = out.checkpoint->config();
  }
  auto config = parse_model_config(config_json);
  if (!config.ok()) {
    return Status(config.status().code(), dir + "/" + config.status().message());
  }
  out.config = std::move(config).value();
  auto skew = read_router_skew(config_json);
  if (!skew.ok()) return Status(skew.status().code(), dir + "/" + skew.status().message());
  out.router_skew = *skew;
  out.family = &family_of(out.config);
  if (!dummy) SIEVE_RETURN_IF_ERROR(out.checkpoint->validate(expected_tensors(out.config)));
  return out;
}

Result<DType> resolve_weight_dtype(std::string_view flag, const ModelConfig& config) {
  if (flag == "fp32" || flag == "float32") return DType::kF32;
  if (flag == "bf16" || flag == "bfloat16") return DType::kBF16;
  if (flag == "auto") return config.checkpoint_dtype == DType::kF32 ? DType::kF32 : DType::kBF16;
  return invalid_argument("--dtype must be fp32, bf16 or auto, got '" + std::string(flag) + "'");
}

Result<std::unique_ptr<Model>> load_model(const ModelDir& dir, Backend& backend,
                                          WeightFormat weight_format, const LoadProgress& progress,
                                          const ExpertShard* shard) {
  const ModelConfig& c = dir.config;
  SIEVE_RETURN_IF_ERROR(check_weight_format(weight_format, backend));
  SIEVE_ASSIGN_OR_RETURN(std::unique_ptr<MoeExecutor> moe,
                         make_moe_executor(backend, shard, c.num_experts, c.num_layers));
  return load_model(dir, backend, weight_format, std::move(moe), progress);
}

Result<std::unique_ptr<Model>> load_model(const ModelDir& dir, Backend& backend,
                                          WeightFormat weight_format,
                                          std::unique_ptr<MoeExecutor> moe,
                                          const LoadProgress& progress) {
  const ModelConfig& c = dir.config;
  SIEVE_RETURN_IF_ERROR(check_weight_format(weight_format, backend));
  std::vector<DecoderLayer> layers = dir.family->recipe(c);
  if (dir.checkpoint) {
    CheckpointSource src(*dir.checkpoint, backend, weight_format, progress);
    // The packers refuse weights their format cannot hold (a NaN, an E4M3 NaN code, a scale
    // out of range) by throwing, naming what and what to do: an error for this load, not a
    // crash of the server.
    Result<std::unique_ptr<Model>> model = [&]() -> Result<std::unique_ptr<Model>> {
      try {
        return load_decoder(c, std::move(layers), src, std::move(moe), backend);
      } catch (const std::invalid_argument& e) {
        return invalid_argument(dir.path + ": " + e.what());
      }
    }();
    // Errors that name a tensor (the weight sources catch the packers' refusals) say which
    // checkpoint it is in.
    const Status& s = model.status();
    if (!s.ok() && s.message().rfind(dir.path, 0) != 0) {
      return Status(s.code(), dir.path + ": " + s.message());
    }
    return model;
  }
  // --load-format dummy: the weights of the seed-0 random checkpoint, made on the backend.
  FilledSource src(random_fills(declare_decoder(c, layers), c, RandomWeights{0, dir.router_skew}),
                   backend, weight_format, progress);
  return load_decoder(c, std::move(layers), src, std::move(moe), backend);
}

}  // namespace sieve
