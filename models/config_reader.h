// Typed reads from config.json that remember the first problem, so a family's parser reads
// like a list of fields and still reports one clear error ("config.json: 'hidden_size' must be
// a positive integer, got \"64\"").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/dtype.h"
#include "engine/base/status.h"

namespace sieve {

class ConfigReader {
 public:
  explicit ConfigReader(const nlohmann::json& config);

  bool has(const char* key) const;  // present and not null
  int64_t positive_int(const char* key);
  int64_t int_or(const char* key, int64_t fallback);
  double number(const char* key);
  double number_or(const char* key, double fallback);
  bool bool_or(const char* key, bool fallback);
  std::string string_or(const char* key, const std::string& fallback);
  std::vector<int64_t> int_list_or_empty(const char* key);  // a number or a list of numbers
  // "dtype" (newer transformers) or "torch_dtype": float32 | bfloat16 | float16.
  DType checkpoint_dtype();

  // Records an error unless one is recorded already.
  void fail(StatusCode code, const std::string& message);
  // An option whose value sieve does not implement.
  void unsupported(const std::string& what);
  const Status& status() const { return status_; }
  const nlohmann::json& json() const { return config_; }

 private:
  const nlohmann::json* get(const char* key) const;
  const nlohmann::json& config_;
  Status status_;
};

}  // namespace sieve
