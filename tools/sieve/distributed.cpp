#include "tools/sieve/distributed.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "engine/distributed/mpi_communicator.h"
#include "tools/sieve/placement/placement_setup.h"
#if defined(SIEVE_HAVE_CUDA)
#include "engine/distributed/nccl_communicator.h"
#endif

namespace sieve {

Distributed::~Distributed() {
  nccl_.reset();  // before MPI is finalised
  mpi_.reset();
  session_.reset();
}

Result<std::unique_ptr<Distributed>> Distributed::start(const EngineFlags& flags) {
  // A placement that cannot go with ranks says so before any rank starts.
  SIEVE_RETURN_IF_ERROR(check_placement_flags(flags.placement, flags.expert_parallel_size));
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
  SIEVE_ASSIGN_OR_RETURN(d->mpi_, MpiCommunicator::create(flags.distributed_timeout_s));
  d->comm_ = d->mpi_.get();
  // One log per run: the other ranks say only what goes wrong.
  if (d->rank() != 0) spdlog::set_level(spdlog::level::warn);
  spdlog::info("expert parallelism over {} ranks (MPI, timeout {:.0f} s{})", world,
               flags.distributed_timeout_s,
               flags.expert_parallel_overlap ? ", two micro-batches overlapped" : "");
  return d;
}

Status Distributed::use_backend(const std::string& backend) {
  std::vector<int64_t> on_cuda = {backend == "cuda" ? 1 : 0};
  SIEVE_RETURN_IF_ERROR(comm_->all_reduce_sum(on_cuda));
  if (on_cuda[0] != 0 && on_cuda[0] != world()) {
    return failed_precondition(
        std::to_string(on_cuda[0]) + " of " + std::to_string(world()) +
        " ranks chose the CUDA backend and the others the CPU: pass the same --backend "
        "everywhere (every rank needs a GPU for --backend cuda)");
  }
  if (backend != "cuda") return Status::Ok();
#if defined(SIEVE_HAVE_CUDA)
  const double timeout_s = mpi_->timeout_s();
  SIEVE_ASSIGN_OR_RETURN(auto nccl, NcclCommunicator::create(std::move(mpi_), timeout_s));
  spdlog::info("expert all-to-all on NCCL, rank {} on GPU {}", rank(), nccl->cuda_device());
  comm_ = nccl.get();
  nccl_ = std::move(nccl);
  return Status::Ok();
#else
  return unimplemented("this sieve was built without CUDA: no NCCL communicator");
#endif
}

Result<ExpertShard> Distributed::shard(const ModelConfig& config, bool overlap) {
  SIEVE_RETURN_IF_ERROR(config.check_expert_parallel_size(world()));
  ExpertShard s;
  s.placement = ExpertPlacement::contiguous(config.num_experts, world());
  s.rank = rank();
  s.comm = comm_;
  s.stats = &stats_;
  s.overlap = overlap;
  spdlog::info("{}", s.placement.describe());
  return s;
}

Result<bool> Distributed::any_busy(bool busy) {
  int64_t n[1] = {busy ? 1 : 0};
  SIEVE_RETURN_IF_ERROR(comm_->all_reduce_sum(n));
  return n[0] > 0;
}

Status Distributed::log_summary(int64_t steps, double step_seconds) {
  int64_t sent = 0, received = 0;
  for (const auto& l : stats_.layers) {
    sent += l.rows_sent;
    received += l.rows_received;
  }
  const std::string mine = nlohmann::json{{"steps", steps},
                                          {"step_s", step_seconds},
                                          {"exchange_s", stats_.exchange_seconds()},
                                          {"bytes", stats_.bytes()},
                                          {"sent", sent},
                                          {"received", received},
                                          {"imbalance", stats_.load_imbalance()}}
                               .dump();
  std::vector<std::vector<uint8_t>> all;
  SIEVE_RETURN_IF_ERROR(comm_->gather(
      std::span(reinterpret_cast<const uint8_t*>(mine.data()), mine.size()), &all, 0));
  if (rank() != 0) return Status::Ok();
  for (size_t r = 0; r < all.size(); ++r) {
    const auto j = nlohmann::json::parse(all[r].begin(), all[r].end());
    const double step_s = j["step_s"], exchange_s = j["exchange_s"];
    spdlog::info(
        "rank {}: {} steps, {:.2f} ms per step, all-to-all {:.2f} ms per step ({:.0f}%), {:.1f} "
        "MB exchanged, {} expert rows out / {} in, expert load max/mean {:.2f}",
        r, j["steps"].get<int64_t>(), 1e3 * step_s / std::max<int64_t>(1, j["steps"]),
        1e3 * exchange_s / std::max<int64_t>(1, j["steps"]),
        step_s > 0 ? 100.0 * exchange_s / step_s : 0.0, j["bytes"].get<int64_t>() / 1e6,
        j["sent"].get<int64_t>(), j["received"].get<int64_t>(), j["imbalance"].get<double>());
  }
  return Status::Ok();
}

}  // namespace sieve
