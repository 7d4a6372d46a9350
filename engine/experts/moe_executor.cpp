#include "engine/experts/moe_executor.h"

#include "engine/distributed/communicator.h"
#include "engine/experts/expert_parallel_moe.h"

namespace sieve {

Result<std::unique_ptr<MoeExecutor>> make_moe_executor(Backend& backend, const ExpertShard* shard,
                                                       int64_t num_experts, int64_t num_layers) {
  if (!shard) return std::unique_ptr<MoeExecutor>(std::make_unique<LocalMoeExecutor>(backend));
  if (!shard->comm) return invalid_argument("expert parallelism needs a communicator");
  if (shard->comm->device() != backend.device()) {
    return invalid_argument("expert parallelism: the " + shard->comm->name() +
                            " communicator exchanges " + device_name(shard->comm->device()) +
                            " memory, but the model runs on the " + backend.name() +
                            " backend (use NCCL for --backend cuda, MPI for --backend cpu)");
  }
  if (shard->placement.num_experts != num_experts) {
    return invalid_argument("expert placement is for " +
                            std::to_string(shard->placement.num_experts) +
                            " experts; the model has " + std::to_string(num_experts));
  }
  return std::unique_ptr<MoeExecutor>(
      std::make_unique<ExpertParallelMoeExecutor>(backend, *shard, num_layers));
}

}  // namespace sieve
