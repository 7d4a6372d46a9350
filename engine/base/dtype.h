// Element types of tensors, in checkpoints and in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sieve {

// kF8E4M3: FP8 with a 4-bit exponent (bias 7) and 3-bit mantissa, no infinities, 0x7F/0xFF NaN,
// largest 448 ("float8_e4m3fn"); it only appears in checkpoints, beside a block scale
// (engine/checkpoint/quantization.h).
enum class DType : uint8_t { kF32, kBF16, kF16, kI32, kI64, kU8, kF8E4M3 };

size_t dtype_size(DType dt);
// Name as safetensors writes it: "F32", "BF16", "F16", "I32", "I64", "U8", "F8_E4M3".
const char* dtype_name(DType dt);
std::optional<DType> dtype_from_safetensors(std::string_view name);

}  // namespace sieve
