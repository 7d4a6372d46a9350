#include "tools/sieve/bench/report.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace sieve::bench {
namespace {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;

ojson dist_json(const Distribution& d) {
  return {{"mean", d.mean}, {"p50", d.p50}, {"p90", d.p90}, {"p99", d.p99}};
}

std::string fmt(double v, int decimals = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string rate_name(double rate) {
  return std::isfinite(rate) ? fmt(rate, rate == std::floor(rate) ? 0 : 2) + " req/s" : "inf";
}

std::string render(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const std::string& cell = rows[r][c];
      const std::string pad(width[c] - cell.size(), ' ');
      out += c == 0 ? cell + pad : "  " + pad + cell;  // names left, numbers right
    }
    out += "\n";
    if (r == 0) {
      size_t total = 0;
      for (size_t w : width)
        total += w + 2;
      out += std::string(total - 2, '-') + "\n";
    }
  }
  return out;
}

// A figure of a run in a result file: "output_throughput" or "ttft_ms.p99".
std::optional<double> figure(const json& run, const std::string& path) {
  const json* at = &run;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    if (dot == std::string::npos) dot = path.size();
    const std::string key = path.substr(pos, dot - pos);
    if (!at->is_object() || !at->contains(key)) return std::nullopt;
    at = &(*at)[key];
    pos = dot + 1;
  }
  if (!at->is_number()) return std::nullopt;
  return at->get<double>();
}

}  // namespace

ojson run_to_json(const RunReport& run) {
  const Summary& s = run.summary;
  ojson j;
  j["request_rate"] = std::isfinite(run.request_rate) ? ojson(run.request_rate) : ojson("inf");
  j["max_concurrency"] = run.max_concurrency > 0 ? ojson(run.max_concurrency) : ojson(nullptr);
  j["interrupted"] = run.interrupted;
  j["duration_s"] = s.duration_s;
  j["completed"] = s.completed;
  j["failed"] = s.failed;
  j["errors"] = ojson::object();
  for (const auto& [kind, n] : s.errors)
    j["errors"][kind] = n;
  j["error_samples"] = run.error_samples;
  j["total_input_tokens"] = s.input_tokens;
  j["total_output_tokens"] = s.output_tokens;
  j["stream_output_tokens"] = s.stream_tokens;
  j["token_count_mismatches"] = s.token_mismatches;
  j["requests_without_usage"] = s.missing_usage;
  j["request_throughput"] = s.request_throughput;
  j["input_throughput"] = s.input_throughput;
  j["output_throughput"] = s.output_throughput;
  j["good_requests"] = s.good;
  j["goodput"] = s.goodput;
  j["ttft_ms"] = dist_json(s.ttft);
  j["tpot_ms"] = dist_json(s.tpot);
  j["itl_ms"] = dist_json(s.itl);
  j["e2e_ms"] = dist_json(s.e2e);
  if (run.server) {
    j["server_counters"] = {{"prompt_tokens", run.server->prompt_tokens},
                            {"generation_tokens", run.server->generation_tokens}};
  }
  return j;
}

std::string format_table(const std::vector<RunReport>& runs) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head = {"request rate"};
  for (const RunReport& r : runs) {
    std::string name = rate_name(r.request_rate);
    if (r.max_concurrency > 0) name += ", conc " + std::to_string(r.max_concurrency);
    if (r.interrupted) name += " (interrupted)";
    head.push_back(name);
  }
  rows.push_back(head);
  auto add = [&](const std::string& name, auto get) {
    std::vector<std::string> row = {name};
    for (const RunReport& r : runs)
      row.push_back(get(r.summary));
    rows.push_back(row);
  };
  add("completed / failed", [](const Summary& s) {
    return std::to_string(s.completed) + " / " + std::to_string(s.failed);
  });
  add("duration (s)", [](const Summary& s) { return fmt(s.duration_s); });
  add("input tokens", [](const Summary& s) { return std::to_string(s.input_tokens); });
  add("output tokens", [](const Summary& s) { return std::to_string(s.output_tokens); });
  add("request throughput (req/s)", [](const Summary& s) { return fmt(s.request_throughput); });
  add("input throughput (tok/s)", [](const Summary& s) { return fmt(s.input_throughput, 1); });
  add("output throughput (tok/s)", [](const Summary& s) { return fmt(s.output_throughput, 1); });
  add("goodput (req/s)", [](const Summary& s) { return fmt(s.goodput); });
  const std::pair<const char*, Distribution Summary::*> dists[] = {{"TTFT", &Summary::ttft},
                                                                   {"TPOT", &Summary::tpot},
                                                                   {"ITL", &Summary::itl},
                                                                   {"E2E", &Summary::e2e}};
  for (const auto& [name, member] : dists) {
    const std::string n = name;
    add(n + " mean (ms)", [member](const Summary& s) { return fmt((s.*member).mean); });
    add(n + " p50 (ms)", [member](const Summary& s) { return fmt((s.*member).p50); });
    add(n + " p90 (ms)", [member](const Summary& s) { return fmt((s.*member).p90); });
    add(n + " p99 (ms)", [member](const Summary& s) { return fmt((s.*member).p99); });
  }
  add("token count mismatches",
      [](const Summary& s) { return std::to_string(s.token_mismatches); });
  add("errors", [](const Summary& s) {
    std::string e;
    for (const auto& [kind, n] : s.errors)
      e += (e.empty() ? "" : " ") + kind + "=" + std::to_string(n);
    return e.empty() ? std::string("0") : e;
  });
  return render(rows);
}

Result<std::string> format_comparison(const json& a, const json& b) {
  if (!a.contains("runs") || !a["runs"].is_array() || !b.contains("runs") ||
      !b["runs"].is_array()) {
    return invalid_argument("not a `sieve bench serve` result file: no \"runs\" list");
  }
  const size_t n = std::min(a["runs"].size(), b["runs"].size());
  if (n == 0) return invalid_argument("a result file has no runs");
  const char* figures[] = {
      "request_throughput", "output_throughput", "input_throughput", "goodput",     "ttft_ms.mean",
      "ttft_ms.p50",        "ttft_ms.p99",       "tpot_ms.mean",     "tpot_ms.p50", "tpot_ms.p99",
      "itl_ms.p50",         "itl_ms.p99",        "e2e_ms.p50",       "e2e_ms.p99"};
  std::string out;
  if (a["runs"].size() != b["runs"].size()) {
    out += "the files have " + std::to_string(a["runs"].size()) + " and " +
           std::to_string(b["runs"].size()) + " runs; comparing the first " + std::to_string(n) +
           "\n";
  }
  for (size_t i = 0; i < n; ++i) {
    const json& ra = a["runs"][i];
    const json& rb = b["runs"][i];
    out += "run " + std::to_string(i + 1) + ": request rate " +
           ra.value("request_rate", json()).dump() + " vs " +
           rb.value("request_rate", json()).dump() + "\n";
    std::vector<std::vector<std::string>> rows = {{"figure", "A", "B", "B/A"}};
    for (const char* f : figures) {
      const auto va = figure(ra, f);
      const auto vb = figure(rb, f);
      if (!va || !vb) continue;
      rows.push_back({f, fmt(*va), fmt(*vb), *va != 0 ? fmt(*vb / *va, 3) : "-"});
    }
    out += render(rows) + "\n";
  }
  return out;
}

}  // namespace sieve::bench
