// main() of every GPU test binary. Without a CUDA device at all the binary prints why and exits
// with 77, which CTest reports as "Not Run" (SKIP_RETURN_CODE), never as passed; with a device
// that is there but unusable (driver too old, mismatched) it fails. Listing the tests
// (--gtest_list_tests) needs no device, so the GPU run's step filters can be checked anywhere.
#include <gtest/gtest.h>

#include <cstdio>

#include "kernels/cuda/device.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (GTEST_FLAG_GET(list_tests)) return RUN_ALL_TESTS();
  const sieve::cuda::DeviceInfo& dev = sieve::cuda::device_info();
  if (!dev.available) return sieve::cuda::exit_without_device(dev, "GPU tests");
  std::fprintf(stderr, "GPU tests on %s (sm_%d%d)\n", dev.name.c_str(), dev.major, dev.minor);
  return RUN_ALL_TESTS();
}
