#include "engine/experts/cost_measurement.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <iterator>
#include <memory>
#include <vector>

#include "engine/checkpoint/weight_fill.h"

namespace sieve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Enough experts that one token to each streams their weights from memory, not from a cache
// (128 MiB: several times any last-level CPU cache or a GPU's L2).
constexpr int64_t kStreamBytes = int64_t{128} << 20;
constexpr int64_t kMaxStreamExperts = 256;
// The per-expert cost: this many tiny experts against one.
constexpr int64_t kTinyExperts = 64;
constexpr int64_t kTinyDim = 64;
// Token counts on one expert for the compute rate: from where the products are compute-bound on
// any tier (32 FLOPs per weight byte at bf16) to prefill-sized groups.
constexpr int64_t kComputeTokens[] = {32, 64, 128, 256};
constexpr int64_t kMaxExpertBytes = int64_t{4} << 30;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Random weights in a range that keeps activations of order one: never zeros, so the products
// cost what real ones do on hardware that shortcuts zeros.
ExpertWeights make_experts(Backend& be, int64_t hidden, int64_t inter, DType dtype, int64_t n,
                           uint64_t seed) {
  ExpertWeights w;
  for (int64_t e = 0; e < n; ++e) {
    const auto fill = [&](int64_t part, int64_t fan_in) {
      WeightFill f;
      f.key = weight_fill_key(seed, static_cast<uint64_t>(3 * e + part));
      f.bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
      return f;
    };
    const RowBlockFill gate_up[] = {{inter, fill(0, hidden)}, {inter, fill(1, hidden)}};
    const RowBlockFill down[] = {{hidden, fill(2, inter)}};
    w.gate_up.push_back(be.make_filled_matrix(2 * inter, hidden, gate_up, dtype));
    w.down.push_back(be.make_filled_matrix(hidden, inter, down, dtype));
  }
  return w;
}

Tensor to_backend(Backend& be, const void* src, std::vector<int64_t> shape, DType dtype) {
  Tensor t = be.alloc(std::move(shape), dtype);
  be.copy_from_host(src, t);
  return t;
}

// One moe_experts call, top-1: row i goes to expert expert_of[i] with weight 1.
class MoeCall {
 public:
  MoeCall(Backend& be, ExpertWeights experts, int64_t hidden, std::vector<int32_t> expert_of,
          uint64_t seed)
      : be_(be), experts_(std::move(experts)) {
    const int64_t rows = static_cast<int64_t>(expert_of.size());
    std::vector<float> x(rows * hidden);
    WeightFill f;
    f.key = weight_fill_key(seed, 1u << 30);
    f.bound = 1.0f;
    fill_host_range(f, 0, rows * hidden, DType::kF32, x.data());
    const std::vector<float> ones(rows, 1.0f);
    x_ = to_backend(be, x.data(), {rows, hidden}, DType::kF32);
    ids_ = to_backend(be, expert_of.data(), {rows, 1}, DType::kI32);
    weights_ = to_backend(be, ones.data(), {rows, 1}, DType::kF32);
    out_ = be.alloc({rows, hidden}, DType::kF32);
    be.synchronize();
  }

  double seconds() {
    MoeArgs a;
    a.x = &x_;
    a.topk_ids = &ids_;
    a.topk_weights = &weights_;
    a.experts = &experts_;
    a.out = &out_;
    const auto t0 = Clock::now();
    be_.moe_experts(a);
    be_.synchronize();
    return seconds_since(t0);
  }

 private:
  Backend& be_;
  ExpertWeights experts_;
  Tensor x_, ids_, weights_, out_;
};

std::vector<int32_t> iota_ids(int64_t n) {
  std::vector<int32_t> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = static_cast<int32_t>(i);
  return v;
}

Status check_options(const MeasureOptions& o) {
  if (o.repeats < 1) return invalid_argument("cost measurement: repeats must be at least 1");
  if (!(o.max_seconds > 0)) {
    return invalid_argument("cost measurement: max_seconds must be positive");
  }
  return Status::Ok();
}

// A warm-up round, then timed rounds of every probe in turn until `repeats` rounds are done or
// the budget is spent; the median time of each probe.
std::vector<double> median_times(const std::vector<std::function<double()>>& probes,
                                 const MeasureOptions& o, Clock::time_point start) {
  for (const auto& p : probes)
    p();
  std::vector<std::vector<double>> times(probes.size());
  for (int round = 0; round < o.repeats; ++round) {
    if (round > 0 && seconds_since(start) > o.max_seconds) break;
    for (size_t i = 0; i < probes.size(); ++i)
      times[i].push_back(probes[i]());
  }
  std::vector<double> out;
  for (auto& t : times)
    out.push_back(median(t));
  return out;
}

bool positive_finite(double v) {
  return v > 0 && std::isfinite(v);
}

}  // namespace

Result<TierRates> measure_expert_rates(Backend& tier, const ExpertShape& shape,
                                       const MeasureOptions& o) {
  SIEVE_RETURN_IF_ERROR(check_options(o));
  if (shape.hidden <= 0 || shape.intermediate <= 0) {
    return invalid_argument(
        "cost measurement: the expert shape needs hidden > 0 and "
        "intermediate > 0, got " +
        std::to_string(shape.hidden) + " x " + std::to_string(shape.intermediate));
  }
  if (shape.weight_dtype != DType::kF32 && shape.weight_dtype != DType::kBF16) {
    return invalid_argument(std::string("cost measurement: experts of dtype ") +
                            dtype_name(shape.weight_dtype) +
                            " cannot be measured; use f32 or bf16");
  }
  if (shape.weight_bytes() > kMaxExpertBytes) {
    return invalid_argument("cost measurement: one expert of " + std::to_string(shape.hidden) +
                            " x " + std::to_string(shape.intermediate) + " weighs " +
                            std::to_string(shape.weight_bytes() >> 20) +
                            " MiB; is the shape right?");
  }
  const auto start = Clock::now();
  const int64_t h = shape.hidden, i = shape.intermediate;
  const DType dt = shape.weight_dtype;
  const int64_t stream_experts = std::clamp<int64_t>(
      (kStreamBytes + shape.weight_bytes() - 1) / shape.weight_bytes(), 2, kMaxStreamExperts);

  MoeCall tiny_many(tier, make_experts(tier, kTinyDim, kTinyDim, dt, kTinyExperts, o.seed + 1),
                    kTinyDim, iota_ids(kTinyExperts), o.seed);
  MoeCall tiny_one(tier, make_experts(tier, kTinyDim, kTinyDim, dt, 1, o.seed + 2), kTinyDim,
                   iota_ids(1), o.seed);
  const ExpertWeights experts = make_experts(tier, h, i, dt, stream_experts, o.seed + 3);
  MoeCall stream(tier, experts, h, iota_ids(stream_experts), o.seed);
  std::vector<std::function<double()>> probes = {[&] { return tiny_many.seconds(); },
                                                 [&] { return tiny_one.seconds(); },
                                                 [&] { return stream.seconds(); }};
  std::vector<std::unique_ptr<MoeCall>> compute;
  for (int64_t m : kComputeTokens) {
    compute.push_back(
        std::make_unique<MoeCall>(tier, experts, h, std::vector<int32_t>(m, 0), o.seed));
    probes.push_back([c = compute.back().get()] { return c->seconds(); });
  }
  const std::vector<double> t = median_times(probes, o, start);
  const double per_stream_expert = t[2] / static_cast<double>(stream_experts);

  TierRates r;
  // The fixed cost cannot be negative (noise between two close times), nor more than half of
  // what a real expert takes with one token.
  r.per_expert_s = std::clamp((t[0] - t[1]) / static_cast<double>(kTinyExperts - 1), 0.0,
                              0.5 * per_stream_expert);
  r.weight_bytes_per_s =
      static_cast<double>(shape.weight_bytes()) / (per_stream_expert - r.per_expert_s);
  // The FLOP rate a kernel reaches grows with the token count (small groups use the vector
  // units less well), and the roofline has one: take the geometric middle of the lowest and
  // highest rate over the compute-bound counts, which bounds the worst relative error at
  // those counts by the square root of their spread. A count whose time is under 1.5 times
  // the one-token time is still near the weight-streaming bound and does not count.
  double lo = 0, hi = 0;
  for (size_t k = 0; k < std::size(kComputeTokens); ++k) {
    const double tk = t[3 + k];
    if (tk < 1.5 * per_stream_expert && k + 1 < std::size(kComputeTokens)) continue;
    const double rate = static_cast<double>(kComputeTokens[k]) * shape.flops_per_token() /
                        std::max(tk - r.per_expert_s, 0.5 * tk);
    lo = lo == 0 ? rate : std::min(lo, rate);
    hi = std::max(hi, rate);
  }
  r.flops_per_s = std::sqrt(lo * hi);
  if (!positive_finite(r.weight_bytes_per_s) || !positive_finite(r.flops_per_s)) {
    return internal_error(
        "cost measurement on " + tier.name() + " gave no usable rate (one token to each of " +
        std::to_string(stream_experts) + " experts took " + std::to_string(t[2]) + " s)");
  }
  return r;
}

Result<LinkRates> measure_link(Backend& device, const MeasureOptions& o) {
  SIEVE_RETURN_IF_ERROR(check_options(o));
  const auto start = Clock::now();
  const std::vector<int64_t> sizes = {int64_t{256} << 10, int64_t{8} << 20, int64_t{64} << 20};
  std::vector<uint8_t> host(sizes.back());
  for (size_t b = 0; b < host.size(); ++b)
    host[b] = static_cast<uint8_t>((b * 131 + o.seed) | 1);
  std::vector<Tensor> on_device;
  for (int64_t n : sizes)
    on_device.push_back(device.alloc({n}, DType::kU8));

  std::vector<std::function<double()>> probes;
  for (size_t k = 0; k < sizes.size(); ++k) {
    probes.push_back([&, k] {
      const auto t0 = Clock::now();
      device.copy_from_host(host.data(), on_device[k]);
      device.synchronize();
      return seconds_since(t0);
    });
    probes.push_back([&, k] {
      const auto t0 = Clock::now();
      device.copy_to_host(on_device[k], host.data());
      return seconds_since(t0);
    });
  }
  const std::vector<double> t = median_times(probes, o, start);

  // Least squares of time = a + b · bytes over the sizes, for one direction (offset 0: h2d).
  auto fit = [&](size_t offset, double& rate, double& intercept) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    const double n = static_cast<double>(sizes.size());
    for (size_t k = 0; k < sizes.size(); ++k) {
      const double x = static_cast<double>(sizes[k]), y = t[2 * k + offset];
      sx += x;
      sy += y;
      sxx += x * x;
      sxy += x * y;
    }
    const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    rate = 1.0 / slope;
    intercept = std::max(0.0, (sy - slope * sx) / n);
  };
  LinkRates r;
  double a_h2d = 0, a_d2h = 0;
  fit(0, r.h2d_bytes_per_s, a_h2d);
  fit(1, r.d2h_bytes_per_s, a_d2h);
  r.transfer_s = (a_h2d + a_d2h) / 2;
  if (!positive_finite(r.h2d_bytes_per_s) || !positive_finite(r.d2h_bytes_per_s)) {
    return internal_error("link measurement on " + device.name() +
                          " gave no usable bandwidth (copies did not grow with their size)");
  }
  return r;
}

}  // namespace sieve
