#include "engine/experts/placement_cost_model.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

namespace sieve {

int64_t ExpertShape::weight_bytes() const {
  return 3 * hidden * intermediate * static_cast<int64_t>(dtype_size(weight_dtype));
}

double ExpertShape::flops_per_token() const {
  return 6.0 * static_cast<double>(hidden) * static_cast<double>(intermediate);
}

int64_t ExpertShape::activation_bytes_per_token() const {
  return hidden * static_cast<int64_t>(sizeof(float));
}

double PlacementCostModel::expert_seconds(const TierRates& tier, const ExpertShape& shape,
                                          int64_t tokens) const {
  if (tokens <= 0) return 0;
  const double math = static_cast<double>(tokens) * shape.flops_per_token() / tier.flops_per_s;
  const double stream = static_cast<double>(shape.weight_bytes()) / tier.weight_bytes_per_s;
  return tier.per_expert_s + std::max(math, stream);
}

double PlacementCostModel::upload_seconds(const ExpertShape& shape) const {
  return transfer_s + static_cast<double>(shape.weight_bytes()) / h2d_bytes_per_s;
}

double PlacementCostModel::activation_seconds(const ExpertShape& shape, int64_t tokens) const {
  if (tokens <= 0) return 0;
  const double bytes = static_cast<double>(tokens * shape.activation_bytes_per_token());
  // Rows down to the host, results back up.
  return 2 * transfer_s + bytes / d2h_bytes_per_s + bytes / h2d_bytes_per_s;
}

namespace {

std::string tier_text(const TierRates& t) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%.3g TFLOP/s, %.3g GB/s, %.3g us/expert", t.flops_per_s / 1e12,
                t.weight_bytes_per_s / 1e9, t.per_expert_s * 1e6);
  return buf;
}

nlohmann::json tier_json(const TierRates& t, const std::string& source) {
  return {{"flops_per_s", t.flops_per_s},
          {"weight_bytes_per_s", t.weight_bytes_per_s},
          {"per_expert_s", t.per_expert_s},
          {"source", source}};
}

Status read_positive(const nlohmann::json& j, const char* key, const std::string& where,
                     double& out) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number() || !(j[key].get<double>() > 0)) {
    return invalid_argument("placement cost model: '" + where + "." + key +
                            "' must be a positive number");
  }
  out = j[key].get<double>();
  return Status::Ok();
}

Status read_tier(const nlohmann::json& j, const char* name, TierRates& t, std::string& source) {
  if (!j.contains(name) || !j[name].is_object()) {
    return invalid_argument(std::string("placement cost model: missing '") + name + "'");
  }
  const nlohmann::json& o = j[name];
  SIEVE_RETURN_IF_ERROR(read_positive(o, "flops_per_s", name, t.flops_per_s));
  SIEVE_RETURN_IF_ERROR(read_positive(o, "weight_bytes_per_s", name, t.weight_bytes_per_s));
  if (!o.contains("per_expert_s") || !o["per_expert_s"].is_number() ||
      o["per_expert_s"].get<double>() < 0) {
    return invalid_argument(std::string("placement cost model: '") + name +
                            ".per_expert_s' must be a number ≥ 0");
  }
  t.per_expert_s = o["per_expert_s"].get<double>();
  source = o.value("source", "");
  return Status::Ok();
}

}  // namespace

std::string PlacementCostModel::describe() const {
  char link[160];
  std::snprintf(link, sizeof link, "%.3g GB/s down, %.3g GB/s up, %.3g us/transfer",
                d2h_bytes_per_s / 1e9, h2d_bytes_per_s / 1e9, transfer_s * 1e6);
  return "placement cost model: device " + tier_text(device) + " (" + device_source + "); host " +
         tier_text(host) + " (" + host_source + "); link " + link + " (" + link_source + ")";
}

nlohmann::json PlacementCostModel::to_json() const {
  return {{"device", tier_json(device, device_source)},
          {"host", tier_json(host, host_source)},
          {"link",
           {{"h2d_bytes_per_s", h2d_bytes_per_s},
            {"d2h_bytes_per_s", d2h_bytes_per_s},
            {"transfer_s", transfer_s},
            {"source", link_source}}}};
}

Result<PlacementCostModel> PlacementCostModel::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return invalid_argument("placement cost model: not a JSON object");
  PlacementCostModel m;
  SIEVE_RETURN_IF_ERROR(read_tier(j, "device", m.device, m.device_source));
  SIEVE_RETURN_IF_ERROR(read_tier(j, "host", m.host, m.host_source));
  if (!j.contains("link") || !j["link"].is_object()) {
    return invalid_argument("placement cost model: missing 'link'");
  }
  const nlohmann::json& l = j["link"];
  SIEVE_RETURN_IF_ERROR(read_positive(l, "h2d_bytes_per_s", "link", m.h2d_bytes_per_s));
  SIEVE_RETURN_IF_ERROR(read_positive(l, "d2h_bytes_per_s", "link", m.d2h_bytes_per_s));
  if (!l.contains("transfer_s") || !l["transfer_s"].is_number() ||
      l["transfer_s"].get<double>() < 0) {
    return invalid_argument("placement cost model: 'link.transfer_s' must be a number ≥ 0");
  }
  m.transfer_s = l["transfer_s"].get<double>();
  m.link_source = l.value("source", "");
  return m;
}

Status PlacementCostModel::save(const std::string& path) const {
  std::ofstream out(path);
  if (!out) return invalid_argument("cannot write the placement cost model to " + path);
  out << to_json().dump(2) << "\n";
  if (!out) return invalid_argument("cannot write the placement cost model to " + path);
  return Status::Ok();
}

Result<PlacementCostModel> PlacementCostModel::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return not_found(path + ": no such placement cost model file");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument(path + ": not valid JSON");
  auto m = from_json(j);
  if (!m.ok()) return Status(m.status().code(), path + ": " + m.status().message());
  return m;
}

PlacementCostModel h100_sxm_device(const PlacementCostModel& host) {
  PlacementCostModel m = host;
  // NVIDIA H100 SXM5 datasheet: 989 TFLOP/s dense BF16 tensor, 3.35 TB/s HBM3. The per-expert
  // cost is not a datasheet figure: one expert's tile setup inside the grouped expert kernel,
  // a few microseconds.
  m.device.flops_per_s = 989e12;
  m.device.weight_bytes_per_s = 3.35e12;
  m.device.per_expert_s = 2e-6;
  m.device_source = "H100 SXM datasheet: 989 TFLOP/s BF16, 3.35 TB/s HBM3; 2 us/expert estimated";
  // PCIe Gen5 x16: 64 GB/s each way in theory; 55 GB/s is what pinned copies reach.
  m.h2d_bytes_per_s = 55e9;
  m.d2h_bytes_per_s = 55e9;
  m.transfer_s = 10e-6;
  m.link_source = "PCIe Gen5 x16 (55 GB/s each way of 64 in theory), 10 us per transfer";
  return m;
}

}  // namespace sieve
