#include "engine/experts/routing_synth.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

namespace sieve {
namespace {

using nlohmann::json;

// Uniform on [0, 1) from 53 random bits: the standard distributions are implementation-defined,
// and a trace must be the same for a seed on every build.
double uniform(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Uniform on [0, n) (Lemire's multiply-shift).
uint64_t below(std::mt19937_64& rng, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
}

template <class T>
void shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i)
    std::swap(v[i - 1], v[below(rng, i)]);
}

// A generator for one purpose of one seed: the layers' permutations and the draws must not
// share a stream, or changing the number of layers would change every token's choices.
std::mt19937_64 stream(uint64_t seed, uint64_t purpose) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(purpose), static_cast<uint32_t>(purpose >> 32)};
  return std::mt19937_64(seq);
}

std::vector<double> normalized(std::span<const double> w) {
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  std::vector<double> out(w.begin(), w.end());
  for (double& x : out)
    x /= sum;
  return out;
}

// Inclusion probabilities min(1, c·share), c such that they sum to k: experts whose share
// would exceed one choice per token are chosen by every token, the rest share what is left in
// proportion. Experts with no share get a part only when fewer than k others have one.
std::vector<double> inclusion_probabilities(std::span<const double> shares, int64_t k) {
  const size_t n = shares.size();
  std::vector<double> pi(n, 0.0);
  std::vector<bool> capped(n, false);
  double left = static_cast<double>(k);
  for (;;) {
    double free_share = 0;
    int64_t free_count = 0;
    for (size_t e = 0; e < n; ++e) {
      if (capped[e]) continue;
      free_share += shares[e];
      ++free_count;
    }
    bool changed = false;
    for (size_t e = 0; e < n; ++e) {
      if (capped[e]) continue;
      pi[e] = free_share > 0 ? left * shares[e] / free_share : left / free_count;
      if (pi[e] > 1.0) {
        capped[e] = true;
        pi[e] = 1.0;
        left -= 1.0;
        changed = true;
      }
    }
    if (!changed) return pi;
  }
}

// The real models whose counts the routing statistics file holds: how a source spec starts
// (the model's name and a colon) and the prefix of the file's entries for it (the file spells
// Mixtral "mistral").
struct RecordedModel {
  std::string_view spec_start;
  std::string_view entries;
};
constexpr RecordedModel kRecordedModels[] = {{"olmoe:", "olmoe/expert_counts/"},
                                             {"mixtral:", "mistral/expert_counts/"}};

const RecordedModel* find_recorded(std::string_view name) {
  for (const RecordedModel& m : kRecordedModels) {
    if (m.spec_start.substr(0, m.spec_start.size() - 1) == name) return &m;
  }
  return nullptr;
}

Status bad_source(std::string_view spec) {
  return invalid_argument("routing source '" + std::string(spec) +
                          "': expected zipf:S (S > 0), olmoe:LAYER[:DOMAIN] or "
                          "mixtral:LAYER[:DOMAIN]");
}

}  // namespace

SkewStats skew_stats(std::span<const int64_t> counts) {
  SkewStats s;
  const int64_t n = static_cast<int64_t>(counts.size());
  s.assignments = std::accumulate(counts.begin(), counts.end(), int64_t{0});
  if (n == 0 || s.assignments == 0) return s;
  std::vector<int64_t> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  const double total = static_cast<double>(s.assignments);
  double top = 0, weighted = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (i >= n - 8) top += static_cast<double>(sorted[i]);
    weighted += static_cast<double>(2 * (i + 1) - n - 1) * static_cast<double>(sorted[i]);
  }
  s.top8_share = top / total;
  s.gini = weighted / (static_cast<double>(n) * total);
  s.max_over_mean = static_cast<double>(sorted.back()) * static_cast<double>(n) / total;
  return s;
}

Result<RoutingSource> parse_routing_source(std::string_view spec) {
  RoutingSource r;
  r.spec = std::string(spec);
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t colon = spec.find(':', start);
    parts.push_back(spec.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) return bad_source(spec);
  const std::string_view kind = parts[0], arg = parts[1];
  if (kind == "zipf" && parts.size() == 2) {
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), r.zipf_s);
    if (ec != std::errc() || end != arg.data() + arg.size() || !(r.zipf_s > 0) ||
        !std::isfinite(r.zipf_s)) {
      return bad_source(spec);
    }
    return r;
  }
  if (!find_recorded(kind)) return bad_source(spec);
  r.model = std::string(kind);
  const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), r.layer);
  if (ec != std::errc() || end != arg.data() + arg.size() || r.layer < 0) return bad_source(spec);
  if (parts.size() == 3) {
    if (parts[2].empty()) return bad_source(spec);
    r.domain = std::string(parts[2]);
  }
  return r;
}

std::vector<double> zipf_weights(int64_t n, double s) {
  std::vector<double> w(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r)
    w[r] = std::pow(static_cast<double>(r + 1), -s);
  return w;
}

Result<RecordedCounts> read_recorded_counts(const std::string& path, const RoutingSource& source) {
  SIEVE_CHECK(!source.is_zipf());
  std::ifstream in(path);
  if (!in) {
    return not_found(path +
                     ": no such routing statistics file (the OLMoE project's "
                     "olmoe_mixtral_counts.json, per-expert counts of real models)");
  }
  const json file = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!file.is_object()) return invalid_argument(path + ": not a JSON object");
  const RecordedModel* model = find_recorded(source.model);
  SIEVE_CHECK(model != nullptr);  // parse_routing_source took only these
  const std::string prefix(model->entries);
  const std::string layer = std::to_string(source.layer);
  RecordedCounts out;
  std::string domains, layers;
  int64_t used = 0;
  try {
    for (const auto& [key, entry] : file.items()) {
      if (key.rfind(prefix, 0) != 0) continue;
      const std::string domain = key.substr(prefix.size());
      domains += (domains.empty() ? "" : ", ") + domain;
      if (layers.empty()) {
        for (const auto& [l, unused] : entry.at("layers").items())
          layers += (layers.empty() ? "" : ", ") + l;
      }
      if (!source.domain.empty() && domain != source.domain) continue;
      const json& layers_json = entry.at("layers");
      if (!layers_json.contains(layer)) continue;
      const auto counts = layers_json.at(layer).at("counts").get<std::vector<int64_t>>();
      const int64_t top_k = entry.at("top_k").get<int64_t>();
      if (out.counts.empty()) {
        out.counts.assign(counts.size(), 0);
        out.top_k = top_k;
      }
      if (counts.size() != out.counts.size() || top_k != out.top_k) {
        return invalid_argument(path + ": " + key + " has another shape than the other domains");
      }
      for (size_t e = 0; e < counts.size(); ++e) {
        if (counts[e] < 0) return invalid_argument(path + ": " + key + ": negative count");
        out.counts[e] += counts[e];
      }
      ++used;
    }
  } catch (const json::exception& e) {
    return invalid_argument(path + ": " + e.what());
  }
  if (domains.empty()) {
    return invalid_argument(path + ": no " + prefix +
                            "* entries (is it olmoe_mixtral_counts.json?)");
  }
  if (used == 0) {
    return invalid_argument(path + ": " + source.model + " has no layer " + layer +
                            (source.domain.empty() ? "" : " on domain '" + source.domain + "'") +
                            " (layers: " + layers + "; domains: " + domains + ")");
  }
  if (std::accumulate(out.counts.begin(), out.counts.end(), int64_t{0}) == 0) {
    return invalid_argument(path + ": " + source.spec + " has no choices counted");
  }
  return out;
}

std::vector<double> map_shares(std::span<const double> shares, int64_t num_experts) {
  std::vector<double> sorted = normalized(shares);
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  const int64_t n = static_cast<int64_t>(sorted.size());
  if (n == num_experts) return sorted;
  // The Lorenz curve from the busiest end: lorenz(x) = share of the busiest fraction x,
  // piecewise linear between whole experts.
  std::vector<double> cum(n + 1, 0.0);
  for (int64_t i = 0; i < n; ++i)
    cum[i + 1] = cum[i] + sorted[i];
  auto lorenz = [&](int64_t j) {
    // x = j / num_experts, in units of the source's experts: j·n / num_experts.
    const int64_t whole = j * n / num_experts;
    const double frac = static_cast<double>(j * n - whole * num_experts) / num_experts;
    return whole >= n ? cum[n] : cum[whole] + frac * sorted[whole];
  };
  std::vector<double> out(num_experts);
  for (int64_t j = 0; j < num_experts; ++j)
    out[j] = lorenz(j + 1) - lorenz(j);
  return out;
}

Result<std::vector<std::vector<double>>> source_shares(const RoutingSource& source,
                                                       const RoutingTraceHeader& header,
                                                       uint64_t seed,
                                                       const std::string& counts_path) {
  const int64_t E = header.num_experts;
  const size_t layers = header.moe_layers.size();
  std::vector<double> ranked;  // busiest first; laid out by a permutation per layer
  if (source.is_zipf()) {
    ranked = normalized(zipf_weights(E, source.zipf_s));
  } else {
    SIEVE_ASSIGN_OR_RETURN(const RecordedCounts recorded,
                           read_recorded_counts(counts_path, source));
    std::vector<double> shares(recorded.counts.begin(), recorded.counts.end());
    if (static_cast<int64_t>(shares.size()) == E) {
      return std::vector<std::vector<double>>(layers, normalized(shares));
    }
    ranked = map_shares(shares, E);
  }
  std::vector<std::vector<double>> out;
  for (size_t l = 0; l < layers; ++l) {
    std::vector<int32_t> perm(E);
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 rng = stream(seed, 2 * l + 1);
    shuffle(perm, rng);
    std::vector<double> shares(E);
    for (int64_t r = 0; r < E; ++r)
      shares[perm[r]] = ranked[r];
    out.push_back(std::move(shares));
  }
  return out;
}

RoutingDraw::RoutingDraw(const RoutingTraceHeader& header,
                         std::span<const std::vector<double>> layer_shares, uint64_t seed)
    : num_experts_(header.num_experts),
      top_k_(header.top_k),
      rng_(stream(seed, 0)),
      order_(header.num_experts) {
  SIEVE_CHECK_EQ(layer_shares.size(), header.moe_layers.size());
  SIEVE_CHECK(top_k_ >= 1 && top_k_ <= num_experts_);
  for (const std::vector<double>& shares : layer_shares) {
    SIEVE_CHECK_EQ(static_cast<int64_t>(shares.size()), num_experts_);
    inclusion_.push_back(inclusion_probabilities(shares, top_k_));
  }
}

RoutingStep RoutingDraw::next(int64_t tokens, std::vector<std::vector<int32_t>>* choices) {
  RoutingStep step;
  step.tokens = tokens;
  step.counts.assign(inclusion_.size(), std::vector<int32_t>(num_experts_, 0));
  if (choices) choices->assign(inclusion_.size(), {});
  std::vector<int32_t> chosen;
  for (size_t l = 0; l < inclusion_.size(); ++l) {
    const std::vector<double>& pi = inclusion_[l];
    for (int64_t t = 0; t < tokens; ++t) {
      std::iota(order_.begin(), order_.end(), 0);
      shuffle(order_, rng_);
      // Points u, u + 1, ..., u + k - 1 on the experts' probabilities laid end to end: each
      // expert's stretch is at most 1 long, so it holds at most one point.
      const double u = uniform(rng_);
      chosen.clear();
      double end = 0;
      for (int32_t e : order_) {
        if (static_cast<int64_t>(chosen.size()) == top_k_) break;
        end += pi[e];
        if (u + static_cast<double>(chosen.size()) < end) chosen.push_back(e);
      }
      // Rounding can leave the last point just past the end: the last experts not chosen fill.
      for (auto it = order_.rbegin(); static_cast<int64_t>(chosen.size()) < top_k_; ++it) {
        if (std::find(chosen.begin(), chosen.end(), *it) == chosen.end()) chosen.push_back(*it);
      }
      for (int32_t e : chosen)
        ++step.counts[l][e];
      if (choices) (*choices)[l].insert((*choices)[l].end(), chosen.begin(), chosen.end());
    }
  }
  return step;
}

}  // namespace sieve
