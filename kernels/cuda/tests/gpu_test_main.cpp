// main() of every GPU test binary: without a usable CUDA device the binary prints why and exits
// with 77, which CTest reports as "Not Run" (SKIP_RETURN_CODE), never as passed.
#include <gtest/gtest.h>

#include <cstdio>

#include "kernels/cuda/device.h"

int main(int argc, char** argv) {
  const sieve::cuda::DeviceInfo& dev = sieve::cuda::device_info();
  if (!dev.available) {
    std::fprintf(stderr, "GPU tests not run: %s\n", dev.why_not.c_str());
    return 77;
  }
  std::fprintf(stderr, "GPU tests on %s (sm_%d%d)\n", dev.name.c_str(), dev.major, dev.minor);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
