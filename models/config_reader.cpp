#include "models/config_reader.h"

#include <nlohmann/json.hpp>

namespace sieve {

ConfigReader::ConfigReader(const nlohmann::json& config) : config_(config) {
  if (!config_.is_object()) fail(StatusCode::kInvalidArgument, "config.json is not a JSON object");
}

const nlohmann::json* ConfigReader::get(const char* key) const {
  if (!config_.is_object()) return nullptr;
  auto it = config_.find(key);
  if (it == config_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool ConfigReader::has(const char* key) const {
  return get(key) != nullptr;
}

void ConfigReader::fail(StatusCode code, const std::string& message) {
  if (status_.ok()) status_ = Status(code, "config.json: " + message);
}

void ConfigReader::unsupported(const std::string& what) {
  fail(StatusCode::kUnimplemented, what + " is not supported by sieve");
}

int64_t ConfigReader::positive_int(const char* key) {
  const nlohmann::json* v = get(key);
  if (!v) {
    fail(StatusCode::kInvalidArgument, std::string("missing '") + key + "'");
    return 1;
  }
  if (!v->is_number_integer() || v->get<int64_t>() <= 0) {
    fail(StatusCode::kInvalidArgument,
         std::string("'") + key + "' must be a positive integer, got " + v->dump());
    return 1;
  }
  return v->get<int64_t>();
}

int64_t ConfigReader::int_or(const char* key, int64_t fallback) {
  const nlohmann::json* v = get(key);
  if (!v) return fallback;
  if (!v->is_number_integer()) {
    fail(StatusCode::kInvalidArgument,
         std::string("'") + key + "' must be an integer, got " + v->dump());
    return fallback;
  }
  return v->get<int64_t>();
}

double ConfigReader::number(const char* key) {
  const nlohmann::json* v = get(key);
  if (!v || !v->is_number()) {
    fail(StatusCode::kInvalidArgument,
         std::string("'") + key + "' must be a number" + (v ? ", got " + v->dump() : ""));
    return 0.0;
  }
  return v->get<double>();
}

double ConfigReader::number_or(const char* key, double fallback) {
  return has(key) ? number(key) : fallback;
}

bool ConfigReader::bool_or(const char* key, bool fallback) {
  const nlohmann::json* v = get(key);
  if (!v) return fallback;
  if (!v->is_boolean()) {
    fail(StatusCode::kInvalidArgument,
         std::string("'") + key + "' must be true or false, got " + v->dump());
    return fallback;
  }
  return v->get<bool>();
}

std::string ConfigReader::string_or(const char* key, const std::string& fallback) {
  const nlohmann::json* v = get(key);
  if (!v) return fallback;
  if (!v->is_string()) {
    fail(StatusCode::kInvalidArgument,
         std::string("'") + key + "' must be a string, got " + v->dump());
    return fallback;
  }
  return v->get<std::string>();
}

std::vector<int64_t> ConfigReader::int_list_or_empty(const char* key) {
  const nlohmann::json* v = get(key);
  if (!v) return {};
  if (v->is_number_integer()) return {v->get<int64_t>()};
  std::vector<int64_t> out;
  if (v->is_array()) {
    for (const auto& e : *v) {
      if (!e.is_number_integer()) break;
      out.push_back(e.get<int64_t>());
    }
    if (out.size() == v->size()) return out;
  }
  fail(StatusCode::kInvalidArgument,
       std::string("'") + key + "' must be an integer or a list of integers, got " + v->dump());
  return {};
}

DType ConfigReader::checkpoint_dtype() {
  std::string name = string_or("dtype", string_or("torch_dtype", "float32"));
  if (name == "float32") return DType::kF32;
  if (name == "bfloat16") return DType::kBF16;
  if (name == "float16") return DType::kF16;
  unsupported("dtype '" + name + "'");
  return DType::kF32;
}

}  // namespace sieve
