// A multi-process run: `mpirun -np N sieve run --expert-parallel-size N ...`. Every rank loads
// the shared weights and its share of the experts (ExpertPlacement::contiguous), runs the
// sequences it is given (data-parallel attention), and steps in lockstep with the others: a
// rank with nothing to do runs empty steps, because every MoE layer is an all-to-all.
#pragma once

#include <memory>

#include "engine/base/status.h"
#include "engine/checkpoint/model_config.h"
#include "engine/distributed/communicator.h"
#include "engine/experts/expert_placement.h"
#include "tools/sieve/engine_flags.h"

namespace sieve {

class MpiCommunicator;
class MpiSession;

class Distributed {
 public:
  // Null for a plain single-process run. Starts MPI when this process was launched by mpirun
  // or --expert-parallel-size > 1 asks for ranks; the two must agree (N processes, size N).
  static Result<std::unique_ptr<Distributed>> start(const EngineFlags& flags);
  ~Distributed();

  int rank() const { return comm_->rank(); }
  int world() const { return comm_->size(); }
  Communicator& comm() { return *comm_; }
  // Collective: every rank says which backend it resolved to; they must agree. On "cuda" the
  // MoE all-to-all moves to NCCL on this rank's GPU (the control collectives stay on MPI).
  Status use_backend(const std::string& backend);
  // This rank's experts for `config`; fails when the model cannot be split N ways.
  Result<ExpertShard> shard(const ModelConfig& config, bool overlap);

  // Lockstep: true while any rank has work (a collective: every rank calls it once per step).
  Result<bool> any_busy(bool busy);

  // What this rank's MoE layers exchanged (the model counts into it).
  const ExpertParallelStats& stats() const { return stats_; }
  // Collective: rank 0 logs one line per rank — steps, time in steps, the all-to-all's share
  // of it, bytes and rows exchanged, expert load imbalance.
  Status log_summary(int64_t steps, double step_seconds);

 private:
  Distributed() = default;
  std::unique_ptr<MpiSession> session_;
  std::unique_ptr<MpiCommunicator> mpi_;  // until use_backend("cuda") hands it to NCCL
  std::unique_ptr<Communicator> nccl_;
  Communicator* comm_ = nullptr;  // whichever of the two is in use
  ExpertParallelStats stats_;
};

}  // namespace sieve
