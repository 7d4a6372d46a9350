#include "tools/sieve/bench/throughput_command.h"

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "tools/sieve/bench/workload.h"
#include "tools/sieve/engine_flags.h"
#include "tools/sieve/model_loading.h"
#include "tools/sieve/placement/placement_setup.h"
#include "tools/sieve/progress_bar.h"

namespace sieve {
namespace {

using namespace sieve::bench;

struct ThroughputOpts {
  std::string model;
  int num_prompts = 100;
  int input_len = 256;
  int output_len = 128;
  std::string length_dist = "fixed";
  double range_ratio = 0.25;
  std::string output_json;
  EngineFlags engine;
};

[[noreturn]] void fail(const std::string& message, int code = 1) {
  spdlog::error("{}", message);
  throw CLI::RuntimeError(code);
}

void run_throughput(const ThroughputOpts& o) {
  auto dist = parse_length_dist(o.length_dist);
  if (!dist.ok()) fail(dist.status().message(), 2);
  auto loaded = load_engine_model(o.model, o.engine);
  if (!loaded.ok()) fail(loaded.status().message());
  Model& model = *loaded->model;

  WorkloadOptions wo;
  wo.num_prompts = o.num_prompts;
  wo.input_len = o.input_len;
  wo.output_len = o.output_len;
  wo.dist = *dist;
  wo.range_ratio = o.range_ratio;
  wo.vocab_size = model.config().vocab_size;  // random ids stay inside the vocabulary
  wo.seed = o.engine.seed;                    // --seed (an engine flag) also seeds the prompts
  auto items = make_workload(wo);
  if (!items.ok()) fail(items.status().message(), 2);

  Engine engine(model, *loaded->backend, loaded->engine_options(o.engine));
  int64_t prompt_tokens = 0, output_tokens = 0, finished = 0;
  for (const WorkItem& item : *items) {
    GenerationRequest req;
    for (const auto& id : item.prompt)
      req.prompt_token_ids.push_back(id.get<int32_t>());
    req.params.max_tokens = item.output_len;
    req.params.ignore_eos = true;
    prompt_tokens += static_cast<int64_t>(req.prompt_token_ids.size());
    RequestSink sink;
    sink.on_finish = [&](RequestOutput&& r) {
      output_tokens += static_cast<int64_t>(r.output_token_ids.size());
      ++finished;
    };
    auto added = engine.add_request(std::move(req), std::move(sink));
    if (!added.ok()) fail("the engine refused a request: " + added.status().message());
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  ProgressBar bar("Generating", o.num_prompts);
  while (engine.has_unfinished()) {
    engine.step();
    const auto& st = engine.stats();
    char detail[64];
    std::snprintf(detail, sizeof detail, "| %.1f tok/s out",
                  static_cast<double>(st.generated_tokens) / std::max(elapsed(), 1e-9));
    bar.update(finished, detail);
  }
  bar.finish();
  const double secs = std::max(elapsed(), 1e-9);
  loaded->log_routing_recorded();

  nlohmann::ordered_json j;
  j["tool"] = "sieve bench throughput";
  j["model"] = o.model;
  j["num_prompts"] = o.num_prompts;
  j["input_len"] = o.input_len;
  j["output_len"] = o.output_len;
  j["length_dist"] = o.length_dist;
  j["seed"] = o.engine.seed;
  j["elapsed_s"] = secs;
  j["requests"] = finished;
  j["prompt_tokens"] = prompt_tokens;
  j["output_tokens"] = output_tokens;
  j["request_throughput"] = static_cast<double>(finished) / secs;
  j["prompt_throughput"] = static_cast<double>(prompt_tokens) / secs;
  j["output_throughput"] = static_cast<double>(output_tokens) / secs;
  j["total_token_throughput"] = static_cast<double>(prompt_tokens + output_tokens) / secs;
  j["engine_steps"] = engine.stats().steps;

  std::printf("requests            %lld in %.2f s (%.2f req/s)\n", static_cast<long long>(finished),
              secs, static_cast<double>(finished) / secs);
  std::printf("prompt tokens       %lld (%.1f tok/s)\n", static_cast<long long>(prompt_tokens),
              static_cast<double>(prompt_tokens) / secs);
  std::printf("output tokens       %lld (%.1f tok/s)\n", static_cast<long long>(output_tokens),
              static_cast<double>(output_tokens) / secs);
  std::printf("total tokens/s      %.1f\n",
              static_cast<double>(prompt_tokens + output_tokens) / secs);
  if (loaded->hybrid) {
    const std::string placement = summarize_placement(loaded->hybrid->stats());
    std::printf("%s\n", placement.c_str());
    j["expert_placement"] = placement;
  }
  std::fflush(stdout);
  if (!o.output_json.empty()) {
    std::ofstream out(o.output_json);
    out << j.dump(2) << "\n";
    if (!out) fail("cannot write " + o.output_json);
  }
}

}  // namespace

void add_bench_throughput_command(CLI::App* bench) {
  auto o = std::make_shared<ThroughputOpts>();
  CLI::App* cmd = bench->add_subcommand(
      "throughput",
      "Offline engine throughput, in-process (no HTTP): --num-prompts random token-id prompts "
      "of --input-len tokens, each generating exactly --output-len tokens, all submitted at "
      "once; prints prompt and output tokens/s");
  cmd->add_option("--model", o->model, "Model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--num-prompts", o->num_prompts, "Requests")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--input-len", o->input_len, "Prompt length in tokens")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--output-len", o->output_len, "Output tokens per request (ignore_eos)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--length-dist", o->length_dist, "How lengths vary: fixed, uniform or normal")
      ->capture_default_str();
  cmd->add_option("--range-ratio", o->range_ratio,
                  "uniform: lengths in len*(1±r); normal: standard deviation len*r")
      ->capture_default_str();
  cmd->add_option("--output-json", o->output_json, "Also write the figures to this JSON file");
  add_engine_flags(cmd, o->engine);
  cmd->callback([o]() { run_throughput(*o); });
}

}  // namespace sieve
