// The MPI communicator: engine/distributed/communicator.h on host memory, over a private duplicate
// of an MPI communicator (MPI_COMM_WORLD unless told otherwise). It runs expert parallelism on the
// CPU backend (`mpirun -np 2` in CI) and carries the step protocol of every multi-rank run; the
// NCCL communicator is bootstrapped through it.
//
// Every collective is the non-blocking MPI call followed by MPI_Test polling (a short busy spin,
// then sleeps of 50-200 us) against a deadline, so a peer that died or hangs turns into
// kUnavailable naming the call instead of a process blocked forever. MPI errors are returned
// (MPI_ERRORS_RETURN on the duplicate), never an abort. After a failure the communicator is
// broken: every later call fails at once.
//
// Threads: MPI is initialised with MPI_THREAD_SERIALIZED; one thread at a time calls a
// communicator (the engine loop thread in practice).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/distributed/communicator.h"

namespace sieve {

// True when this process was started by mpirun/mpiexec (OpenMPI's OMPI_COMM_WORLD_SIZE or a
// PMI launcher's PMI_SIZE is set). A plain `sieve run` never initialises MPI.
bool launched_under_mpi();

// Initialises MPI for the life of the object (MPI_Init_thread, MPI_THREAD_SERIALIZED) and
// finalises it in the destructor. One per process, made before any communicator and destroyed
// after the last one. Without mpirun, MPI starts as a singleton: rank 0 of 1.
class MpiSession {
 public:
  static Result<std::unique_ptr<MpiSession>> start(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }  // in MPI_COMM_WORLD
  int size() const { return size_; }

 private:
  MpiSession(int rank, int size) : rank_(rank), size_(size) {}
  int rank_;
  int size_;
};

class MpiCommunicator final : public Communicator {
 public:
  // A communicator over a duplicate of `base` (a collective call on `base`). MPI must be
  // initialised (MpiSession). timeout_s > 0: how long any call waits for its peers.
  static Result<std::unique_ptr<MpiCommunicator>> create(double timeout_s,
                                                         MPI_Comm base = MPI_COMM_WORLD);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Device device() const override { return Device::kCpu; }
  std::string name() const override { return "mpi"; }
  double timeout_s() const { return timeout_s_; }
  // Why the communicator is unusable; empty while it works.
  const std::string& broken() const { return broken_; }

  Result<std::unique_ptr<PendingAllToAll>> start_all_to_all_v(
      const void* send, std::span<const int64_t> send_bytes, void* recv,
      std::span<const int64_t> recv_bytes) override;
  Status all_to_all_counts(std::span<const int64_t> send, std::span<int64_t> recv) override;
  Status broadcast(std::vector<uint8_t>& bytes, int root) override;
  Status gather(std::span<const uint8_t> mine, std::vector<std::vector<uint8_t>>* all,
                int root) override;
  Status all_reduce_sum(std::span<int64_t> values) override;
  Status barrier() override;

  // Tests only: the largest byte count or offset passed to MPI as a plain int (INT_MAX by
  // default) and the chunk used beyond it (1 GiB), so that small buffers take the large path.
  // Same values on every rank.
  void set_limits_for_test(int64_t max_plain_bytes, int64_t chunk_bytes);

 private:
  class PendingMpiAllToAll;
  MpiCommunicator(MPI_Comm comm, double timeout_s);
  // Polls `*request` until it completes or the deadline passes. `scratch` holds what the
  // operation writes to besides the caller's buffers; on failure it is kept for the life of the
  // process, since a late peer may still complete the operation.
  Status wait(MPI_Request* request, const char* call, std::shared_ptr<void> scratch);
  // An MPI return code as a Status (breaking the communicator when it is an error).
  Status check(int rc, const char* call);
  Status fail(std::string message);
  Status usable(const char* call) const;

  MPI_Comm comm_;
  double timeout_s_;
  int rank_ = 0;
  int size_ = 1;
  std::string broken_;
  int64_t max_plain_bytes_;
  int64_t chunk_bytes_;
};

}  // namespace sieve
