// Quantized weight formats, as the loader and the backends name them. A checkpoint may ship
// one (FP8 block-scaled, MXFP4) or the loader may quantize bf16/fp16/fp32 weights as it reads
// them (--quantization); either way a backend keeps them quantized in memory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/base/dtype.h"
#include "engine/base/status.h"

namespace sieve {

// kInt8: symmetric, one scale per output row. kInt4: symmetric, groups of 32 along the input
// features with a scale each. kFp8: E4M3 with a scale per block. kMxfp4: E2M1 in groups of 32
// with a power-of-two scale each (OCP MX).
enum class QuantFormat : uint8_t { kNone, kInt8, kInt4, kFp8, kMxfp4 };

// "none", "int8", "int4", "fp8", "mxfp4".
const char* quant_format_name(QuantFormat q);
// The names above; anything else is an error that lists them.
Result<QuantFormat> parse_quant_format(std::string_view name);

// How a backend holds one weight matrix: at `dtype` (kF32 or kBF16), or quantized to `quant`
// (then `dtype` is what the model computes in). Converts from a DType, so the unquantized
// callers name just the dtype.
struct MatrixFormat {
  DType dtype = DType::kBF16;
  QuantFormat quant = QuantFormat::kNone;
  MatrixFormat() = default;
  MatrixFormat(DType d, QuantFormat q = QuantFormat::kNone) : dtype(d), quant(q) {}  // NOLINT
  bool quantized() const { return quant != QuantFormat::kNone; }
};

// What a model's weights become when they load: the dtype the model runs at, and the
// quantization of its routed experts and, separately, of its dense projections (attention,
// dense MLPs, shared experts and the lm_head). Norms, routers and the embedding table are never
// quantized. Converts from a DType: nothing quantized.
struct WeightFormat {
  DType dtype = DType::kBF16;
  QuantFormat experts = QuantFormat::kNone;
  QuantFormat dense = QuantFormat::kNone;
  // A quantized checkpoint's matrices (FP8 block-scaled, MXFP4) stay in their format on a
  // backend that holds it, unless `experts`/`dense` ask for another; otherwise (and with this
  // off) they are dequantized to `dtype` as they load.
  bool keep_stored = false;
  WeightFormat() = default;
  WeightFormat(DType d) : dtype(d) {}  // NOLINT
  MatrixFormat expert_matrix() const { return {dtype, experts}; }
  MatrixFormat dense_matrix() const { return {dtype, dense}; }
  bool quantized() const { return experts != QuantFormat::kNone || dense != QuantFormat::kNone; }
  // "bf16", "bf16, experts int4", "bf16, experts and dense int8".
  std::string describe() const;
};

}  // namespace sieve
