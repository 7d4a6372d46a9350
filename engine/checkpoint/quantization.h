// Quantized checkpoint storage as releases ship it, named by config.json's
// "quantization_config":
//  - fp8 (DeepSeek-V3/R1, Qwen3-*-FP8): a quantized `X.weight` [..., n, k] is stored as
//    F8_E4M3 beside `X.weight_scale_inv` (F32, or BF16/F16 in some Qwen3 releases;
//    [..., ceil(n / b0), ceil(k / b1)]), with
//    w[i][j] = fp8[i][j] · scale_inv[i / b0][j / b1] and [b0, b1] = "weight_block_size";
//    blocks at the bottom and right edges may be partial.
//  - mxfp4 (gpt-oss): a quantized parameter `P` [..., n, k] is stored as `P_blocks` (U8,
//    [..., n, k / 32, 16], two E2M1 values per byte, the lower-indexed one in the low nibble)
//    and `P_scales` (U8 E8M0, [..., n, k / 32], 2^(s - 127)).
// Tensors a release leaves unquantized (embeddings, lm_head, norms, routers) are stored plain.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/dtype.h"
#include "engine/base/quant_format.h"
#include "engine/base/status.h"

namespace sieve {

enum class QuantMethod : uint8_t { kNone, kFp8, kMxfp4 };

// "none", "fp8", "mxfp4" (the quant_method names releases write).
const char* quant_method_name(QuantMethod m);

// Elements per MXFP4 scale, and bytes that hold them.
inline constexpr int64_t kMxfp4Group = 32;
inline constexpr int64_t kMxfp4GroupBytes = kMxfp4Group / 2;

// The companions of a quantized parameter, by its name.
std::string fp8_scale_name(std::string_view param);     // param + "_scale_inv"
std::string mxfp4_blocks_name(std::string_view param);  // param + "_blocks"
std::string mxfp4_scales_name(std::string_view param);  // param + "_scales"

struct QuantizationConfig {
  QuantMethod method = QuantMethod::kNone;
  // fp8: "weight_block_size" [rows, columns] of one scale.
  int64_t block_n = 128, block_k = 128;
  // mxfp4: the modules the release left unquantized, as written (patterns with '*').
  std::vector<std::string> modules_to_not_convert;

  bool quantized() const { return method != QuantMethod::kNone; }
  // "fp8 e4m3, 128x128 blocks (one scale_inv each)", "mxfp4 (E2M1 in groups of 32 with E8M0
  // scales)", "none".
  std::string describe() const;
};

// config.json's "quantization_config" (absent or null: none). Refused with a message naming the
// value and what sieve supports: a quant_method other than fp8 or mxfp4, an fp8 "fmt" other
// than e4m3, a weight_block_size that is not two positive integers, an
// "activation_scheme" other than dynamic, modules_to_not_convert that is not a string list.
Result<QuantizationConfig> parse_quantization_config(const nlohmann::json& config);

// The "quantization_config" object as the releases write it (fp8 as DeepSeek-V3's, mxfp4 as
// gpt-oss's); only for a quantized config.
nlohmann::json quantization_config_json(const QuantizationConfig& q);

// How a matrix is stored in a checkpoint.
enum class StoredFormat : uint8_t { kPlain, kFp8Block, kMxfp4 };

// "plain", "fp8-block", "mxfp4".
const char* stored_format_name(StoredFormat f);
// The format a backend holds such a matrix in without converting it (kNone for kPlain).
QuantFormat stored_quant_format(StoredFormat f);

// A matrix (or stack of matrices, leading dims first) as the checkpoint stores it: pointers into
// the mapped files, valid while the Checkpoint (or the files) live. The pointers may be
// unaligned: read the fp32 scales with memcpy.
struct StoredMatrix {
  StoredFormat format = StoredFormat::kPlain;
  std::string name;            // the logical parameter, e.g. "model.layers.0.mlp.down_proj.weight"
  std::vector<int64_t> shape;  // logical [..., n, k]
  // kPlain: the elements, of `dtype` (F32, BF16 or F16). kFp8Block: E4M3 bytes [..., n, k].
  // kMxfp4: the blocks [..., n, k / 32, 16].
  DType dtype = DType::kF32;
  const uint8_t* values = nullptr;
  uint64_t value_bytes = 0;
  // kFp8Block: scale_inv [..., ceil(n / block_n), ceil(k / block_k)] of `scale_dtype`.
  // kMxfp4: E8M0 bytes [..., n, k / 32]. kPlain: none.
  const uint8_t* scales = nullptr;
  uint64_t scale_bytes = 0;
  // kFp8Block: F32 as DeepSeek-V3 ships it, or BF16/F16 as some Qwen3 FP8 releases do (widening
  // to fp32 is exact). kMxfp4: kU8.
  DType scale_dtype = DType::kF32;
  // Elements per scale: kFp8Block the release's block; kMxfp4 1 × 32; kPlain 0 × 0.
  int64_t block_n = 0, block_k = 0;

  int64_t rows() const { return shape.size() >= 2 ? shape[shape.size() - 2] : 1; }
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  // Matrices stacked in the leading dims (1 for a plain [n, k]).
  int64_t count() const;
  int64_t numel() const { return count() * rows() * cols(); }
};

// The shape of an fp8 parameter's scale_inv: [..., ceil(n / block_n), ceil(k / block_k)].
std::vector<int64_t> fp8_scale_shape(const std::vector<int64_t>& shape, int64_t block_n,
                                     int64_t block_k);
// The shapes of an mxfp4 parameter's blocks and scales (k must be a multiple of 32).
std::vector<int64_t> mxfp4_blocks_shape(const std::vector<int64_t>& shape);
std::vector<int64_t> mxfp4_scales_shape(const std::vector<int64_t>& shape);

}  // namespace sieve
