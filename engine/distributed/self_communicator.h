// The communicator of a single process: rank 0 of 1, host memory, every collective a copy or
// nothing. It bootstraps an NcclCommunicator without MPI (one GPU, one rank: the GPU tests),
// and runs expert parallelism's code path in one process.
#pragma once

#include <cstring>
#include <memory>

#include "engine/distributed/communicator.h"

namespace sieve {

class SelfCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Device device() const override { return Device::kCpu; }
  std::string name() const override { return "self"; }

  Result<std::unique_ptr<PendingAllToAll>> start_all_to_all_v(
      const void* send, std::span<const int64_t> send_bytes, void* recv,
      std::span<const int64_t> recv_bytes) override {
    SIEVE_CHECK(send_bytes.size() == 1 && recv_bytes.size() == 1);
    SIEVE_CHECK_EQ(send_bytes[0], recv_bytes[0]);
    if (send_bytes[0] > 0) std::memcpy(recv, send, static_cast<size_t>(send_bytes[0]));
    return std::unique_ptr<PendingAllToAll>(std::make_unique<Done>());
  }
  Status all_to_all_counts(std::span<const int64_t> send, std::span<int64_t> recv) override {
    recv[0] = send[0];
    return Status::Ok();
  }
  Status broadcast(std::vector<uint8_t>&, int) override { return Status::Ok(); }
  Status gather(std::span<const uint8_t> mine, std::vector<std::vector<uint8_t>>* all,
                int) override {
    all->assign(1, std::vector<uint8_t>(mine.begin(), mine.end()));
    return Status::Ok();
  }
  Status all_reduce_sum(std::span<int64_t>) override { return Status::Ok(); }
  Status barrier() override { return Status::Ok(); }

 private:
  struct Done final : PendingAllToAll {
    Status wait() override { return Status::Ok(); }
  };
};

}  // namespace sieve
