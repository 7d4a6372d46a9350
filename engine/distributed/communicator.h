// How ranks of a multi-process run talk: the expert-parallel all-to-all of MoE layers, and the
// engine's step protocol (rank 0 hands requests out and collects what each rank produced).
// Two implementations (engine/distributed/mpi_communicator.h on host memory,
// engine/distributed/nccl_communicator.h on GPU memory, bootstrapped through MPI); a single-process
// run uses none.
//
// Every call is collective: all ranks make the same calls in the same order. A peer that does
// not arrive within the communicator's timeout (it died or hangs) makes the call return
// kUnavailable naming the call, instead of blocking forever; the communicator is then unusable
// and the process should exit.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/base/tensor.h"

namespace sieve {

// An all_to_all_v in flight (Communicator::start_all_to_all_v). Its buffers belong to the
// exchange until wait() returns: the send buffer must not change, the receive buffer is not yet
// written. Destroying one that was not waited for waits (and drops the status).
class PendingAllToAll {
 public:
  virtual ~PendingAllToAll() = default;
  // Until the exchange is complete here, or the communicator's timeout (kUnavailable).
  virtual Status wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Where all_to_all_v's buffers live (kCpu for MPI, kCuda for NCCL).
  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // "mpi", "nccl"

  // Each rank sends send_bytes[r] bytes to rank r, taken back to back from `send`, and receives
  // recv_bytes[r] bytes from rank r into `recv`, back to back in rank order. The byte counts
  // must agree pairwise (exchange them first with all_to_all_counts). Buffers on device().
  Status all_to_all_v(const void* send, std::span<const int64_t> send_bytes, void* recv,
                      std::span<const int64_t> recv_bytes) {
    auto pending = start_all_to_all_v(send, send_bytes, recv, recv_bytes);
    if (!pending.ok()) return pending.status();
    return (*pending)->wait();
  }
  // The same, started and left running so that the caller can compute meanwhile (expert
  // parallelism overlaps one micro-batch's exchange with another's experts). Several may be in
  // flight; every rank starts them in the same order. Buffers must be ready when it is called
  // (on the NCCL communicator: their producer's stream work finished).
  virtual Result<std::unique_ptr<PendingAllToAll>> start_all_to_all_v(
      const void* send, std::span<const int64_t> send_bytes, void* recv,
      std::span<const int64_t> recv_bytes) = 0;
  // send[r] goes to rank r; recv[r] comes from rank r (host memory, size() entries each).
  virtual Status all_to_all_counts(std::span<const int64_t> send, std::span<int64_t> recv) = 0;

  // --- host-memory control collectives (the step protocol)
  // `bytes` of `root` replace everyone's (sizes may differ before the call).
  virtual Status broadcast(std::vector<uint8_t>& bytes, int root) = 0;
  // Every rank's `mine`, in rank order, at `root` (`all` is untouched elsewhere).
  virtual Status gather(std::span<const uint8_t> mine, std::vector<std::vector<uint8_t>>* all,
                        int root) = 0;
  // Element-wise sum over ranks, result everywhere.
  virtual Status all_reduce_sum(std::span<int64_t> values) = 0;
  virtual Status barrier() = 0;
};

}  // namespace sieve
