#include "engine/experts/placement_planner.h"

#include <algorithm>
#include <numeric>

namespace sieve {

std::string_view placement_policy_name(PlacementPolicy p) {
  switch (p) {
    case PlacementPolicy::kSieve:
      return "sieve";
    case PlacementPolicy::kHost:
      return "host";
    case PlacementPolicy::kStaticHot:
      return "static-hot";
    case PlacementPolicy::kDevice:
      return "device";
  }
  return "?";
}

Result<PlacementPolicy> parse_placement_policy(std::string_view name) {
  for (PlacementPolicy p : {PlacementPolicy::kSieve, PlacementPolicy::kHost,
                            PlacementPolicy::kStaticHot, PlacementPolicy::kDevice}) {
    if (placement_policy_name(p) == name) return p;
  }
  return invalid_argument("--expert-placement must be sieve, host, static-hot or device, got '" +
                          std::string(name) + "'");
}

namespace {

// The two sides of a layer as the cost model sees them. Uploads and the host experts' rows
// share the link; the device computes its resident experts while uploads travel and each
// uploaded expert after its copy; the host computes while its rows travel.
struct Sides {
  double device_resident = 0, device_uploaded = 0, upload_link = 0;
  double host = 0, activation_link = 0;

  double device() const { return std::max(device_resident, upload_link) + device_uploaded; }
  double host_side() const { return host + activation_link; }
  double link() const { return upload_link + activation_link; }
  double layer() const { return std::max({device(), host_side(), link()}); }
};

}  // namespace

PlacementPlanner::PlacementPlanner(PlannerOptions options) : o_(std::move(options)) {}

void PlacementPlanner::plan(std::span<const int32_t> counts, std::span<const uint8_t> resident,
                            LayerPlan& out) {
  const int64_t E = o_.num_experts;
  SIEVE_CHECK_EQ(static_cast<int64_t>(counts.size()), E);
  SIEVE_CHECK_EQ(static_cast<int64_t>(resident.size()), E);
  const PlacementCostModel& cm = o_.cost;
  const ExpertShape& shape = o_.shape;
  out.tier.assign(E, ExpertTier::kIdle);

  // Costs of each touched expert on each side.
  auto on_device = [&](int32_t e) { return cm.expert_seconds(cm.device, shape, counts[e]); };
  auto on_host = [&](int32_t e) { return cm.expert_seconds(cm.host, shape, counts[e]); };
  auto rows = [&](int32_t e) { return cm.activation_seconds(shape, counts[e]); };
  const double upload = cm.upload_seconds(shape);

  Sides s;
  order_.clear();
  for (int32_t e = 0; e < E; ++e) {
    if (counts[e] <= 0) continue;
    order_.push_back(e);
    const bool res = resident[e] != 0;
    ExpertTier t = ExpertTier::kHost;
    switch (o_.policy) {
      case PlacementPolicy::kHost:
        t = ExpertTier::kHost;
        break;
      case PlacementPolicy::kDevice:
        SIEVE_CHECK_MSG(res,
                        "the device policy needs every expert resident; expert " << e << " is not");
        t = ExpertTier::kDevice;
        break;
      case PlacementPolicy::kStaticHot:
      case PlacementPolicy::kSieve:
        t = res ? ExpertTier::kDevice : ExpertTier::kHost;
        break;
    }
    out.tier[e] = t;
    if (t == ExpertTier::kDevice) {
      s.device_resident += on_device(e);
    } else {
      s.host += on_host(e);
      s.activation_link += rows(e);
    }
  }

  if (o_.policy == PlacementPolicy::kSieve && !order_.empty()) {
    // Hottest first (ties to the lower id, so the plan is deterministic).
    std::sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) {
      return counts[a] != counts[b] ? counts[a] > counts[b] : a < b;
    });
    // While the host is the slower side, move its hottest expert to the device by upload, if
    // that shortens the layer; while the device is slower, move its coldest resident expert to
    // the host (the host holds every expert), if that shortens it. Each expert moves at most
    // once, so this ends after at most `touched` moves.
    size_t hot = 0;               // next host candidate, hottest first
    size_t cold = order_.size();  // one past the next device candidate, coldest last
    while (true) {
      const double now = s.layer();
      bool moved = false;
      if (s.host_side() >= s.device()) {
        // Only experts that are not resident travel: a resident one on the host side is there
        // because moving it off the device shortened the layer.
        while (hot < order_.size() &&
               (out.tier[order_[hot]] != ExpertTier::kHost || resident[order_[hot]] != 0))
          ++hot;
        if (hot < order_.size()) {
          const int32_t e = order_[hot];
          Sides t = s;
          t.host -= on_host(e);
          t.activation_link -= rows(e);
          t.upload_link += upload;
          t.device_uploaded += on_device(e);
          if (t.layer() < now) {
            s = t;
            out.tier[e] = ExpertTier::kUpload;
            moved = true;
          }
          ++hot;
        }
      } else {
        while (cold > 0 && out.tier[order_[cold - 1]] != ExpertTier::kDevice)
          --cold;
        if (cold > 0) {
          const int32_t e = order_[cold - 1];
          Sides t = s;
          t.device_resident -= on_device(e);
          t.host += on_host(e);
          t.activation_link += rows(e);
          if (t.layer() < now) {
            s = t;
            out.tier[e] = ExpertTier::kHost;
            moved = true;
          }
          --cold;
        }
      }
      if (!moved) break;
    }
  }

  out.device_s = s.device();
  out.host_s = s.host_side();
  out.link_s = s.link();
  out.predicted_s = s.layer();
  out.upload_bytes = 0;
  out.activation_bytes = 0;
  for (int32_t e : order_) {
    if (out.tier[e] == ExpertTier::kUpload) out.upload_bytes += shape.weight_bytes();
    if (out.tier[e] == ExpertTier::kHost) {
      out.activation_bytes += 2 * counts[e] * shape.activation_bytes_per_token();
    }
  }
}

// --- residency

ResidencyTracker::ResidencyTracker(int64_t num_moe_layers, int64_t num_experts, int64_t slots,
                                   double decay)
    : layers_(num_moe_layers),
      experts_(num_experts),
      slots_(std::clamp<int64_t>(slots, 0, num_moe_layers * num_experts)),
      decay_(decay),
      freq_(num_moe_layers * num_experts, 0.0),
      resident_(num_moe_layers * num_experts, 0) {}

void ResidencyTracker::observe(int64_t moe_layer, std::span<const int32_t> counts) {
  SIEVE_CHECK(moe_layer >= 0 && moe_layer < layers_);
  SIEVE_CHECK_EQ(static_cast<int64_t>(counts.size()), experts_);
  double* f = freq_.data() + moe_layer * experts_;
  for (int64_t e = 0; e < experts_; ++e)
    f[e] = f[e] * decay_ + counts[e];
}

std::span<const uint8_t> ResidencyTracker::resident(int64_t moe_layer) const {
  return std::span<const uint8_t>(resident_).subspan(moe_layer * experts_, experts_);
}

int64_t ResidencyTracker::num_resident() const {
  return std::count(resident_.begin(), resident_.end(), uint8_t{1});
}

void ResidencyTracker::admit(int64_t moe_layer, int64_t expert) {
  SIEVE_CHECK(moe_layer >= 0 && moe_layer < layers_ && expert >= 0 && expert < experts_);
  const int64_t at = moe_layer * experts_ + expert;
  if (resident_[at] || slots_ == 0) return;
  if (num_resident() >= slots_) {
    // Evict the least frequent resident expert (ties: the highest index).
    int64_t victim = -1;
    for (int64_t i = 0; i < static_cast<int64_t>(resident_.size()); ++i) {
      if (resident_[i] && (victim < 0 || freq_[i] <= freq_[victim])) victim = i;
    }
    resident_[victim] = 0;
  }
  resident_[at] = 1;
}

std::vector<ResidencyTracker::Swap> ResidencyTracker::next_swaps(int64_t max_swaps) {
  std::vector<Swap> swaps;
  if (slots_ == 0) return swaps;
  // The `slots_` most frequent (layer, expert) pairs, ties to the lower index.
  std::vector<int64_t> order(freq_.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + slots_, order.end(), [&](int64_t a, int64_t b) {
    return freq_[a] != freq_[b] ? freq_[a] > freq_[b] : a < b;
  });
  std::vector<uint8_t> wanted(freq_.size(), 0);
  for (int64_t i = 0; i < slots_; ++i)
    wanted[order[i]] = 1;
  // Admit the most frequent missing ones first, each into a free slot or in place of the least
  // frequent resident one that is not wanted.
  std::vector<int64_t> unwanted;
  for (int64_t i = 0; i < static_cast<int64_t>(resident_.size()); ++i) {
    if (resident_[i] && !wanted[i]) unwanted.push_back(i);
  }
  std::sort(unwanted.begin(), unwanted.end(), [&](int64_t a, int64_t b) {
    return freq_[a] != freq_[b] ? freq_[a] < freq_[b] : a > b;
  });
  size_t next_unwanted = 0;
  int64_t resident_count = num_resident();
  for (int64_t i = 0; i < slots_ && static_cast<int64_t>(swaps.size()) < max_swaps; ++i) {
    const int64_t want = order[i];
    if (resident_[want] || freq_[want] <= 0) continue;
    Swap s;
    s.moe_layer = want / experts_;
    s.admit = want % experts_;
    if (resident_count >= slots_) {
      if (next_unwanted >= unwanted.size()) break;
      const int64_t out = unwanted[next_unwanted];
      // A copy pays only for an expert strictly more frequent than the one it replaces: a tie
      // (the top-slots cut falls between equals) would move weights back and forth for nothing.
      // Later candidates are no more frequent and later victims no less, so stop here.
      if (freq_[want] <= freq_[out]) break;
      ++next_unwanted;
      // A swap changes one layer's residency; an eviction in another layer is its own swap.
      if (out / experts_ != s.moe_layer) {
        resident_[out] = 0;
        swaps.push_back({out / experts_, out % experts_, -1});
        if (static_cast<int64_t>(swaps.size()) >= max_swaps) {
          --resident_count;
          break;
        }
      } else {
        resident_[out] = 0;
        s.evict = out % experts_;
      }
      --resident_count;
    }
    resident_[want] = 1;
    ++resident_count;
    swaps.push_back(s);
  }
  return swaps;
}

void ResidencyTracker::set_resident(std::span<const std::vector<uint8_t>> per_layer) {
  SIEVE_CHECK_EQ(static_cast<int64_t>(per_layer.size()), layers_);
  int64_t n = 0;
  for (int64_t l = 0; l < layers_; ++l) {
    SIEVE_CHECK_EQ(static_cast<int64_t>(per_layer[l].size()), experts_);
    for (int64_t e = 0; e < experts_; ++e) {
      resident_[l * experts_ + e] = per_layer[l][e] ? 1 : 0;
      n += per_layer[l][e] ? 1 : 0;
    }
  }
  SIEVE_CHECK_LE(n, slots_);
}

}  // namespace sieve
