// Element-type conversion of host memory: checkpoint tensors (fp32, bf16, f16) read as fp32, or
// converted to the fp32 or bf16 a backend holds them in. Both backends load through these.
#pragma once

#include <cstdint>

#include "engine/base/dtype.h"

namespace sieve {

// Element i of `src` (fp32, bf16 or f16) as fp32.
float host_element_as_f32(const void* src, DType src_dtype, int64_t i);

// dst[i] = src[i] for i < n, from fp32/bf16/f16 to fp32 or bf16 (round to nearest even).
void host_convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n);

}  // namespace sieve
