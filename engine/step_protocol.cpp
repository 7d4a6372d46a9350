#include "engine/step_protocol.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace sieve {
namespace {

using nlohmann::json;

// Logprob lists as three parallel arrays: [[ids...], [logprobs...], [ranks...]].
json to_json(const std::vector<TokenLogprob>& v) {
  json ids = json::array(), lps = json::array(), ranks = json::array();
  for (const TokenLogprob& t : v) {
    ids.push_back(t.token_id);
    lps.push_back(t.logprob);
    ranks.push_back(t.rank);
  }
  return json::array({std::move(ids), std::move(lps), std::move(ranks)});
}

std::vector<TokenLogprob> logprobs_from(const json& j) {
  const json& ids = j.at(0);
  const json& lps = j.at(1);
  const json& ranks = j.at(2);
  std::vector<TokenLogprob> v(ids.size());
  for (size_t i = 0; i < v.size(); ++i) {
    v[i].token_id = ids.at(i).get<int32_t>();
    v[i].logprob = lps.at(i).get<float>();
    v[i].rank = ranks.at(i).get<int64_t>();
  }
  return v;
}

json to_json(const std::vector<std::vector<TokenLogprob>>& v) {
  json out = json::array();
  for (const auto& row : v)
    out.push_back(to_json(row));
  return out;
}

std::vector<std::vector<TokenLogprob>> rows_from(const json& j) {
  std::vector<std::vector<TokenLogprob>> v;
  for (const json& row : j)
    v.push_back(logprobs_from(row));
  return v;
}

// The prompt, then every request parameter through the one schema (engine/sampling_params.h),
// so a field added there travels between ranks with nothing to change here.
json to_json(const GenerationRequest& r) {
  return {{"prompt", r.prompt_token_ids}, {"params", write_request_params(r)}};
}

GenerationRequest request_from(const json& j) {
  GenerationRequest r;
  r.prompt_token_ids = j.at("prompt").get<std::vector<int32_t>>();
  const Status read = read_all_request_params(j.at("params"), r);
  if (!read.ok()) throw std::runtime_error(read.message());
  return r;
}

json to_json(const RequestOutput& o) {
  return {{"id", o.request_id},
          {"prompt", o.prompt_token_ids},
          {"output", o.output_token_ids},
          {"finish_reason", o.finish_reason},
          {"stop_string", o.stop_string},
          {"text", o.text},
          {"cached", o.num_cached_tokens},
          {"logprobs", to_json(o.logprobs)},
          {"prompt_logprobs", to_json(o.prompt_logprobs)}};
}

RequestOutput output_from(const json& j) {
  RequestOutput o;
  o.request_id = j.at("id").get<uint64_t>();
  o.prompt_token_ids = j.at("prompt").get<std::vector<int32_t>>();
  o.output_token_ids = j.at("output").get<std::vector<int32_t>>();
  o.finish_reason = j.at("finish_reason").get<std::string>();
  o.stop_string = j.at("stop_string").get<std::string>();
  o.text = j.at("text").get<std::string>();
  o.num_cached_tokens = j.at("cached").get<int64_t>();
  o.logprobs = rows_from(j.at("logprobs"));
  o.prompt_logprobs = rows_from(j.at("prompt_logprobs"));
  return o;
}

json to_json(const EngineStats& s) {
  return json::array({s.steps, s.prompt_tokens, s.generated_tokens, s.running, s.waiting,
                      s.preemptions, s.prefix_queried_tokens, s.prefix_hit_tokens});
}

EngineStats stats_from(const json& j) {
  EngineStats s;
  int64_t* fields[] = {
      &s.steps,   &s.prompt_tokens, &s.generated_tokens,      &s.running,
      &s.waiting, &s.preemptions,   &s.prefix_queried_tokens, &s.prefix_hit_tokens};
  for (size_t i = 0; i < std::size(fields); ++i)
    *fields[i] = j.at(i).get<int64_t>();
  return s;
}

// [num_layers, [[layer, rows_sent, rows_received, bytes_sent, bytes_received, seconds,
// [expert_rows...]], ...]], MoE layers only.
json to_json(const ExpertParallelStats& s) {
  json layers = json::array();
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const ExpertParallelStats::Layer& l = s.layers[i];
    if (!l.is_moe()) continue;
    layers.push_back(json::array({i, l.rows_sent, l.rows_received, l.bytes_sent, l.bytes_received,
                                  l.exchange_seconds, l.expert_rows}));
  }
  return json::array({s.layers.size(), std::move(layers)});
}

ExpertParallelStats expert_parallel_from(const json& j) {
  ExpertParallelStats s;
  s.layers.resize(j.at(0).get<size_t>());
  for (const json& l : j.at(1)) {
    ExpertParallelStats::Layer& d = s.layers.at(l.at(0).get<size_t>());
    d.rows_sent = l.at(1).get<int64_t>();
    d.rows_received = l.at(2).get<int64_t>();
    d.bytes_sent = l.at(3).get<int64_t>();
    d.bytes_received = l.at(4).get<int64_t>();
    d.exchange_seconds = l.at(5).get<double>();
    d.expert_rows = l.at(6).get<std::vector<int64_t>>();
  }
  return s;
}

std::vector<uint8_t> pack(const json& j) {
  return json::to_msgpack(j);
}

// Parses and converts; a malformed message (a bug, or memory corruption) is an error, not a
// crash.
template <typename T, typename F>
Result<T> unpack(std::span<const uint8_t> bytes, const char* what, F convert) {
  try {
    return convert(json::from_msgpack(bytes.begin(), bytes.end()));
  } catch (const std::exception& e) {  // json::exception, std::out_of_range (a layer index)
    return internal_error(std::string("malformed ") + what + ": " + e.what());
  }
}

}  // namespace

std::vector<uint8_t> encode(const StepControl& c) {
  json requests = json::array();
  for (const PlacedRequest& p : c.requests)
    requests.push_back({{"id", p.id}, {"rank", p.rank}, {"request", to_json(p.request)}});
  return pack({{"requests", std::move(requests)},
               {"aborts", c.aborts},
               {"abort_all", c.abort_all},
               {"step", c.step},
               {"exit", c.exit},
               {"report_counters", c.report_counters}});
}

Result<StepControl> decode_control(std::span<const uint8_t> bytes) {
  return unpack<StepControl>(bytes, "step control message", [](const json& j) {
    StepControl c;
    for (const json& p : j.at("requests")) {
      c.requests.push_back(
          {p.at("id").get<uint64_t>(), p.at("rank").get<int>(), request_from(p.at("request"))});
    }
    c.aborts = j.at("aborts").get<std::vector<uint64_t>>();
    c.abort_all = j.at("abort_all").get<bool>();
    c.step = j.at("step").get<bool>();
    c.exit = j.at("exit").get<bool>();
    c.report_counters = j.at("report_counters").get<bool>();
    return c;
  });
}

std::vector<uint8_t> encode(const RankReport& r) {
  json events = json::array();
  for (const auto& e : r.events) {
    if (const auto* t = std::get_if<TokenRecord>(&e)) {
      events.push_back({{"id", t->request_id},
                        {"token", t->token},
                        {"text", t->text},
                        {"logprobs", t->has_logprobs ? to_json(t->logprobs) : json(nullptr)}});
    } else {
      events.push_back({{"finish", to_json(std::get<RequestOutput>(e))}});
    }
  }
  return pack(
      {{"events", std::move(events)},
       {"unfinished", r.unfinished},
       {"load", r.load},
       {"step_seconds", r.step_seconds},
       {"step_batch", r.step_batch},
       {"stats", to_json(r.stats)},
       {"kv", {r.kv_blocks_total, r.kv_blocks_free, r.kv_blocks_cached}},
       {"expert_tokens", r.expert_tokens},
       {"expert_parallel", r.expert_parallel ? to_json(*r.expert_parallel) : json(nullptr)}});
}

Result<RankReport> decode_report(std::span<const uint8_t> bytes) {
  return unpack<RankReport>(bytes, "rank report", [](const json& j) {
    RankReport r;
    for (const json& e : j.at("events")) {
      if (e.contains("finish")) {
        r.events.emplace_back(output_from(e.at("finish")));
        continue;
      }
      TokenRecord t;
      t.request_id = e.at("id").get<uint64_t>();
      t.token = e.at("token").get<int32_t>();
      t.text = e.at("text").get<std::string>();
      if (!e.at("logprobs").is_null()) {
        t.has_logprobs = true;
        t.logprobs = logprobs_from(e.at("logprobs"));
      }
      r.events.emplace_back(std::move(t));
    }
    r.unfinished = j.at("unfinished").get<bool>();
    r.load = j.at("load").get<int64_t>();
    r.step_seconds = j.at("step_seconds").get<double>();
    r.step_batch = j.at("step_batch").get<int64_t>();
    r.stats = stats_from(j.at("stats"));
    const json& kv = j.at("kv");
    r.kv_blocks_total = kv.at(0).get<int64_t>();
    r.kv_blocks_free = kv.at(1).get<int64_t>();
    r.kv_blocks_cached = kv.at(2).get<int64_t>();
    r.expert_tokens = j.at("expert_tokens").get<std::vector<int64_t>>();
    if (const json& ep = j.at("expert_parallel"); !ep.is_null())
      r.expert_parallel = expert_parallel_from(ep);
    return r;
  });
}

}  // namespace sieve
