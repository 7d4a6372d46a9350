#include "engine/experts/routing_trace.h"

#include <nlohmann/json.hpp>

namespace sieve {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "sieve-routing-trace";
constexpr int kVersion = 1;

Status check_header(const RoutingTraceHeader& h) {
  if (h.num_experts <= 0 || h.top_k <= 0 || h.top_k > h.num_experts || h.num_layers <= 0) {
    return invalid_argument(
        "routing trace: num_layers, num_experts and top_k must be positive, "
        "top_k at most num_experts");
  }
  for (int64_t l : h.moe_layers) {
    if (l < 0 || l >= h.num_layers) {
      return invalid_argument("routing trace: moe layer " + std::to_string(l) + " outside [0, " +
                              std::to_string(h.num_layers) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<RoutingTraceWriter> RoutingTraceWriter::open(const std::string& path,
                                                    const RoutingTraceHeader& header) {
  SIEVE_RETURN_IF_ERROR(check_header(header));
  RoutingTraceWriter w;
  w.out_.open(path, std::ios::out | std::ios::trunc);
  if (!w.out_) return invalid_argument("cannot write the routing trace " + path);
  w.num_moe_layers_ = static_cast<int64_t>(header.moe_layers.size());
  w.num_experts_ = header.num_experts;
  const json h = {{"format", kFormat},
                  {"version", kVersion},
                  {"source", header.source},
                  {"model_type", header.model_type},
                  {"num_layers", header.num_layers},
                  {"num_experts", header.num_experts},
                  {"top_k", header.top_k},
                  {"moe_layers", header.moe_layers}};
  w.out_ << h.dump() << '\n' << std::flush;
  if (!w.out_) return invalid_argument("cannot write the routing trace " + path);
  return w;
}

Status RoutingTraceWriter::write(const RoutingStep& step) {
  SIEVE_CHECK_EQ(static_cast<int64_t>(step.counts.size()), num_moe_layers_);
  json layers = json::array();
  for (const auto& counts : step.counts) {
    SIEVE_CHECK_EQ(static_cast<int64_t>(counts.size()), num_experts_);
    json pairs = json::array();
    for (int64_t e = 0; e < num_experts_; ++e) {
      if (counts[e] > 0) {
        pairs.push_back(e);
        pairs.push_back(counts[e]);
      }
    }
    layers.push_back(std::move(pairs));
  }
  out_ << json{{"tokens", step.tokens}, {"layers", std::move(layers)}}.dump() << '\n' << std::flush;
  if (!out_) return internal_error("writing the routing trace failed");
  ++steps_;
  return Status::Ok();
}

RoutingTraceHeader routing_trace_header(const ModelConfig& config, std::string source) {
  RoutingTraceHeader h;
  h.source = std::move(source);
  h.model_type = config.model_type;
  h.num_layers = config.num_layers;
  h.num_experts = config.num_experts;
  h.top_k = config.top_k;
  for (int64_t l = 0; l < static_cast<int64_t>(config.layer_is_moe.size()); ++l) {
    if (config.layer_is_moe[l]) h.moe_layers.push_back(l);
  }
  return h;
}

RoutingStep count_routing(const ForwardTrace& trace, const RoutingTraceHeader& header,
                          int64_t tokens) {
  RoutingStep step;
  step.tokens = tokens;
  step.counts.assign(header.moe_layers.size(), std::vector<int32_t>(header.num_experts, 0));
  for (size_t i = 0; i < header.moe_layers.size(); ++i) {
    const size_t layer = static_cast<size_t>(header.moe_layers[i]);
    SIEVE_CHECK_LT(layer, trace.router_ids.size());
    const std::vector<int32_t>& ids = trace.router_ids[layer];
    SIEVE_CHECK_EQ(static_cast<int64_t>(ids.size()), tokens * header.top_k);
    for (int32_t e : ids) {
      SIEVE_CHECK(e >= 0 && e < header.num_experts);
      ++step.counts[i][e];
    }
  }
  return step;
}

Result<RoutingTrace> read_routing_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) return not_found(path + ": no such routing trace");
  auto bad = [&](int64_t line, const std::string& m) {
    return invalid_argument(path + ":" + std::to_string(line) + ": " + m);
  };
  RoutingTrace t;
  std::string text;
  if (!std::getline(in, text)) return bad(1, "empty file (expected the trace header)");
  const json h = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!h.is_object() || h.value("format", "") != kFormat) {
    return bad(1, std::string("not a routing trace (the header's \"format\" must be \"") + kFormat +
                      "\")");
  }
  if (h.value("version", 0) != kVersion) {
    return bad(1, "routing trace version " + h.value("version", json(nullptr)).dump() +
                      "; this sieve reads version " + std::to_string(kVersion));
  }
  try {
    RoutingTraceHeader& hd = t.header;
    hd.source = h.value("source", "");
    hd.model_type = h.value("model_type", "");
    hd.num_layers = h.at("num_layers").get<int64_t>();
    hd.num_experts = h.at("num_experts").get<int64_t>();
    hd.top_k = h.at("top_k").get<int64_t>();
    hd.moe_layers = h.at("moe_layers").get<std::vector<int64_t>>();
  } catch (const json::exception& e) {
    return bad(1, std::string("header: ") + e.what());
  }
  if (Status s = check_header(t.header); !s.ok()) return bad(1, s.message());
  const int64_t L = static_cast<int64_t>(t.header.moe_layers.size());
  const int64_t E = t.header.num_experts;
  int64_t line = 1;
  while (std::getline(in, text)) {
    ++line;
    if (text.empty()) continue;
    const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_number_integer() ||
        !j.contains("layers") || !j["layers"].is_array()) {
      return bad(line, "a step must be {\"tokens\": N, \"layers\": [[expert, count, ...], ...]}");
    }
    RoutingStep step;
    step.tokens = j["tokens"].get<int64_t>();
    if (step.tokens < 0) return bad(line, "negative token count");
    const json& layers = j["layers"];
    if (static_cast<int64_t>(layers.size()) != L) {
      return bad(line, "has " + std::to_string(layers.size()) + " layers; the header lists " +
                           std::to_string(L));
    }
    step.counts.assign(L, std::vector<int32_t>(E, 0));
    for (int64_t l = 0; l < L; ++l) {
      const json& pairs = layers[l];
      if (!pairs.is_array() || pairs.size() % 2 != 0) {
        return bad(line, "layer " + std::to_string(l) + ": expected (expert, count) pairs");
      }
      int64_t sum = 0, last = -1;
      for (size_t i = 0; i < pairs.size(); i += 2) {
        if (!pairs[i].is_number_integer() || !pairs[i + 1].is_number_integer()) {
          return bad(line, "layer " + std::to_string(l) + ": experts and counts are integers");
        }
        const int64_t e = pairs[i].get<int64_t>(), n = pairs[i + 1].get<int64_t>();
        if (e <= last || e >= E) {
          return bad(line, "layer " + std::to_string(l) + ": expert " + std::to_string(e) +
                               " out of order or outside [0, " + std::to_string(E) + ")");
        }
        if (n <= 0 || n > step.tokens) {
          return bad(line, "layer " + std::to_string(l) + ": expert " + std::to_string(e) +
                               " has count " + std::to_string(n) + " (1 to tokens)");
        }
        step.counts[l][e] = static_cast<int32_t>(n);
        sum += n;
        last = e;
      }
      if (sum != step.tokens * t.header.top_k) {
        return bad(line,
                   "layer " + std::to_string(l) + ": counts sum to " + std::to_string(sum) +
                       ", not tokens × top_k = " + std::to_string(step.tokens * t.header.top_k));
      }
    }
    t.steps.push_back(std::move(step));
  }
  return t;
}

}  // namespace sieve
