// Whether a usable CUDA device is present, and what it is. The engine uses it to pick the
// default backend; GPU tests and benchmarks use it to report "not run" instead of passing.
#pragma once

#include <string>

namespace sieve::cuda {

struct DeviceInfo {
  bool available = false;
  std::string why_not;  // when !available: the runtime's reason
  std::string name;     // e.g. "NVIDIA H100 80GB HBM3"
  int major = 0, minor = 0;
  size_t total_bytes = 0;
  int sm_count = 0;
};

// Device 0, queried once per process.
const DeviceInfo& device_info();

}  // namespace sieve::cuda
