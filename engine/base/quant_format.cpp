#include "engine/base/quant_format.h"

namespace sieve {

const char* quant_format_name(QuantFormat q) {
  switch (q) {
    case QuantFormat::kNone:
      return "none";
    case QuantFormat::kInt8:
      return "int8";
    case QuantFormat::kInt4:
      return "int4";
    case QuantFormat::kFp8:
      return "fp8";
    case QuantFormat::kMxfp4:
      return "mxfp4";
  }
  return "?";
}

Result<QuantFormat> parse_quant_format(std::string_view name) {
  for (QuantFormat q : {QuantFormat::kNone, QuantFormat::kInt8, QuantFormat::kInt4,
                        QuantFormat::kFp8, QuantFormat::kMxfp4}) {
    if (name == quant_format_name(q)) return q;
  }
  return invalid_argument("unknown quantization '" + std::string(name) +
                          "': use none, int8, int4, fp8 or mxfp4");
}

std::string WeightFormat::describe() const {
  std::string s = dtype == DType::kF32 ? "fp32" : "bf16";
  if (experts != QuantFormat::kNone && experts == dense) {
    s += std::string(", experts and dense projections ") + quant_format_name(experts);
  } else {
    if (experts != QuantFormat::kNone) s += std::string(", experts ") + quant_format_name(experts);
    if (dense != QuantFormat::kNone) {
      s += std::string(", dense projections ") + quant_format_name(dense);
    }
  }
  return s;
}

}  // namespace sieve
