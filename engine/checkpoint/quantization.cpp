#include "engine/checkpoint/quantization.h"

#include <nlohmann/json.hpp>

namespace sieve {
namespace {

using nlohmann::json;

constexpr const char* kKey = "quantization_config";

std::string where(const char* field) {
  return std::string("config.json: ") + kKey + "." + field;
}

Status parse_fp8(const json& q, QuantizationConfig& out) {
  if (q.contains("fmt")) {
    const json& fmt = q["fmt"];
    if (!fmt.is_string() || fmt.get<std::string>() != "e4m3") {
      return unimplemented(where("fmt") + " is " + fmt.dump() +
                           "; sieve reads fp8 checkpoints in \"e4m3\" (float8_e4m3fn) only");
    }
  }
  if (q.contains("activation_scheme")) {
    const json& a = q["activation_scheme"];
    if (!a.is_string() || a.get<std::string>() != "dynamic") {
      return unimplemented(where("activation_scheme") + " is " + a.dump() +
                           "; sieve supports \"dynamic\" (weights-only scales in the checkpoint)");
    }
  }
  if (!q.contains("weight_block_size") || q["weight_block_size"].is_null()) {
    return unimplemented(where("weight_block_size") +
                         " is missing; sieve reads fp8 checkpoints with 2-D block scales "
                         "(weight_block_size [rows, columns], e.g. [128, 128])");
  }
  const json& b = q["weight_block_size"];
  if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer() ||
      b[0].get<int64_t>() <= 0 || b[1].get<int64_t>() <= 0) {
    return invalid_argument(where("weight_block_size") + " is " + b.dump() +
                            "; it must be two positive integers [rows, columns]");
  }
  out.block_n = b[0].get<int64_t>();
  out.block_k = b[1].get<int64_t>();
  return Status::Ok();
}

Status parse_mxfp4(const json& q, QuantizationConfig& out) {
  if (!q.contains("modules_to_not_convert") || q["modules_to_not_convert"].is_null()) {
    return Status::Ok();
  }
  const json& m = q["modules_to_not_convert"];
  if (!m.is_array()) {
    return invalid_argument(where("modules_to_not_convert") + " is " + m.dump() +
                            "; it must be a list of module names");
  }
  for (const json& v : m) {
    if (!v.is_string()) {
      return invalid_argument(where("modules_to_not_convert") + " holds " + v.dump() +
                              ", which is not a module name (a string)");
    }
    out.modules_to_not_convert.push_back(v.get<std::string>());
  }
  return Status::Ok();
}

}  // namespace

const char* quant_method_name(QuantMethod m) {
  switch (m) {
    case QuantMethod::kNone:
      return "none";
    case QuantMethod::kFp8:
      return "fp8";
    case QuantMethod::kMxfp4:
      return "mxfp4";
  }
  return "?";
}

const char* stored_format_name(StoredFormat f) {
  switch (f) {
    case StoredFormat::kPlain:
      return "plain";
    case StoredFormat::kFp8Block:
      return "fp8-block";
    case StoredFormat::kMxfp4:
      return "mxfp4";
  }
  return "?";
}

std::string fp8_scale_name(std::string_view param) {
  return std::string(param) + "_scale_inv";
}
std::string mxfp4_blocks_name(std::string_view param) {
  return std::string(param) + "_blocks";
}
std::string mxfp4_scales_name(std::string_view param) {
  return std::string(param) + "_scales";
}

std::string QuantizationConfig::describe() const {
  switch (method) {
    case QuantMethod::kNone:
      return "none";
    case QuantMethod::kFp8:
      return "fp8 e4m3, " + std::to_string(block_n) + "x" + std::to_string(block_k) +
             " blocks (one scale_inv each)";
    case QuantMethod::kMxfp4:
      return "mxfp4 (E2M1 in groups of 32 with E8M0 scales)";
  }
  return "?";
}

Result<QuantizationConfig> parse_quantization_config(const nlohmann::json& config) {
  QuantizationConfig out;
  if (!config.is_object() || !config.contains(kKey) || config[kKey].is_null()) return out;
  const json& q = config[kKey];
  if (!q.is_object()) {
    return invalid_argument(std::string("config.json: ") + kKey + " is a JSON " + q.type_name() +
                            ", not an object");
  }
  if (!q.contains("quant_method") || !q["quant_method"].is_string()) {
    return invalid_argument(where("quant_method") +
                            " is missing or not a string; sieve reads \"fp8\" and \"mxfp4\"");
  }
  const std::string method = q["quant_method"].get<std::string>();
  if (method == "fp8") {
    out.method = QuantMethod::kFp8;
    SIEVE_RETURN_IF_ERROR(parse_fp8(q, out));
  } else if (method == "mxfp4") {
    out.method = QuantMethod::kMxfp4;
    SIEVE_RETURN_IF_ERROR(parse_mxfp4(q, out));
  } else {
    return unimplemented(where("quant_method") + " is \"" + method +
                         "\"; sieve reads \"fp8\" (E4M3 with 2-D block scales) and \"mxfp4\" "
                         "checkpoints (or convert the checkpoint to bf16 first)");
  }
  return out;
}

nlohmann::json quantization_config_json(const QuantizationConfig& q) {
  if (q.method == QuantMethod::kFp8) {
    return {{"activation_scheme", "dynamic"},
            {"fmt", "e4m3"},
            {"quant_method", "fp8"},
            {"weight_block_size", {q.block_n, q.block_k}}};
  }
  return {{"modules_to_not_convert", q.modules_to_not_convert}, {"quant_method", "mxfp4"}};
}

int64_t StoredMatrix::count() const {
  int64_t c = 1;
  for (size_t i = 0; i + 2 < shape.size(); ++i)
    c *= shape[i];
  return c;
}

std::vector<int64_t> fp8_scale_shape(const std::vector<int64_t>& shape, int64_t block_n,
                                     int64_t block_k) {
  std::vector<int64_t> out(shape);
  if (out.size() < 2) return out;
  int64_t& n = out[out.size() - 2];
  int64_t& k = out[out.size() - 1];
  n = (n + block_n - 1) / block_n;
  k = (k + block_k - 1) / block_k;
  return out;
}

std::vector<int64_t> mxfp4_blocks_shape(const std::vector<int64_t>& shape) {
  std::vector<int64_t> out(shape);
  if (out.empty()) return out;
  out.back() /= kMxfp4Group;
  out.push_back(kMxfp4GroupBytes);
  return out;
}

std::vector<int64_t> mxfp4_scales_shape(const std::vector<int64_t>& shape) {
  std::vector<int64_t> out(shape);
  if (!out.empty()) out.back() /= kMxfp4Group;
  return out;
}

QuantFormat stored_quant_format(StoredFormat f) {
  switch (f) {
    case StoredFormat::kFp8Block:
      return QuantFormat::kFp8;
    case StoredFormat::kMxfp4:
      return QuantFormat::kMxfp4;
    case StoredFormat::kPlain:
      break;
  }
  return QuantFormat::kNone;
}

}  // namespace sieve
