#include "kernels/cuda/device.h"

#include <cuda_runtime_api.h>

#include <cstdio>

namespace sieve::cuda {
namespace {

// The runtime's error as "message (name)", e.g. "no CUDA-capable device is detected
// (cudaErrorNoDevice)".
std::string describe(cudaError_t err) {
  return std::string(cudaGetErrorString(err)) + " (" + cudaGetErrorName(err) + ")";
}

}  // namespace

const DeviceInfo& device_info() {
  static const DeviceInfo info = [] {
    DeviceInfo d;
    // 0 when no driver is installed at all; the runtime then reports an "insufficient" driver.
    int driver_version = 0;
    if (cudaDriverGetVersion(&driver_version) != cudaSuccess) driver_version = 0;
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      d.why_not = describe(err);
      if (err == cudaErrorInsufficientDriver && driver_version == 0) {
        d.why_not = "no CUDA driver installed (" + d.why_not + ")";
      }
      // Absent: no driver, or a driver that sees no GPU. Anything else (a driver too old for
      // this runtime, a mismatched kernel module, devices busy or unsupported) means a GPU is
      // there and broken.
      d.present = !(err == cudaErrorNoDevice ||
                    (err == cudaErrorInsufficientDriver && driver_version == 0));
      cudaGetLastError();  // clear the sticky error for later callers
      return d;
    }
    if (count == 0) {
      d.why_not = "no CUDA device";
      return d;
    }
    d.present = true;
    cudaDeviceProp prop{};
    if (const cudaError_t e = cudaGetDeviceProperties(&prop, 0); e != cudaSuccess) {
      d.why_not = "cudaGetDeviceProperties failed: " + describe(e);
      cudaGetLastError();
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

int exit_without_device(const DeviceInfo& d, const char* program) {
  if (!d.present) {
    std::fprintf(stderr, "%s: not run, no GPU here: %s\n", program, d.why_not.c_str());
    return 77;
  }
  std::fprintf(stderr, "%s: FAILED: a GPU is present but cannot be used: %s\n", program,
               d.why_not.c_str());
  return 1;
}

}  // namespace sieve::cuda
