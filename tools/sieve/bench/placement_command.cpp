#include "tools/sieve/bench/placement_command.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/backends/cpu_backend.h"
#include "engine/experts/cost_measurement.h"
#include "engine/experts/routing_trace.h"
#include "kernels/cpu/triad.h"
#include "models/registry.h"
#include "tools/sieve/bench/placement_replay.h"
#include "tools/sieve/bench/svg_chart.h"

namespace sieve {
namespace {

using namespace sieve::bench;
using ojson = nlohmann::ordered_json;

struct PlacementOpts {
  std::string trace, cost_model, save_cost_model, model, profile;
  int64_t hidden = 0, intermediate = 0;
  std::string dtype = "bf16";
  double device_expert_memory_gb = 0;
  std::string policies = "sieve,host,static-hot,device";
  double profile_fraction = 0.25;
  double residency_decay = 0.9;
  int threads = 0;
  std::string json, svg;
};

[[noreturn]] void fail(const std::string& message, int code = 1) {
  spdlog::error("{}", message);
  throw CLI::RuntimeError(code);
}

Result<std::vector<PlacementPolicy>> parse_policies(const std::string& text) {
  std::vector<PlacementPolicy> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto p = parse_placement_policy(item);
    if (!p.ok()) {
      return invalid_argument("--policies: '" + item +
                              "' is not a policy; choose from sieve, host, static-hot, device");
    }
    if (std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
  }
  if (out.empty()) return invalid_argument("--policies is empty (e.g. sieve,host,static-hot)");
  return out;
}

// The expert shape from --model's config.json (checked against the trace) or from --hidden,
// --intermediate and --dtype.
Result<ExpertShape> expert_shape(const PlacementOpts& o, const RoutingTraceHeader& h) {
  ExpertShape s;
  if (o.dtype == "bf16") {
    s.weight_dtype = DType::kBF16;
  } else if (o.dtype == "fp32") {
    s.weight_dtype = DType::kF32;
  } else {
    return invalid_argument("--dtype must be bf16 or fp32, got '" + o.dtype + "'");
  }
  if (o.model.empty()) {
    if (o.hidden <= 0 || o.intermediate <= 0) {
      return invalid_argument(
          "the expert shape is needed: pass --model DIR, or --hidden and --intermediate (the "
          "routed expert's intermediate size)");
    }
    s.hidden = o.hidden;
    s.intermediate = o.intermediate;
    return s;
  }
  auto dir = open_model_dir(o.model, LoadFormat::kDummy);
  if (!dir.ok()) return dir.status();
  const ModelConfig& c = dir->config;
  const auto mismatch = [&](const std::string& what, int64_t trace, int64_t model) {
    return invalid_argument("the trace's model has " + std::to_string(trace) + " " + what + ", " +
                            o.model + " has " + std::to_string(model) +
                            ": pass the model the trace was recorded on (or --hidden and "
                            "--intermediate without --model)");
  };
  if (h.num_experts != c.num_experts) return mismatch("experts", h.num_experts, c.num_experts);
  if (h.top_k != c.top_k) return mismatch("experts per token", h.top_k, c.top_k);
  if (h.num_layers != c.num_layers) return mismatch("layers", h.num_layers, c.num_layers);
  for (int64_t l : h.moe_layers) {
    if (!c.layer_is_moe[l]) {
      return invalid_argument("the trace routes layer " + std::to_string(l) +
                              ", which is dense in " + o.model +
                              ": pass the model the trace was recorded on");
    }
  }
  if (!h.model_type.empty() && h.model_type != c.model_type) {
    return invalid_argument("the trace comes from a " + h.model_type + " model, " + o.model +
                            " is " + c.model_type);
  }
  s.hidden = c.hidden_size;
  s.intermediate = c.moe_intermediate_size;
  return s;
}

// The host tier measured here on the CPU backend, between two triad samples (the bandwidth of a
// shared machine drifts; the figures say how much it moved while the experts were timed); the
// device tier and the link from the H100 SXM datasheet.
Result<PlacementCostModel> measure_here(const ExpertShape& shape, int threads) {
  CpuBackend cpu(threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency()));
  kernels::TriadMeter triad(*cpu.pool(), size_t{64} << 20, true);
  const double before = triad.best_gbps(3);
  MeasureOptions mo;
  auto host = measure_expert_rates(cpu, shape, mo);
  if (!host.ok()) return host.status();
  const double after = triad.best_gbps(3);
  PlacementCostModel m;
  m.host = *host;
  char src[256];
  std::snprintf(src, sizeof src,
                "measured here: %s, %lldx%lld %s experts, median of %d rounds; triad %.1f -> "
                "%.1f GB/s around it",
                cpu.name().c_str(), static_cast<long long>(shape.hidden),
                static_cast<long long>(shape.intermediate), dtype_name(shape.weight_dtype),
                mo.repeats, before, after);
  m.host_source = src;
  return h100_sxm_device(m);
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string ratio(double v) {
  return v > 0 ? fixed(v, 2) + "x" : "-";
}

void print_table(const ReplayResult& r) {
  std::printf("%-11s %9s %8s %10s %8s %9s %8s %7s %9s %9s %9s  %s\n", "policy", "MoE ms", "vs host",
              "vs static", "host ms", "device ms", "link ms", "balance", "upload MB", "swap MB",
              "rows MB", "experts h/d/up");
  for (const PolicyReplay& p : r.policies) {
    const std::string name(placement_policy_name(p.policy));
    if (!p.fits) {
      std::printf("%-11s %9s   (all %lld experts do not fit the budget of %lld)\n", name.c_str(),
                  "-", static_cast<long long>(r.moe_layers * r.num_experts),
                  static_cast<long long>(r.slots));
      continue;
    }
    const std::string experts = fixed(p.experts_host, 1) + "/" + fixed(p.experts_device, 1) + "/" +
                                fixed(p.experts_upload, 1);
    std::printf("%-11s %9.3f %8s %10s %8.3f %9.3f %8.3f %7.2f %9.1f %9.1f %9.2f  %s\n",
                name.c_str(), p.step_s * 1e3, ratio(p.speedup_vs_host).c_str(),
                ratio(p.speedup_vs_static_hot).c_str(), p.host_s * 1e3, p.device_s * 1e3,
                p.link_s * 1e3, p.balance, p.upload_bytes / 1e6, p.swap_bytes / 1e6,
                p.activation_bytes / 1e6, experts.c_str());
  }
  std::printf(
      "(per step, summed over MoE layers; balance: min/max of the host and device sides, 1 = "
      "they finish together; experts: run on the host / on the device / uploaded first)\n");
}

ojson to_json(const PlacementOpts& o, const RoutingTrace& t, const ExpertShape& s,
              const PlacementCostModel& cm, const ReplayResult& r) {
  ojson j;
  j["tool"] = "sieve bench placement";
  j["trace"] = {{"path", o.trace},
                {"source", t.header.source},
                {"model_type", t.header.model_type},
                {"moe_layers", r.moe_layers},
                {"num_experts", r.num_experts},
                {"top_k", t.header.top_k},
                {"profile", r.profile_source},
                {"profile_steps", r.profile_steps},
                {"replayed_steps", r.replayed_steps},
                {"tokens_per_step", r.tokens_per_step}};
  j["expert"] = {{"hidden", s.hidden},
                 {"intermediate", s.intermediate},
                 {"dtype", dtype_name(s.weight_dtype)},
                 {"weight_bytes", s.weight_bytes()}};
  j["device_expert_memory_gb"] = o.device_expert_memory_gb;
  j["slots"] = r.slots;
  j["residency_decay"] = o.residency_decay;
  j["cost_model"] = cm.to_json();
  j["policies"] = ojson::array();
  for (const PolicyReplay& p : r.policies) {
    ojson x;
    x["policy"] = std::string(placement_policy_name(p.policy));
    x["fits"] = p.fits;
    if (p.fits) {
      x["step_s"] = p.step_s;
      x["speedup_vs_host"] = p.speedup_vs_host;
      x["speedup_vs_static_hot"] = p.speedup_vs_static_hot;
      x["host_s"] = p.host_s;
      x["device_s"] = p.device_s;
      x["link_s"] = p.link_s;
      x["balance"] = p.balance;
      x["upload_bytes"] = p.upload_bytes;
      x["swap_bytes"] = p.swap_bytes;
      x["activation_bytes"] = p.activation_bytes;
      x["experts_host"] = p.experts_host;
      x["experts_device"] = p.experts_device;
      x["experts_upload"] = p.experts_upload;
    }
    j["policies"].push_back(x);
  }
  return j;
}

BarChart speedup_chart(const PlacementOpts& o, const RoutingTrace& t, const ExpertShape& s,
                       const PlacementCostModel& cm, const ReplayResult& r) {
  BarChart c;
  c.title = "Predicted MoE speed-up per placement policy";
  std::ostringstream trace_line, budget_line;
  trace_line << (t.header.source.empty() ? o.trace : t.header.source) << " · " << r.moe_layers
             << " MoE layers × " << r.num_experts << " experts (" << s.hidden << "×"
             << s.intermediate << " " << dtype_name(s.weight_dtype) << "), top-" << t.header.top_k
             << " · " << fixed(r.tokens_per_step, 1) << " tokens/step, " << r.replayed_steps
             << " steps replayed";
  budget_line << "device budget " << o.device_expert_memory_gb << " GB = " << r.slots
              << " experts ("
              << fixed(100.0 * static_cast<double>(r.slots) /
                           static_cast<double>(r.moe_layers * r.num_experts),
                       1)
              << "%) · cost model's predictions: host " << fixed(cm.host.flops_per_s / 1e9, 0)
              << " GFLOP/s, " << fixed(cm.host.weight_bytes_per_s / 1e9, 1) << " GB/s; link "
              << fixed(cm.h2d_bytes_per_s / 1e9, 0) << " GB/s";
  c.subtitle = {trace_line.str(), budget_line.str()};
  c.y_label = "speed-up (higher is better)";
  c.series = {"over host", "over static-hot"};
  for (const PolicyReplay& p : r.policies) {
    BarGroup g;
    g.label = std::string(placement_policy_name(p.policy));
    if (!p.fits) g.note = "does not fit";
    if (p.fits) g.caption = fixed(p.step_s * 1e3, 2) + " ms/step";
    g.values = {p.speedup_vs_host, p.speedup_vs_static_hot};
    c.groups.push_back(g);
  }
  return c;
}

void run_placement(const PlacementOpts& o) {
  // Everything the user typed is checked before anything is measured.
  auto policies = parse_policies(o.policies);
  if (!policies.ok()) fail(policies.status().message(), 2);
  if (!(o.device_expert_memory_gb > 0)) {
    fail("--device-expert-memory must be a positive number of GB (fractions allowed)", 2);
  }
  if (!(o.residency_decay >= 0 && o.residency_decay <= 1)) {
    fail("--residency-decay must be in [0, 1]", 2);
  }
  auto trace = read_routing_trace(o.trace);
  if (!trace.ok()) fail(trace.status().message(), 2);
  std::unique_ptr<RoutingTrace> profile;
  if (!o.profile.empty()) {
    auto p = read_routing_trace(o.profile);
    if (!p.ok()) fail(p.status().message(), 2);
    profile = std::make_unique<RoutingTrace>(std::move(*p));
  }
  auto shape = expert_shape(o, trace->header);
  if (!shape.ok()) fail(shape.status().message(), 2);

  ReplayOptions ro;
  ro.shape = *shape;
  ro.device_expert_bytes = o.device_expert_memory_gb * 1e9;
  ro.policies = *policies;
  ro.residency_decay = o.residency_decay;
  ro.profile_fraction = o.profile_fraction;
  ro.profile = profile.get();
  {
    // A replay that would fail on its inputs fails before the measurement.
    ReplayOptions dry = ro;
    dry.policies = {PlacementPolicy::kHost};
    PlacementCostModel any;
    any.host = TierRates{.flops_per_s = 1e12, .weight_bytes_per_s = 1e11, .per_expert_s = 0};
    dry.cost = h100_sxm_device(any);
    auto check = replay_trace(*trace, dry);
    if (!check.ok()) fail(check.status().message(), 2);
  }

  if (!o.cost_model.empty()) {
    auto cm = PlacementCostModel::load(o.cost_model);
    if (!cm.ok()) fail(cm.status().message(), 2);
    ro.cost = *cm;
  } else {
    spdlog::info("measuring the host's expert rates on {}x{} {} experts...", shape->hidden,
                 shape->intermediate, dtype_name(shape->weight_dtype));
    auto cm = measure_here(*shape, o.threads);
    if (!cm.ok()) fail(cm.status().message());
    ro.cost = *cm;
  }
  if (!o.save_cost_model.empty()) {
    if (Status s = ro.cost.save(o.save_cost_model); !s.ok()) fail(s.message());
  }
  auto result = replay_trace(*trace, ro);
  if (!result.ok()) fail(result.status().message(), 2);
  const ReplayResult& r = *result;

  std::printf("trace       %s (%s): %lld MoE layers x %lld experts, top-%lld\n", o.trace.c_str(),
              trace->header.source.empty() ? "no source" : trace->header.source.c_str(),
              static_cast<long long>(r.moe_layers), static_cast<long long>(r.num_experts),
              static_cast<long long>(trace->header.top_k));
  std::printf(
      "replayed    %lld steps, %.1f tokens/step; static-hot's profile and sieve's start: %s\n",
      static_cast<long long>(r.replayed_steps), r.tokens_per_step, r.profile_source.c_str());
  std::printf(
      "expert      %lldx%lld %s, %.2f MB; device budget %g GB = %lld of %lld experts (%.1f%%)\n",
      static_cast<long long>(shape->hidden), static_cast<long long>(shape->intermediate),
      dtype_name(shape->weight_dtype), static_cast<double>(shape->weight_bytes()) / 1e6,
      o.device_expert_memory_gb, static_cast<long long>(r.slots),
      static_cast<long long>(r.moe_layers * r.num_experts),
      100.0 * static_cast<double>(r.slots) / static_cast<double>(r.moe_layers * r.num_experts));
  std::printf("%s\n\n", ro.cost.describe().c_str());
  print_table(r);
  std::fflush(stdout);

  if (!o.json.empty()) {
    std::ofstream out(o.json);
    out << to_json(o, *trace, *shape, ro.cost, r).dump(2) << "\n";
    if (!out) fail("cannot write " + o.json);
  }
  if (!o.svg.empty()) {
    std::ofstream out(o.svg);
    out << bar_chart_svg(speedup_chart(o, *trace, *shape, ro.cost, r));
    if (!out) fail("cannot write " + o.svg);
  }
}

}  // namespace

void add_bench_placement_command(CLI::App* bench) {
  auto o = std::make_shared<PlacementOpts>();
  CLI::App* cmd = bench->add_subcommand(
      "placement",
      "Replay a routing trace (--record-routing) through each expert-placement policy's planner "
      "and residency with a cost model, and print per policy the predicted MoE time per step, "
      "the bytes over the host-device link, the host/device balance and the speed-up over host "
      "and static-hot. Nothing runs an expert: the figures are the cost model's predictions "
      "(host tier measured here unless --cost-model, device and link from the H100 SXM "
      "datasheet)");
  cmd->add_option("--trace", o->trace, "The routing trace (JSON Lines)")->required();
  cmd->add_option("--device-expert-memory", o->device_expert_memory_gb,
                  "GB of expert weights resident on the device (fractions allowed: 0.0004 for a "
                  "tiny model)")
      ->required();
  cmd->add_option("--cost-model", o->cost_model,
                  "A placement cost model (JSON, as --save-cost-model or the server's "
                  "--placement-cost-model write) instead of measuring the host here");
  cmd->add_option("--save-cost-model", o->save_cost_model,
                  "Write the cost model used to this file (replay again with --cost-model)");
  auto* model = cmd->add_option("--model", o->model,
                                "The model the trace was recorded on: the expert shape from its "
                                "config.json, checked against the trace");
  cmd->add_option("--hidden", o->hidden, "Without --model: the expert's hidden size")
      ->excludes(model);
  cmd->add_option("--intermediate", o->intermediate,
                  "Without --model: the routed expert's intermediate size")
      ->excludes(model);
  cmd->add_option("--dtype", o->dtype, "Expert weight dtype: bf16 or fp32")->capture_default_str();
  cmd->add_option("--policies", o->policies, "Policies to replay, comma-separated")
      ->capture_default_str();
  cmd->add_option("--profile", o->profile,
                  "A routing trace of the same model to build static-hot's resident set (and "
                  "seed sieve's frequencies) from; the whole --trace is then replayed");
  cmd->add_option("--profile-fraction", o->profile_fraction,
                  "Without --profile: the share of the trace's first steps used as the profile; "
                  "the rest is replayed")
      ->capture_default_str();
  cmd->add_option("--residency-decay", o->residency_decay,
                  "Per-step decay of sieve's expert frequencies (residency follows them)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads,
                  "Threads of the CPU backend the host tier is measured on (0: every core)")
      ->capture_default_str();
  cmd->add_option("--json", o->json, "Also write the figures to this JSON file");
  cmd->add_option("--svg", o->svg, "Also write a chart of the speed-ups to this SVG file");
  cmd->callback([o]() { run_placement(*o); });
}

}  // namespace sieve
