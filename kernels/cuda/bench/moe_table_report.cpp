// sieve-moe-table's outputs: every figure as JSON (read by tools/gpu/moe_torch.py and
// tools/gpu/moe_report.py) and a compact table on stdout.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kernels/cuda/bench/moe_table.h"

namespace sieve::cuda::moe_table {
namespace {

using nlohmann::json;

// NaN is not JSON: null stands for "not a number" (and for "not measured" where status says so).
json number(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

json timing_json(const Timing& t, const CaseResult& c, const Ceilings& ceil) {
  json j = {{"name", t.name},
            {"status", t.status},
            {"note", t.note},
            {"predicted_ms", number(t.predicted_ms)}};
  if (t.status != "ok") return j;
  const double s = t.ms * 1e-3;
  const double gbps = c.bytes / s / 1e9, tflops = c.flops / s / 1e12;
  j["ms"] = number(t.ms);
  j["gbps"] = number(gbps);
  j["of_copy"] = number(gbps / ceil.copy_gbps);
  j["tflops"] = number(tflops);
  j["of_dense"] = number(tflops / ceil.dense_tflops);
  j["rel_err"] = number(t.rel_err);
  j["nonfinite"] = t.nonfinite;
  j["graph"] = t.graph;
  return j;
}

// Every variant's ||out - ref|| / ||ref|| (and cuBLAS's), one row per case.
void print_errors(const std::vector<CaseResult>& cases) {
  if (cases.empty()) return;
  std::printf("\nrel. error vs the plain reference (NaN: non-finite output; - not run)\n");
  std::printf("%-7s %-7s %6s %4s |", "shape", "routing", "tokens", "ref");
  for (const Timing& t : cases[0].ours)
    std::printf(" %11.11s", t.name.c_str());
  std::printf(" %11s\n", "cublas");
  for (const CaseResult& c : cases) {
    std::printf("%-7s %-7s %6lld %4lld |", c.shape->key, routing_name(c.routing),
                static_cast<long long>(c.tokens), static_cast<long long>(c.ref_tokens));
    std::vector<const Timing*> row;
    for (const Timing& t : c.ours)
      row.push_back(&t);
    row.push_back(&c.cublas);
    for (const Timing* t : row) {
      if (t->status != "ok") {
        std::printf(" %11s", "-");
      } else if (t->nonfinite > 0 || std::isnan(t->rel_err)) {
        std::printf(" %11s", "NaN");
      } else {
        std::printf(" %11.1e", t->rel_err);
      }
    }
    std::printf("\n");
  }
}

}  // namespace

void write_json(const std::string& path, const Options& opt, const Ceilings& ceil,
                const std::vector<CaseResult>& cases) {
  json root;
  root["device"] = {
      {"name", ceil.device}, {"sm_count", ceil.sm_count}, {"l2_bytes", ceil.l2_bytes}};
  root["copy_gbps"] = ceil.copy_gbps;
  root["dense_tflops"] = ceil.dense_tflops;
  root["dense_shape"] = {8192, 8192, 8192};
  root["settings"] = {{"iters", opt.iters},         {"max_ms", opt.max_ms},
                      {"budget_ms", opt.budget_ms}, {"ref_tokens", opt.ref_tokens},
                      {"seed", opt.seed},           {"err_band", kErrBand}};
  json list = json::array();
  for (const CaseResult& c : cases) {
    const ModelShape& s = *c.shape;
    json j = {{"shape", s.key},
              {"model", s.model},
              {"experts", s.experts},
              {"top_k", s.top_k},
              {"hidden", s.hidden},
              {"inter", s.inter},
              {"tokens", c.tokens},
              {"routing", routing_name(c.routing)},
              {"counts", c.counts},
              {"experts_hit", c.experts_hit},
              {"rotations", c.rotations},
              {"shift", c.shift},
              {"ref_tokens", c.ref_tokens},
              {"bytes", c.bytes},
              {"flops", c.flops},
              {"best", c.best},
              {"best_ms", c.best.empty() ? json(nullptr) : json(c.best_ms)},
              {"flag", c.flag}};
    json ours = json::array();
    for (const Timing& t : c.ours)
      ours.push_back(timing_json(t, c, ceil));
    j["ours"] = ours;
    j["cublas"] = timing_json(c.cublas, c, ceil);
    if (c.cublas.status == "ok" && !c.best.empty()) j["cublas"]["ratio"] = c.cublas.ms / c.best_ms;
    list.push_back(j);
  }
  root["cases"] = list;
  std::ofstream(path) << root.dump(1) << "\n";
  std::printf("wrote %s\n", path.c_str());
}

void print_table(const Ceilings& ceil, const std::vector<CaseResult>& cases) {
  std::printf("\n=== sieve-moe-table: %s; copy %.0f GB/s, dense bf16 %.0f TFLOP/s\n",
              ceil.device.c_str(), ceil.copy_gbps, ceil.dense_tflops);
  std::printf(
      "times in us per call (- skipped, n/a unsupported); of_copy/of_dense for the best; "
      "err = worst rel. error of ours\n");
  std::printf("%-7s %-7s %6s %4s |", "shape", "routing", "tokens", "hit");
  if (!cases.empty()) {
    for (const Timing& t : cases[0].ours)
      std::printf(" %10.10s", t.name.c_str());
  }
  std::printf(" | %-12.12s %7s %6s %7s %6s | %7s %7s | %s\n", "best", "GB/s", "copy", "TFLOP/s",
              "dense", "cublas", "err", "flag");
  for (const CaseResult& c : cases) {
    std::printf("%-7s %-7s %6lld %4lld |", c.shape->key, routing_name(c.routing),
                static_cast<long long>(c.tokens), static_cast<long long>(c.experts_hit));
    double worst = 0;
    for (const Timing& t : c.ours) {
      if (t.status == "ok") {
        std::printf(" %10.1f", t.ms * 1e3);
        worst = std::isnan(t.rel_err) ? NAN : std::max(worst, t.rel_err);
      } else {
        std::printf(" %10s", t.status == "skipped" ? "-" : "n/a");
      }
    }
    if (c.best.empty()) {
      std::printf(" | %-12s %7s %6s %7s %6s |", "none", "", "", "", "");
    } else {
      const double s = c.best_ms * 1e-3;
      const double gbps = c.bytes / s / 1e9, tflops = c.flops / s / 1e12;
      std::printf(" | %-12.12s %7.0f %6.2f %7.1f %6.2f |", c.best.c_str(), gbps,
                  gbps / ceil.copy_gbps, tflops, tflops / ceil.dense_tflops);
    }
    if (c.cublas.status == "ok" && !c.best.empty()) {
      std::printf(" %6.2fx", c.cublas.ms / c.best_ms);
    } else {
      std::printf(" %7s", "-");
    }
    std::printf(" %7.1e | %s\n", worst, c.flag.empty() ? "ok" : c.flag.c_str());
  }
  print_errors(cases);
}

}  // namespace sieve::cuda::moe_table
