#include "models/registry.h"

#include <filesystem>

#include <nlohmann/json.hpp>

namespace sieve {
namespace {

// Families people will ask for that sieve does not run yet; named so the error says "not
// supported yet" rather than "unknown".
constexpr std::string_view kKnownUnsupported[] = {
    "deepseek_v3", "deepseek_v2", "gpt_oss", "qwen2_moe", "llama4", "dbrx", "jamba"};

std::string supported_list() {
  std::string s;
  for (const Family* f : supported_families())
    s += (s.empty() ? "" : ", ") + f->model_type;
  return s;
}

Status check_consistency(const ModelConfig& c) {
  auto bad = [](const std::string& m) { return invalid_argument("config.json: " + m); };
  if (c.num_moe_layers() > 0 && c.top_k > c.num_experts) {
    return bad("num_experts_per_tok (" + std::to_string(c.top_k) + ") exceeds the number of " +
               "experts (" + std::to_string(c.num_experts) + ")");
  }
  if (c.rope.rotary_dim <= 0 || c.rope.rotary_dim > c.head_dim || c.rope.rotary_dim % 2 != 0) {
    return bad("rotary dimension " + std::to_string(c.rope.rotary_dim) +
               " must be even and at most head_dim " + std::to_string(c.head_dim));
  }
  if (c.sliding_window < 0) return bad("sliding_window must not be negative");
  return Status::Ok();
}

}  // namespace

const std::vector<const Family*>& supported_families() {
  static const std::vector<const Family*> kFamilies = {&qwen3_moe_family(), &mixtral_family(),
                                                       &olmoe_family()};
  return kFamilies;
}

const Family* find_family(std::string_view model_type) {
  for (const Family* f : supported_families()) {
    if (f->model_type == model_type) return f;
  }
  return nullptr;
}

Result<ModelConfig> parse_model_config(const nlohmann::json& config) {
  if (!config.is_object()) return invalid_argument("config.json is not a JSON object");
  auto it = config.find("model_type");
  if (it == config.end() || !it->is_string()) {
    return invalid_argument("config.json: missing 'model_type' (supported: " + supported_list() +
                            ")");
  }
  const std::string type = it->get<std::string>();
  const Family* family = find_family(type);
  if (!family) {
    for (std::string_view known : kKnownUnsupported) {
      if (known == type) {
        return unimplemented("model_type '" + type +
                             "' is not supported yet (supported: " + supported_list() + ")");
      }
    }
    return invalid_argument("unknown model_type '" + type + "' (supported: " + supported_list() +
                            ")");
  }
  ConfigReader reader(config);
  ModelConfig c = family->parse(reader);
  if (!reader.status().ok()) return reader.status();
  if (c.architecture.empty()) c.architecture = family->architecture;
  SIEVE_RETURN_IF_ERROR(check_consistency(c));
  return c;
}

Result<LoadFormat> parse_load_format(std::string_view flag) {
  if (flag == "auto" || flag == "safetensors") return LoadFormat::kSafetensors;
  if (flag == "dummy") return LoadFormat::kDummy;
  return invalid_argument("--load-format must be auto, safetensors or dummy, got '" +
                          std::string(flag) + "'");
}

uint64_t ModelDir::weight_bytes(DType dtype) const {
  return held_weight_bytes(expected_tensors(config, family->naming), dtype);
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
  out.family = find_family(out.config.model_type);
  if (!dummy) {
    SIEVE_RETURN_IF_ERROR(
        out.checkpoint->validate(expected_tensors(out.config, out.family->naming)));
  }
  return out;
}

Result<DType> resolve_weight_dtype(std::string_view flag, const ModelConfig& config) {
  if (flag == "fp32" || flag == "float32") return DType::kF32;
  if (flag == "bf16" || flag == "bfloat16") return DType::kBF16;
  if (flag == "auto") return config.checkpoint_dtype == DType::kF32 ? DType::kF32 : DType::kBF16;
  return invalid_argument("--dtype must be fp32, bf16 or auto, got '" + std::string(flag) + "'");
}

Result<std::unique_ptr<Model>> load_model(const ModelDir& dir, Backend& backend, DType weight_dtype,
                                          const LoadProgress& progress, const ExpertShard* shard) {
  if (!dir.checkpoint) {
    return make_dummy_moe_decoder(dir.config, dir.family->naming, backend, weight_dtype,
                                  /*seed=*/0, progress, shard);
  }
  return load_moe_decoder(*dir.checkpoint, dir.config, dir.family->naming, backend, weight_dtype,
                          progress, shard);
}

}  // namespace sieve
