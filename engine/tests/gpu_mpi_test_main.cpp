// main() of the GPU test binaries that need MPI (the NCCL communicator is bootstrapped through
// it): without a usable CUDA device the binary prints why and exits 77, CTest's "Not Run";
// otherwise MPI starts (a singleton without mpirun) for the life of the tests.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/mpi_communicator.h"
#include "kernels/cuda/device.h"

int main(int argc, char** argv) {
  const sieve::cuda::DeviceInfo& dev = sieve::cuda::device_info();
  if (!dev.available) {
    std::fprintf(stderr, "GPU tests not run: %s\n", dev.why_not.c_str());
    return 77;
  }
  auto session = sieve::MpiSession::start(&argc, &argv);
  if (!session.ok()) {
    std::fprintf(stderr, "%s: %s\n", argv[0], session.status().to_string().c_str());
    return 1;
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
