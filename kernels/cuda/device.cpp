#include "kernels/cuda/device.h"

#include <cuda_runtime_api.h>

namespace sieve::cuda {

const DeviceInfo& device_info() {
  static const DeviceInfo info = [] {
    DeviceInfo d;
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      d.why_not = cudaGetErrorString(err);
      cudaGetLastError();  // clear the sticky "no device" error for later callers
      return d;
    }
    if (count == 0) {
      d.why_not = "no CUDA device";
      return d;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
      d.why_not = "cudaGetDeviceProperties failed";
      return d;
    }
    d.available = true;
    d.name = prop.name;
    d.major = prop.major;
    d.minor = prop.minor;
    d.total_bytes = prop.totalGlobalMem;
    d.sm_count = prop.multiProcessorCount;
    return d;
  }();
  return info;
}

}  // namespace sieve::cuda
