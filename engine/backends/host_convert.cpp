#include "engine/backends/host_convert.h"

#include <cstring>

#include "engine/base/status.h"
#include "kernels/cpu/numeric.h"

namespace sieve {

float host_element_as_f32(const void* src, DType dt, int64_t i) {
  switch (dt) {
    case DType::kF32:
      return static_cast<const float*>(src)[i];
    case DType::kBF16:
      return kernels::bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
    case DType::kF16:
      return kernels::f16_to_f32(static_cast<const uint16_t*>(src)[i]);
    default:
      SIEVE_CHECK_MSG(false, "cannot read " << dtype_name(dt) << " as fp32");
  }
  return 0.f;
}

void host_convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t n) {
  if (src_dtype == dst_dtype) {
    std::memcpy(dst, src, static_cast<size_t>(n) * dtype_size(dst_dtype));
  } else if (dst_dtype == DType::kF32) {
    float* d = static_cast<float*>(dst);
    for (int64_t i = 0; i < n; ++i)
      d[i] = host_element_as_f32(src, src_dtype, i);
  } else if (dst_dtype == DType::kBF16) {
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i)
      d[i] = kernels::f32_to_bf16(host_element_as_f32(src, src_dtype, i));
  } else {
    SIEVE_CHECK_MSG(false, "conversion to " << dtype_name(dst_dtype) << " is not supported");
  }
}

}  // namespace sieve
