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

// One rank's part of an expert-parallel model: which experts it holds, and the communicator
// every MoE layer's all-to-all runs on (all ranks step together).
struct ExpertShard {
  ExpertPlacement placement;
  int rank = 0;
  Communicator* comm = nullptr;
};

}  // namespace sieve
