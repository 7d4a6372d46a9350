#include "tools/sieve/distributed.h"

#include <spdlog/spdlog.h>

#include "engine/mpi_communicator.h"

namespace sieve {

Distributed::~Distributed() {
  comm_.reset();  // before MPI is finalised
  session_.reset();
}

Result<std::unique_ptr<Distributed>> Distributed::start(const EngineFlags& flags) {
  const bool under_mpi = launched_under_mpi();
  if (!under_mpi && flags.expert_parallel_size <= 1) return std::unique_ptr<Distributed>();
  std::unique_ptr<Distributed> d(new Distributed());
  SIEVE_ASSIGN_OR_RETURN(d->session_, MpiSession::start(nullptr, nullptr));
  const int world = d->session_->size();
  if (world != flags.expert_parallel_size) {
    return invalid_argument(
        "--expert-parallel-size " + std::to_string(flags.expert_parallel_size) + " but " +
        std::to_string(world) + " process" + (world == 1 ? "" : "es") +
        (under_mpi ? " were started: run `mpirun -np N sieve ... --expert-parallel-size N`"
                   : ": expert parallelism runs under mpirun (`mpirun -np N sieve ... "
                     "--expert-parallel-size N`)"));
  }
  SIEVE_ASSIGN_OR_RETURN(auto comm, MpiCommunicator::create(flags.distributed_timeout_s));
  d->comm_ = std::move(comm);
  // One log per run: the other ranks say only what goes wrong.
  if (d->rank() != 0) spdlog::set_level(spdlog::level::warn);
  spdlog::info("expert parallelism over {} ranks (MPI, timeout {:.0f} s)", world,
               flags.distributed_timeout_s);
  return d;
}

Result<ExpertShard> Distributed::shard(const ModelConfig& config) {
  if (config.num_moe_layers() == 0) {
    return invalid_argument("--expert-parallel-size " + std::to_string(world()) + ": " +
                            config.model_type + " has no MoE layers to split");
  }
  if (config.num_experts < world()) {
    return invalid_argument("--expert-parallel-size " + std::to_string(world()) +
                            " exceeds the model's " + std::to_string(config.num_experts) +
                            " experts: every rank must hold at least one");
  }
  ExpertShard s;
  s.placement = ExpertPlacement::contiguous(config.num_experts, world());
  s.rank = rank();
  s.comm = comm_.get();
  spdlog::info("{}", s.placement.describe());
  return s;
}

Result<bool> Distributed::any_busy(bool busy) {
  int64_t n[1] = {busy ? 1 : 0};
  SIEVE_RETURN_IF_ERROR(comm_->all_reduce_sum(n));
  return n[0] > 0;
}

}  // namespace sieve
