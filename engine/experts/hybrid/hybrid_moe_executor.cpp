#include "engine/experts/hybrid/hybrid_moe_executor.h"

#include <algorithm>
#include <cstdio>

namespace sieve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

PlannerOptions planner_options(const HybridMoeOptions& o) {
  PlannerOptions p;
  p.policy = o.policy;
  p.shape = o.shape;
  p.cost = o.cost;
  p.num_experts = o.num_experts;
  return p;
}

int64_t count_moe_layers(const std::vector<bool>& layer_is_moe) {
  return std::count(layer_is_moe.begin(), layer_is_moe.end(), true);
}

// The slots a policy may use: host keeps nothing on the device.
int64_t usable_slots(const HybridMoeOptions& o) {
  return o.policy == PlacementPolicy::kHost ? 0 : o.device_slots;
}

std::string gb(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", static_cast<double>(bytes) / double(1 << 30));
  return buf;
}

}  // namespace

HybridMoeOptions hybrid_options_for(const ModelConfig& config, DType weight_dtype) {
  HybridMoeOptions o;
  o.shape.hidden = config.hidden_size;
  o.shape.intermediate = config.moe_intermediate_size;
  o.shape.weight_dtype = weight_dtype;
  o.num_experts = config.num_experts;
  o.layer_is_moe = config.layer_is_moe;
  return o;
}

Result<std::unique_ptr<HybridMoeExecutor>> HybridMoeExecutor::create(Backend& device, Backend& host,
                                                                     HybridMoeOptions o) {
  if (host.device() != Device::kCpu) {
    return invalid_argument("the host tier of --expert-placement must be a CPU backend");
  }
  const int64_t moe_layers = count_moe_layers(o.layer_is_moe);
  if (o.num_experts <= 0 || moe_layers == 0) {
    return invalid_argument("--expert-placement needs a model with MoE layers");
  }
  if (o.device_slots < 0) return invalid_argument("--device-expert-memory must be ≥ 0");
  const int64_t all = moe_layers * o.num_experts;
  if (o.policy == PlacementPolicy::kDevice) {
    if (o.device_slots < all) {
      return invalid_argument(
          "--expert-placement device keeps every expert on the device: " + std::to_string(all) +
          " experts of " + std::to_string(o.shape.weight_bytes()) + " bytes need " +
          gb(all * o.shape.weight_bytes()) + " GB, but --device-expert-memory holds " +
          std::to_string(o.device_slots) +
          " of them: raise it, or use --expert-placement sieve or static-hot");
    }
    o.fixed_resident.assign(moe_layers, std::vector<uint8_t>(o.num_experts, 1));
  } else if (o.policy == PlacementPolicy::kStaticHot) {
    if (static_cast<int64_t>(o.fixed_resident.size()) != moe_layers) {
      return invalid_argument(
          "--expert-placement static-hot needs its resident set "
          "(--placement-profile TRACE): one list per MoE layer");
    }
    int64_t n = 0;
    for (const auto& layer : o.fixed_resident) {
      if (static_cast<int64_t>(layer.size()) != o.num_experts) {
        return invalid_argument("static-hot resident set: a layer lists " +
                                std::to_string(layer.size()) + " experts, the model has " +
                                std::to_string(o.num_experts));
      }
      n += std::count_if(layer.begin(), layer.end(), [](uint8_t r) { return r != 0; });
    }
    if (n > o.device_slots) {
      return invalid_argument("static-hot resident set of " + std::to_string(n) +
                              " experts is over the --device-expert-memory budget of " +
                              std::to_string(o.device_slots));
    }
  } else if (!o.fixed_resident.empty()) {
    return invalid_argument("a fixed resident set is static-hot's (--placement-profile), not " +
                            std::string(placement_policy_name(o.policy)) + "'s");
  }
  return std::unique_ptr<HybridMoeExecutor>(new HybridMoeExecutor(device, host, std::move(o)));
}

HybridMoeExecutor::HybridMoeExecutor(Backend& device, Backend& host, HybridMoeOptions o)
    : dev_(device),
      host_(host),
      o_(std::move(o)),
      planner_(planner_options(o_)),
      residency_(count_moe_layers(o_.layer_is_moe), o_.num_experts, usable_slots(o_), o_.decay),
      tiers_(device, host, static_cast<int64_t>(o_.layer_is_moe.size()), o_.num_experts) {
  const int64_t L = static_cast<int64_t>(o_.layer_is_moe.size());
  moe_index_.assign(L, -1);
  stats_.layers.resize(L);
  for (int64_t l = 0; l < L; ++l) {
    if (!o_.layer_is_moe[l]) continue;
    moe_index_[l] = static_cast<int64_t>(layer_of_.size());
    layer_of_.push_back(l);
    stats_.layers[l].last_tier.assign(o_.num_experts, ExpertTier::kIdle);
    stats_.layers[l].resident.assign(o_.num_experts, 0);
  }
  if (!o_.fixed_resident.empty()) residency_.set_resident(o_.fixed_resident);
  stats_.policy = placement_policy_name(o_.policy);
  stats_.device_slots = usable_slots(o_);
}

Status HybridMoeExecutor::adopt_experts(int64_t layer, std::shared_ptr<const ExpertSource> source) {
  const int64_t ml = moe_index_.at(layer);
  SIEVE_CHECK_MSG(ml >= 0, "layer " << layer << " is not a MoE layer");
  if (source->hidden() != o_.shape.hidden || source->intermediate() != o_.shape.intermediate ||
      source->weight_dtype() != o_.shape.weight_dtype) {
    return invalid_argument("layer " + std::to_string(layer) +
                            "'s experts do not have the shape the placement was planned for");
  }
  SIEVE_RETURN_IF_ERROR(tiers_.adopt(layer, std::move(source)));
  // The resident set this policy starts with (static-hot's profile, device's everything).
  const std::span<const uint8_t> resident = residency_.resident(ml);
  for (int64_t e = 0; e < o_.num_experts; ++e) {
    if (resident[e]) SIEVE_RETURN_IF_ERROR(tiers_.upload(layer, e));
  }
  refresh_residency_stats();
  return Status::Ok();
}

int64_t HybridMoeExecutor::max_device_bytes() const {
  const int64_t in_flight =
      o_.policy == PlacementPolicy::kSieve && residency_.slots() > 0 ? o_.max_swaps_in_flight : 0;
  return (residency_.slots() + in_flight) * o_.shape.weight_bytes();
}

void HybridMoeExecutor::begin_step() {
  ++stats_.steps;
  stats_.step_predicted_seconds = 0;
  stats_.step_actual_seconds = 0;
  if (o_.policy != PlacementPolicy::kSieve || residency_.slots() == 0) return;
  install_swaps();
  // A few more swaps toward the most frequent experts. An eviction frees its device copy now; an
  // admission becomes a copy on the helper thread, installed at a later step's start.
  const int64_t room = o_.max_swaps_in_flight - tiers_.copies_in_flight();
  if (room > 0) {
    for (const ResidencyTracker::Swap& s : residency_.next_swaps(room)) {
      const int64_t layer = layer_of_[s.moe_layer];
      if (s.admit >= 0 && !tiers_.on_device(layer, s.admit)) tiers_.start_copy(layer, s.admit);
    }
  }
  drop_unwanted();
  refresh_residency_stats();
}

void HybridMoeExecutor::drop_unwanted() {
  for (size_t ml = 0; ml < layer_of_.size(); ++ml) {
    const int64_t layer = layer_of_[ml];
    const std::span<const uint8_t> want = residency_.resident(static_cast<int64_t>(ml));
    for (int64_t e = 0; e < o_.num_experts; ++e) {
      if (want[e] || !tiers_.on_device(layer, e)) continue;
      tiers_.drop(layer, e);
      ++stats_.layers[layer].evictions;
    }
  }
}

void HybridMoeExecutor::refresh_residency_stats() {
  for (int64_t layer : layer_of_) {
    std::vector<uint8_t>& r = stats_.layers[layer].resident;
    for (int64_t e = 0; e < o_.num_experts; ++e)
      r[e] = tiers_.on_device(layer, e) ? 1 : 0;
  }
}

void HybridMoeExecutor::cap_uploads(std::span<const int32_t> counts) {
  std::vector<int32_t> uploads;
  for (int32_t e = 0; e < static_cast<int32_t>(o_.num_experts); ++e) {
    if (plan_.tier[e] == ExpertTier::kUpload) uploads.push_back(e);
  }
  const int64_t cap = residency_.slots();
  if (static_cast<int64_t>(uploads.size()) <= cap) return;
  std::sort(uploads.begin(), uploads.end(), [&](int32_t a, int32_t b) {
    return counts[a] != counts[b] ? counts[a] > counts[b] : a < b;
  });
  for (size_t i = static_cast<size_t>(cap); i < uploads.size(); ++i)
    plan_.tier[uploads[i]] = ExpertTier::kHost;
}

Tensor HybridMoeExecutor::to_device(const std::vector<int32_t>& v, std::vector<int64_t> shape) {
  Tensor t = dev_.scratch(std::move(shape), DType::kI32);
  dev_.copy_from_host(v.data(), t);
  return t;
}

Tensor HybridMoeExecutor::to_device(const std::vector<float>& v, std::vector<int64_t> shape) {
  Tensor t = dev_.scratch(std::move(shape), DType::kF32);
  dev_.copy_from_host(v.data(), t);
  return t;
}

void HybridMoeExecutor::run(const MoeArgs& m, int64_t layer) {
  const Clock::time_point t0 = Clock::now();
  if (layer <= last_layer_) begin_step();
  last_layer_ = layer;
  const int64_t ml = moe_index_.at(layer);
  SIEVE_CHECK_MSG(ml >= 0 && tiers_.adopted(layer), "layer " << layer << " has no experts");
  const int64_t T = m.x->dim(0), H = m.x->dim(1), k = m.topk_ids->dim(1), E = o_.num_experts;
  if (T == 0) return;
  HybridMoeStats::Layer& st = stats_.layers[layer];

  // 1. The router's choices on the host, counted; the plan.
  ids_.resize(static_cast<size_t>(T * k));
  dev_.copy_to_host(*m.topk_ids, ids_.data());
  counts_.assign(E, 0);
  for (int32_t e : ids_) {
    SIEVE_CHECK(e >= 0 && e < E);
    ++counts_[e];
  }
  resident_.resize(E);
  for (int64_t e = 0; e < E; ++e)
    resident_[e] = tiers_.on_device(layer, e) ? 1 : 0;
  const Clock::time_point p0 = Clock::now();
  planner_.plan(counts_, resident_, plan_);
  st.planner_seconds += seconds_since(p0);
  cap_uploads(counts_);

  // 2. Uploads, now. One that fails leaves its expert on the host.
  std::vector<int32_t> uploaded;
  for (int32_t e = 0; e < static_cast<int32_t>(E); ++e) {
    if (plan_.tier[e] != ExpertTier::kUpload) continue;
    if (tiers_.upload(layer, e).ok()) {
      uploaded.push_back(e);
    } else {
      plan_.tier[e] = ExpertTier::kHost;
    }
  }

  // 3. Every (token, choice) row to one tier: device rows first, then host rows, each in
  // (token, j) order; slot_of says where each choice's result lands.
  std::vector<int32_t> slot_of(T * k), dev_tokens, dev_ids, host_tokens, host_ids;
  for (int64_t i = 0; i < T * k; ++i) {
    if (plan_.tier[ids_[i]] != ExpertTier::kHost) {
      slot_of[i] = static_cast<int32_t>(dev_tokens.size());
      dev_tokens.push_back(static_cast<int32_t>(i / k));
      dev_ids.push_back(tiers_.local_index(layer, ids_[i]));
    }
  }
  const int64_t nd = static_cast<int64_t>(dev_tokens.size());
  for (int64_t i = 0; i < T * k; ++i) {
    if (plan_.tier[ids_[i]] == ExpertTier::kHost) {
      slot_of[i] = static_cast<int32_t>(nd + static_cast<int64_t>(host_tokens.size()));
      host_tokens.push_back(static_cast<int32_t>(i / k));
      host_ids.push_back(ids_[i]);
    }
  }
  const int64_t nh = static_cast<int64_t>(host_tokens.size());
  Tensor y = dev_.scratch({T * k, H}, DType::kF32);  // [rows, hidden]: device rows, then host

  // The host rows go down and run on the helper thread, with the host tier's threads.
  Tensor host_y;
  if (nh > 0) {
    Tensor rows = dev_.scratch({nh, H}, DType::kF32);
    dev_.gather_rows(*m.x, to_device(host_tokens, {nh}), rows);
    Tensor x = host_.alloc({nh, H}, DType::kF32);
    dev_.copy_to_host(rows, x.raw());
    Tensor ids = Tensor::empty({nh, 1}, DType::kI32);
    std::copy(host_ids.begin(), host_ids.end(), ids.data<int32_t>());
    Tensor ones = Tensor::empty({nh, 1}, DType::kF32);
    std::fill_n(ones.data<float>(), nh, 1.0f);
    host_y = host_.alloc({nh, H}, DType::kF32);
    const ExpertWeights* experts = &tiers_.host(layer);
    host_lane_.post([this, x, ids, ones, host_y, experts, activation = m.activation] {
      MoeArgs a;
      a.activation = activation;
      a.x = &x;
      a.topk_ids = &ids;
      a.topk_weights = &ones;
      a.experts = experts;
      Tensor out = host_y;
      a.out = &out;
      host_.moe_experts(a);
    });
  }
  // Meanwhile the device rows on the device tier.
  if (nd > 0) {
    Tensor rows = dev_.scratch({nd, H}, DType::kF32);
    dev_.gather_rows(*m.x, to_device(dev_tokens, {nd}), rows);
    const Tensor ids = to_device(dev_ids, {nd, 1});
    const Tensor ones = to_device(std::vector<float>(nd, 1.0f), {nd, 1});
    Tensor out = y.rows(0, nd);
    MoeArgs a;
    a.x = &rows;
    a.topk_ids = &ids;
    a.topk_weights = &ones;
    a.experts = &tiers_.device(layer);
    a.out = &out;
    a.activation = m.activation;
    dev_.moe_experts(a);
  }
  // 4. The host results back up, then the combine in router order.
  if (nh > 0) {
    host_lane_.wait_idle();
    Tensor back = y.rows(nd, nd + nh);
    dev_.copy_from_host(host_y.raw(), back);
  }
  dev_.combine_rows(y, to_device(slot_of, {T * k}), *m.topk_weights, *m.out);

  // Residency follows the load; the uploads are admitted (which may evict elsewhere).
  if (o_.policy == PlacementPolicy::kSieve && residency_.slots() > 0) {
    residency_.observe(ml, counts_);
    for (int32_t e : uploaded)
      residency_.admit(ml, e);
    if (!uploaded.empty()) {
      drop_unwanted();
      refresh_residency_stats();
    }
  }
  dev_.synchronize();  // the layer's time includes the device's work

  // Telemetry.
  for (int64_t e = 0; e < E; ++e) {
    const ExpertTier t = counts_[e] > 0 ? plan_.tier[e] : ExpertTier::kIdle;
    st.last_tier[e] = t;
    if (t == ExpertTier::kDevice) {
      ++st.device_experts;
      st.device_rows += counts_[e];
    } else if (t == ExpertTier::kUpload) {
      ++st.upload_experts;
      st.upload_rows += counts_[e];
    } else if (t == ExpertTier::kHost) {
      ++st.host_experts;
      st.host_rows += counts_[e];
    }
  }
  st.upload_bytes += static_cast<int64_t>(uploaded.size()) * o_.shape.weight_bytes();
  st.activation_bytes += 2 * nh * o_.shape.activation_bytes_per_token();
  const double actual = seconds_since(t0);
  st.predicted_seconds += plan_.predicted_s;
  st.actual_seconds += actual;
  stats_.step_predicted_seconds += plan_.predicted_s;
  stats_.step_actual_seconds += actual;
}

void HybridMoeExecutor::install_swaps() {
  // Where the residency still wants them (it may have evicted an expert while it was copied).
  for (const TieredExperts::Landed& l : tiers_.install_landed([this](int64_t layer, int64_t e) {
         return residency_.resident(moe_index_[layer])[e] != 0;
       })) {
    if (!l.installed) continue;
    ++stats_.layers[l.layer].swaps_in;
    stats_.layers[l.layer].swap_bytes += o_.shape.weight_bytes();
  }
}

void HybridMoeExecutor::finish_swaps() {
  tiers_.wait_for_copies();
  install_swaps();
  refresh_residency_stats();
}

}  // namespace sieve
