// Whether a usable CUDA device is present, and what it is. The engine uses it to pick the
// default backend; GPU tests and benchmarks use it to report "not run" instead of passing.
#pragma once

#include <string>

namespace sieve::cuda {

struct DeviceInfo {
  bool available = false;
  // Whether a driver and a GPU are there at all, usable or not. False when no driver is
  // installed or the driver sees no GPU: the one case GPU tests report as "not run". True with
  // `available` false when a GPU is there but cannot be used (a driver older than this build's
  // runtime, a driver and kernel module that disagree, a device in use by another process):
  // that is a failure to report with `why_not`, never "not run".
  bool present = false;
  std::string why_not;  // when !available: the runtime's reason
  std::string name;     // e.g. "NVIDIA H100 80GB HBM3"
  int major = 0, minor = 0;
  size_t total_bytes = 0;
  int sm_count = 0;
};

// Device 0, queried once per process.
const DeviceInfo& device_info();

// For a GPU test or benchmark that finds no usable device: prints why to stderr, after
// `program`, and returns the exit status to end with — 77 ("not run", CTest's skip code) when
// there is no device at all, 1 when one is there but cannot be used.
int exit_without_device(const DeviceInfo& d, const char* program);

}  // namespace sieve::cuda
