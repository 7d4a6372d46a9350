// The NCCL communicator: engine/distributed/communicator.h with all_to_all_v on GPU memory, for
// expert parallelism on the CUDA backend. Built only with CUDA (SIEVE_HAVE_CUDA).
//
// Bootstrapped through a host-memory communicator (an MpiCommunicator across processes; a
// SelfCommunicator for a single process, with no MPI at all), which it owns and keeps for the
// control collectives (broadcast, gather, all_reduce_sum, barrier, all_to_all_counts are
// delegated to it): rank 0 makes the ncclUniqueId and broadcasts it. Each rank uses device
// (local rank % device count), the local rank from OMPI_COMM_WORLD_LOCAL_RANK.
//
// all_to_all_v runs grouped ncclSend/ncclRecv on the communicator's own stream; its wait polls
// an event recorded after the group. Its buffers must be ready when it is called (their
// producer's work finished or ordered before stream()). The NCCL communicator is non-blocking:
// waits poll ncclCommGetAsyncError and the CUDA event against the timeout; a timeout or an
// NCCL error aborts the NCCL communicator and returns kUnavailable naming the call.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/distributed/communicator.h"

namespace sieve {

class NcclCommunicator final : public Communicator {
 public:
  // A collective call on `control`'s ranks (host memory: an MpiCommunicator across processes, a
  // SelfCommunicator for one), which it keeps for the control collectives. Waits give up after
  // `timeout_s`.
  static Result<std::unique_ptr<NcclCommunicator>> create(std::unique_ptr<Communicator> control,
                                                          double timeout_s);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return control_->rank(); }
  int size() const override { return control_->size(); }
  Device device() const override { return Device::kCuda; }
  std::string name() const override { return "nccl"; }
  int cuda_device() const { return cuda_device_; }
  // The cudaStream_t that all_to_all_v runs on.
  void* stream() const { return stream_; }
  const std::string& broken() const { return broken_; }

  Result<std::unique_ptr<PendingAllToAll>> start_all_to_all_v(
      const void* send, std::span<const int64_t> send_bytes, void* recv,
      std::span<const int64_t> recv_bytes) override;
  Status all_to_all_counts(std::span<const int64_t> send, std::span<int64_t> recv) override {
    return control_->all_to_all_counts(send, recv);
  }
  Status broadcast(std::vector<uint8_t>& bytes, int root) override {
    return control_->broadcast(bytes, root);
  }
  Status gather(std::span<const uint8_t> mine, std::vector<std::vector<uint8_t>>* all,
                int root) override {
    return control_->gather(mine, all, root);
  }
  Status all_reduce_sum(std::span<int64_t> values) override {
    return control_->all_reduce_sum(values);
  }
  Status barrier() override { return control_->barrier(); }

 private:
  class PendingNcclAllToAll;
  struct Nccl;  // the NCCL handle, kept out of this header
  NcclCommunicator(std::unique_ptr<Communicator> control, double timeout_s,
                   std::unique_ptr<Nccl> nccl, void* stream, int cuda_device);
  Status fail(std::string message);

  std::unique_ptr<Communicator> control_;
  double timeout_s_;
  std::unique_ptr<Nccl> nccl_;
  void* stream_;
  int cuda_device_;
  std::string broken_;
};

}  // namespace sieve
