// Which rank holds which expert of every MoE layer (expert parallelism). The table is the
// single source of truth for loading (a rank reads only its experts' tensors) and for the
// all-to-all (a token's row goes to its expert's owner); later work may change it at run time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sieve {

class Communicator;

struct ExpertPlacement {
  int64_t num_experts = 0;
  int world = 1;
  std::vector<int> owner;            // [num_experts] → rank
  std::vector<int32_t> local_index;  // [num_experts] → index among its owner's experts

  // Experts split in contiguous ranges, as even as can be: with E % N = m, ranks 0..m-1 hold
  // one more (E = 60, N = 8: four ranks of 8, four of 7). world ≥ 1, num_experts ≥ world.
  static ExpertPlacement contiguous(int64_t num_experts, int world);

  // The experts `rank` holds, in local order.
  std::vector<int64_t> experts_of(int rank) const;
  bool holds(int rank, int64_t expert) const { return owner[expert] == rank; }
  std::string describe() const;  // "experts 0-31 on rank 0, 32-63 on rank 1"
};

// What one rank's MoE layers exchanged, per layer, since the start (telemetry: logs, /metrics).
struct ExpertParallelStats {
  struct Layer {
    int64_t rows_sent = 0, rows_received = 0;  // (token, expert) choices out and in
    int64_t bytes_sent = 0, bytes_received = 0;
    double exchange_seconds = 0;       // in the three collectives (counts, dispatch, combine)
    std::vector<int64_t> expert_rows;  // [local expert]: rows this rank's experts computed
    bool is_moe() const { return !expert_rows.empty(); }  // dense layers count nothing
    int64_t expert_rows_total() const;
    // max / mean of expert_rows (1 = perfectly even); 0 before any row.
    double load_imbalance() const;
  };
  std::vector<Layer> layers;  // [layer]; dense layers stay empty
  double exchange_seconds() const;
  int64_t bytes() const;  // sent + received
  // max / mean of the rows per expert of this rank, over all layers (1 = perfectly even).
  double load_imbalance() const;
};

// One rank's part of an expert-parallel model: which experts it holds, the communicator every
// MoE layer's all-to-all runs on (all ranks step together), and where to count (optional).
// A model given a shard exchanges through the communicator even with one rank.
struct ExpertShard {
  ExpertPlacement placement;
  int rank = 0;
  Communicator* comm = nullptr;
  ExpertParallelStats* stats = nullptr;
  // Two micro-batches per MoE layer, one's all-to-all overlapping the other's experts
  // (engine/experts/expert_parallel_moe.h). The same on every rank.
  bool overlap = false;
};

}  // namespace sieve
