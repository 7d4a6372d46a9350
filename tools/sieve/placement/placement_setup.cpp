#include "tools/sieve/placement/placement_setup.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <spdlog/spdlog.h>

#include "engine/experts/cost_measurement.h"
#include "engine/experts/hybrid/static_hot_profile.h"
#include "engine/experts/routing_trace.h"

// The start-up measurement of the cost model's constants (the host tier's expert rates, the
// device tier's, the link's) lives in engine/experts/cost_measurement.h. Where this build has it
// not, a cost model comes only from --placement-cost-model's file.

namespace sieve {
namespace {

std::string format_gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g GiB", bytes / double(int64_t{1} << 30));
  return buf;
}

std::string percent(int64_t part, int64_t whole) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%",
                whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  return buf;
}

Result<PlacementCostModel> measure_cost_model(Backend& device, Backend& host,
                                              const ExpertShape& shape) {
  PlacementCostModel c;
  SIEVE_ASSIGN_OR_RETURN(c.host, measure_expert_rates(host, shape));
  c.host_source = "measured: " + host.name();
  SIEVE_ASSIGN_OR_RETURN(c.device, measure_expert_rates(device, shape));
  c.device_source = "measured: " + device.name() +
                    (device.device() == Device::kCpu ? " (the device tier's CPU stand-in)" : "");
  SIEVE_ASSIGN_OR_RETURN(const LinkRates link, measure_link(device));
  c.h2d_bytes_per_s = link.h2d_bytes_per_s;
  c.d2h_bytes_per_s = link.d2h_bytes_per_s;
  c.transfer_s = link.transfer_s;
  c.link_source = "measured: host memory and " + device.name();
  return c;
}

}  // namespace

Status check_placement_flags(const PlacementFlags& f, int expert_parallel_size) {
  if (!f.enabled()) {
    for (const auto& [given, flag] :
         {std::pair{f.device_expert_memory_gb >= 0, "--device-expert-memory"},
          std::pair{!f.cost_model.empty(), "--placement-cost-model"},
          std::pair{!f.profile.empty(), "--placement-profile"}}) {
      if (given) {
        return invalid_argument(std::string(flag) +
                                " goes with --expert-placement sieve|host|static-hot|device");
      }
    }
    return Status::Ok();
  }
  SIEVE_ASSIGN_OR_RETURN(const PlacementPolicy policy, parse_placement_policy(f.policy));
  if (expert_parallel_size > 1) {
    return invalid_argument(
        "--expert-placement and --expert-parallel-size > 1 do not go together: either split "
        "the experts over ranks or between one device and its host");
  }
  const bool needs_budget =
      policy == PlacementPolicy::kSieve || policy == PlacementPolicy::kStaticHot;
  if (needs_budget && f.device_expert_memory_gb < 0) {
    return invalid_argument("--expert-placement " + f.policy +
                            " needs --device-expert-memory: the device memory, in GiB, the "
                            "resident experts may take");
  }
  if (policy == PlacementPolicy::kStaticHot && f.profile.empty()) {
    return invalid_argument(
        "--expert-placement static-hot needs --placement-profile TRACE: a routing trace whose "
        "busiest experts make the fixed hot set");
  }
  if (policy != PlacementPolicy::kStaticHot && !f.profile.empty()) {
    return invalid_argument("--placement-profile is for --expert-placement static-hot (" +
                            f.policy + " chooses its experts itself)");
  }
  if (!f.cost_model.empty() && !std::filesystem::exists(f.cost_model)) {
    const std::filesystem::path dir = std::filesystem::path(f.cost_model).parent_path();
    if (!dir.empty() && !std::filesystem::is_directory(dir)) {
      return invalid_argument("--placement-cost-model " + f.cost_model + ": no directory " +
                              dir.string() + " to write the measured cost model to");
    }
  }
  return Status::Ok();
}

Result<PlacementSetup> prepare_placement(const PlacementFlags& f, const ModelConfig& config,
                                         DType weight_dtype, const std::string& backend,
                                         int threads) {
  SIEVE_ASSIGN_OR_RETURN(const PlacementPolicy policy, parse_placement_policy(f.policy));
  if (config.num_experts == 0 || config.num_moe_layers() == 0) {
    return invalid_argument("--expert-placement: " + config.model_type + " has no MoE layers");
  }
  PlacementSetup s;
  s.options = hybrid_options_for(config, weight_dtype);
  s.options.policy = policy;
  const ExpertShape& shape = s.options.shape;
  const int64_t all = config.num_moe_layers() * config.num_experts;
  if (f.device_expert_memory_gb >= 0) {
    const double bytes = f.device_expert_memory_gb * static_cast<double>(int64_t{1} << 30);
    s.options.device_slots = std::min<int64_t>(
        all, static_cast<int64_t>(std::floor(bytes / static_cast<double>(shape.weight_bytes()))));
  } else {
    s.options.device_slots = policy == PlacementPolicy::kDevice ? all : 0;
  }
  if (policy == PlacementPolicy::kDevice && s.options.device_slots < all) {
    return invalid_argument(
        "--expert-placement device keeps every expert on the device: the " + std::to_string(all) +
        " experts of " + std::to_string(config.num_moe_layers()) + " MoE layers take " +
        format_gib(static_cast<double>(all * shape.weight_bytes())) +
        " as held, but --device-expert-memory " +
        format_gib(f.device_expert_memory_gb * static_cast<double>(int64_t{1} << 30)) + " holds " +
        std::to_string(s.options.device_slots) +
        ": raise it (or leave it out), or use --expert-placement sieve or static-hot");
  }
  if (policy == PlacementPolicy::kStaticHot) {
    auto trace = read_routing_trace(f.profile);
    if (!trace.ok()) {
      return Status(trace.status().code(), "--placement-profile " + trace.status().message());
    }
    std::vector<int64_t> moe_layers;
    for (int64_t l = 0; l < config.num_layers; ++l) {
      if (config.layer_is_moe[l]) moe_layers.push_back(l);
    }
    auto hot = static_hot_residency(*trace, config.num_experts, moe_layers, s.options.device_slots);
    if (!hot.ok()) {
      return Status(hot.status().code(),
                    "--placement-profile " + f.profile + ": " + hot.status().message());
    }
    s.options.fixed_resident = std::move(hot).value();
  }
  const int total =
      threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (backend == "cpu") {
    // The stand-in device and the host tier run at once: they share the threads.
    s.device_threads = std::max(1, total / 2);
    s.host_threads = std::max(1, total - total / 2);
  } else {
    s.device_threads = threads;
    s.host_threads = total;
  }
  return s;
}

Result<PlacementCostModel> startup_cost_model(const PlacementFlags& f, Backend& device,
                                              Backend& host, const ExpertShape& shape) {
  if (!f.cost_model.empty() && std::filesystem::exists(f.cost_model)) {
    auto loaded = PlacementCostModel::load(f.cost_model);
    if (!loaded.ok()) {
      return Status(loaded.status().code(), "--placement-cost-model " + loaded.status().message());
    }
    return loaded;
  }
  SIEVE_ASSIGN_OR_RETURN(PlacementCostModel measured, measure_cost_model(device, host, shape));
  if (!f.cost_model.empty()) {
    SIEVE_RETURN_IF_ERROR(measured.save(f.cost_model));
    spdlog::info("placement cost model measured and written to {}", f.cost_model);
  }
  return measured;
}

std::string describe_placement(const PlacementSetup& s, const Backend& device) {
  const HybridMoeOptions& o = s.options;
  std::string line = "expert placement " + std::string(placement_policy_name(o.policy)) + ": " +
                     std::to_string(o.device_slots) + " expert slots on the device (" +
                     format_gib(static_cast<double>(o.device_slots * o.shape.weight_bytes())) +
                     "), every expert on the host tier (a CPU backend of " +
                     std::to_string(s.host_threads) + " threads)";
  if (device.device() == Device::kCpu) {
    line += "; no GPU: the device tier is a stand-in, the model's CPU backend with " +
            std::to_string(s.device_threads) +
            " threads and its own copies of the resident experts";
  } else {
    line += "; device tier " + device.name();
  }
  return line;
}

std::string summarize_placement(const HybridMoeStats& st) {
  int64_t device = 0, upload = 0, host = 0, uploads = 0, upload_bytes = 0, swaps = 0, evictions = 0,
          resident = 0, layers = 0;
  double planner_s = 0, predicted_s = 0, actual_s = 0;
  for (const HybridMoeStats::Layer& l : st.layers) {
    if (!l.is_moe()) continue;
    ++layers;
    device += l.device_rows;
    upload += l.upload_rows;
    host += l.host_rows;
    uploads += l.upload_experts;
    upload_bytes += l.upload_bytes;
    swaps += l.swaps_in;
    evictions += l.evictions;
    resident += l.num_resident();
    planner_s += l.planner_seconds;
    predicted_s += l.predicted_seconds;
    actual_s += l.actual_seconds;
  }
  const int64_t rows = device + upload + host;
  const double steps = static_cast<double>(std::max<int64_t>(1, st.steps));
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "expert placement %s: %lld steps; rows on the device %s, uploaded %s, on the "
                "host %s; %lld uploads (%.1f MB), %lld background swaps, %lld evictions, %lld "
                "experts resident; planner %.1f us per layer; MoE %.3f ms per step predicted, "
                "%.3f ms measured",
                st.policy.c_str(), static_cast<long long>(st.steps), percent(device, rows).c_str(),
                percent(upload, rows).c_str(), percent(host, rows).c_str(),
                static_cast<long long>(uploads), static_cast<double>(upload_bytes) / 1e6,
                static_cast<long long>(swaps), static_cast<long long>(evictions),
                static_cast<long long>(resident),
                1e6 * planner_s / (steps * static_cast<double>(std::max<int64_t>(1, layers))),
                1e3 * predicted_s / steps, 1e3 * actual_s / steps);
  return buf;
}

}  // namespace sieve
