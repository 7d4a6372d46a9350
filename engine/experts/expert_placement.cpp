#include "engine/experts/expert_placement.h"

#include <algorithm>

#include "engine/base/status.h"

namespace sieve {

ExpertPlacement ExpertPlacement::contiguous(int64_t num_experts, int world) {
  SIEVE_CHECK_GE(world, 1);
  SIEVE_CHECK_GE(num_experts, world);
  ExpertPlacement p;
  p.num_experts = num_experts;
  p.world = world;
  p.owner.resize(num_experts);
  p.local_index.resize(num_experts);
  const int64_t base = num_experts / world, extra = num_experts % world;
  int64_t e = 0;
  for (int r = 0; r < world; ++r) {
    const int64_t n = base + (r < extra ? 1 : 0);
    for (int64_t i = 0; i < n; ++i, ++e) {
      p.owner[e] = r;
      p.local_index[e] = static_cast<int32_t>(i);
    }
  }
  return p;
}

std::vector<int64_t> ExpertPlacement::experts_of(int rank) const {
  std::vector<int64_t> out;
  for (int64_t e = 0; e < num_experts; ++e) {
    if (owner[e] == rank) out.push_back(e);
  }
  return out;
}

std::string ExpertPlacement::describe() const {
  std::string s;
  int64_t e = 0;
  while (e < num_experts) {
    int64_t f = e;
    while (f + 1 < num_experts && owner[f + 1] == owner[e])
      ++f;
    if (!s.empty()) s += ", ";
    s += "experts " + std::to_string(e) + (f > e ? "-" + std::to_string(f) : "") + " on rank " +
         std::to_string(owner[e]);
    e = f + 1;
  }
  return s;
}

int64_t ExpertParallelStats::Layer::expert_rows_total() const {
  int64_t n = 0;
  for (int64_t r : expert_rows)
    n += r;
  return n;
}

double ExpertParallelStats::Layer::load_imbalance() const {
  const int64_t total = expert_rows_total();
  if (total == 0) return 0;
  const int64_t most = *std::max_element(expert_rows.begin(), expert_rows.end());
  return static_cast<double>(most) * static_cast<double>(expert_rows.size()) /
         static_cast<double>(total);
}

double ExpertParallelStats::exchange_seconds() const {
  double s = 0;
  for (const Layer& l : layers)
    s += l.exchange_seconds;
  return s;
}

int64_t ExpertParallelStats::bytes() const {
  int64_t b = 0;
  for (const Layer& l : layers)
    b += l.bytes_sent + l.bytes_received;
  return b;
}

double ExpertParallelStats::load_imbalance() const {
  std::vector<int64_t> per_expert;
  for (const Layer& l : layers) {
    if (per_expert.size() < l.expert_rows.size()) per_expert.resize(l.expert_rows.size(), 0);
    for (size_t e = 0; e < l.expert_rows.size(); ++e)
      per_expert[e] += l.expert_rows[e];
  }
  if (per_expert.empty()) return 1.0;
  int64_t total = 0, most = 0;
  for (int64_t n : per_expert) {
    total += n;
    most = std::max(most, n);
  }
  if (total == 0) return 1.0;
  return static_cast<double>(most) * per_expert.size() / static_cast<double>(total);
}

}  // namespace sieve
