#include "tools/sieve/bench/stats.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace sieve::bench {

Result<Slo> parse_slo(const std::string& text) {
  Slo slo;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string bad = "--slo: '" + item +
                            "' is not NAME=VALUE with NAME ttft, tpot, itl "
                            "or e2e and VALUE like 200ms or 1.5s";
    if (eq == std::string::npos) return invalid_argument(bad);
    const std::string name = item.substr(0, eq);
    std::string value = item.substr(eq + 1);
    double scale = 1;
    if (value.size() > 2 && value.compare(value.size() - 2, 2, "ms") == 0) {
      value.resize(value.size() - 2);
    } else if (!value.empty() && value.back() == 's') {
      value.pop_back();
      scale = 1000;
    }
    double ms = 0;
    try {
      size_t used = 0;
      ms = std::stod(value, &used) * scale;
      if (used != value.size() || !(ms > 0)) return invalid_argument(bad);
    } catch (const std::exception&) {
      return invalid_argument(bad);
    }
    if (name == "ttft") {
      slo.ttft_ms = ms;
    } else if (name == "tpot") {
      slo.tpot_ms = ms;
    } else if (name == "itl") {
      slo.itl_ms = ms;
    } else if (name == "e2e") {
      slo.e2e_ms = ms;
    } else {
      return invalid_argument(bad);
    }
  }
  return slo;
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

Distribution describe_ms(const std::vector<double>& seconds) {
  Distribution d;
  if (seconds.empty()) return d;
  std::vector<double> ms;
  ms.reserve(seconds.size());
  double sum = 0;
  for (double s : seconds) {
    ms.push_back(s * 1000);
    sum += s * 1000;
  }
  d.mean = sum / static_cast<double>(ms.size());
  d.p50 = percentile(ms, 50);
  d.p90 = percentile(ms, 90);
  d.p99 = percentile(ms, 99);
  return d;
}

std::optional<double> tpot_s(const RequestResult& r) {
  const int64_t n = r.has_usage ? r.completion_tokens : r.stream_tokens;
  if (n < 2) return std::nullopt;
  return (r.e2e_s - r.ttft_s) / static_cast<double>(n - 1);
}

bool meets_slo(const RequestResult& r, const Slo& slo) {
  if (!r.ok) return false;
  if (slo.ttft_ms && r.ttft_s * 1000 > *slo.ttft_ms) return false;
  if (slo.e2e_ms && r.e2e_s * 1000 > *slo.e2e_ms) return false;
  if (slo.tpot_ms) {
    const auto t = tpot_s(r);
    if (t && *t * 1000 > *slo.tpot_ms) return false;
  }
  if (slo.itl_ms) {
    for (double gap : r.itl_s)
      if (gap * 1000 > *slo.itl_ms) return false;
  }
  return true;
}

Summary summarize(const std::vector<RequestResult>& results, double duration_s, const Slo& slo) {
  Summary s;
  s.duration_s = duration_s;
  std::vector<double> ttft, tpot, itl, e2e;
  for (const RequestResult& r : results) {
    if (!r.ok) {
      ++s.failed;
      ++s.errors[r.error_kind];
      continue;
    }
    ++s.completed;
    s.input_tokens += r.prompt_tokens;
    s.output_tokens += r.has_usage ? r.completion_tokens : r.stream_tokens;
    s.stream_tokens += r.stream_tokens;
    if (!r.has_usage) ++s.missing_usage;
    if (r.has_usage && r.stream_counted && r.stream_tokens != r.completion_tokens) {
      ++s.token_mismatches;
    }
    if (meets_slo(r, slo)) ++s.good;
    ttft.push_back(r.ttft_s);
    e2e.push_back(r.e2e_s);
    if (auto t = tpot_s(r)) tpot.push_back(*t);
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
  }
  if (duration_s > 0) {
    s.request_throughput = static_cast<double>(s.completed) / duration_s;
    s.input_throughput = static_cast<double>(s.input_tokens) / duration_s;
    s.output_throughput = static_cast<double>(s.output_tokens) / duration_s;
    s.goodput = static_cast<double>(s.good) / duration_s;
  }
  s.ttft = describe_ms(ttft);
  s.tpot = describe_ms(tpot);
  s.itl = describe_ms(itl);
  s.e2e = describe_ms(e2e);
  return s;
}

}  // namespace sieve::bench
