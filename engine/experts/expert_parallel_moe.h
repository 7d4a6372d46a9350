// The experts of one MoE layer when they are spread over ranks (expert parallelism): each
// (token, j) choice travels to its expert's owner, runs there, and comes back to be combined in
// router order. Written against Backend and Communicator only, so the CPU backend with the MPI
// communicator and the CUDA backend with the NCCL communicator run the same code.
//
// Per layer, with the router's ids copied to the host (the plan needs them; this is why an
// expert-parallel step is not captured in a CUDA graph):
//   1. plan: choices grouped by owner rank, in (token, j) order within each;
//   2. gather the rows to send; exchange the row counts, then the rows and their experts'
//      local indices (all_to_all_v);
//   3. the owner runs its experts on what it received, one choice per row, weight 1;
//   4. the results go back (all_to_all_v) and combine_rows sums them with the router's weights,
//      j ascending — the single-rank arithmetic, row for row, so the logits are identical.
// With shard.overlap the layer's tokens go as two micro-batches: the second one's dispatch is
// in flight while the first one's experts run, and the first one's results travel back while
// the second one's run.
#pragma once

#include <cstdint>
#include <utility>

#include "engine/backends/backend.h"
#include "engine/experts/expert_placement.h"
#include "engine/experts/moe_executor.h"

namespace sieve {

// out = the MoE block of `m` (MoeArgs semantics) with `m.experts` holding this rank's experts
// in local order. Every rank calls it for every MoE layer of every step, with zero tokens when
// it has none. A failed exchange (a lost rank) aborts with the communicator's message.
void expert_parallel_moe(Backend& be, const ExpertShard& shard, const MoeArgs& m, int64_t layer,
                         int64_t num_layers);

// The MoE executor of one rank of an expert-parallel model: it holds the shard's experts and
// runs every layer through expert_parallel_moe. Made by make_moe_executor (moe_executor.h),
// which checks the shard first.
class ExpertParallelMoeExecutor final : public MoeExecutor {
 public:
  ExpertParallelMoeExecutor(Backend& backend, ExpertShard shard, int64_t num_layers)
      : be_(backend), shard_(std::move(shard)), num_layers_(num_layers) {}
  bool holds(int64_t expert) const override { return shard_.placement.holds(shard_.rank, expert); }
  void run(const MoeArgs& m, int64_t layer) override {
    expert_parallel_moe(be_, shard_, m, layer, num_layers_);
  }

 private:
  Backend& be_;
  ExpertShard shard_;
  int64_t num_layers_;
};

}  // namespace sieve
