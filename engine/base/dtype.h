// Element types of tensors, in checkpoints and in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sieve {

enum class DType : uint8_t { kF32, kBF16, kF16, kI32, kI64, kU8 };

size_t dtype_size(DType dt);
// Name as safetensors writes it: "F32", "BF16", "F16", "I32", "I64", "U8".
const char* dtype_name(DType dt);
std::optional<DType> dtype_from_safetensors(std::string_view name);

}  // namespace sieve
