#include "models/registry.h"

#include <nlohmann/json.hpp>

namespace sieve {

// The families sieve runs, one line each, in the order make-checkpoint lists them (the first is
// its default). FAMILY(name) is `const Family& name_family()`, defined in
// models/families/name.cpp; `name` is the family's model_type.
#define SIEVE_FAMILIES(FAMILY) \
  FAMILY(qwen3_moe)            \
  FAMILY(mixtral)              \
  FAMILY(olmoe)                \
  FAMILY(gpt_oss)

#define SIEVE_DECLARE_FAMILY(name) const Family& name##_family();
SIEVE_FAMILIES(SIEVE_DECLARE_FAMILY)
#undef SIEVE_DECLARE_FAMILY

namespace {

// Families people will ask for that sieve does not run yet; named so the error says "not
// supported yet" rather than "unknown".
constexpr std::string_view kKnownUnsupported[] = {"deepseek_v3", "deepseek_v2", "qwen2_moe",
                                                  "llama4",      "dbrx",        "jamba"};

std::string supported_list() {
  std::string s;
  for (const Family* f : supported_families())
    s += (s.empty() ? "" : ", ") + std::string(f->model_type);
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
#define SIEVE_LIST_FAMILY(name) &name##_family(),
  static const std::vector<const Family*> kFamilies = {SIEVE_FAMILIES(SIEVE_LIST_FAMILY)};
#undef SIEVE_LIST_FAMILY
  return kFamilies;
}

const Family& default_family() {
  return *supported_families().front();
}

std::vector<std::string> supported_model_types() {
  std::vector<std::string> out;
  for (const Family* f : supported_families())
    out.emplace_back(f->model_type);
  return out;
}

std::string supported_model_types_text() {
  const std::vector<std::string> names = supported_model_types();
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return s;
}

const Family* find_family(std::string_view model_type) {
  for (const Family* f : supported_families()) {
    if (f->model_type == model_type) return f;
  }
  return nullptr;
}

const Family& family_of(const ModelConfig& config) {
  const Family* f = find_family(config.model_type);
  SIEVE_CHECK_MSG(f != nullptr, "no family for model_type '" << config.model_type << "'");
  return *f;
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
  c.model_type = family->model_type;
  if (c.architecture.empty()) c.architecture = family->architecture;
  SIEVE_RETURN_IF_ERROR(check_consistency(c));
  return c;
}

}  // namespace sieve
