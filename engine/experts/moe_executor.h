// The MoE executor: what runs one MoE layer's routed experts once the router has chosen them.
// A model's MoE block hands every layer's routed tokens to its executor and never asks which
// one it has:
//   - LocalMoeExecutor: every expert in this process (Backend::moe_experts);
//   - ExpertParallelMoeExecutor (expert_parallel_moe.h): experts spread over ranks, each choice
//     sent to its expert's owner and back;
//   - HybridMoeExecutor (hybrid_moe_executor.h): each layer's experts split, every step, between
//     the device and the host CPU.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/backends/backend.h"
#include "engine/base/status.h"
#include "engine/experts/expert_placement.h"
#include "engine/experts/expert_source.h"

namespace sieve {

class MoeExecutor {
 public:
  virtual ~MoeExecutor() = default;
  // Whether this process holds routed expert `expert` (of every MoE layer). A model loads exactly
  // these, in ascending order, and its MoeArgs::experts lists them in that order.
  virtual bool holds(int64_t expert) const = 0;
  // Called once for each MoE layer while the model loads, after the layer has loaded the experts
  // holds() names: where all of the layer's experts come from. An executor that keeps experts of
  // its own (holding none through the model) makes them from `source` now and later; the others
  // ignore it.
  virtual Status adopt_experts(int64_t layer, std::shared_ptr<const ExpertSource> source) {
    return Status::Ok();
  }
  // m.out = Σ_j m.topk_weights[t, j] · expert_{m.topk_ids[t, j]}(m.x[t]) for MoE layer `layer`
  // (MoeArgs semantics; ids number all experts, m.experts holds this process's). The combine is
  // per token in router order whatever the executor, so every executor gives the same bits.
  // Every process calls it for every MoE layer of every step, with zero tokens when it has none:
  // an executor may exchange tokens with other processes.
  virtual void run(const MoeArgs& m, int64_t layer) = 0;
};

// Every expert here: the backend's own MoE op.
class LocalMoeExecutor final : public MoeExecutor {
 public:
  explicit LocalMoeExecutor(Backend& backend) : be_(backend) {}
  bool holds(int64_t) const override { return true; }
  void run(const MoeArgs& m, int64_t) override { be_.moe_experts(m); }

 private:
  Backend& be_;
};

// The executor of a model with `num_experts` experts per MoE layer over `num_layers` layers:
// local without a shard; expert-parallel with one, once the shard is checked against the
// backend (the communicator must exchange this backend's memory) and the model (the placement
// must be for as many experts). shard->comm must outlive the executor.
Result<std::unique_ptr<MoeExecutor>> make_moe_executor(Backend& backend, const ExpertShard* shard,
                                                       int64_t num_experts, int64_t num_layers);

}  // namespace sieve
