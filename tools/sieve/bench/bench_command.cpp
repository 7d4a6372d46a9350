#include "tools/sieve/bench/bench_command.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tools/sieve/bench/http_client.h"
#include "tools/sieve/bench/placement_command.h"
#include "tools/sieve/bench/report.h"
#include "tools/sieve/bench/runner.h"
#include "tools/sieve/bench/stats.h"
#include "tools/sieve/bench/svg_chart.h"
#include "tools/sieve/bench/throughput_command.h"
#include "tools/sieve/bench/trace_command.h"
#include "tools/sieve/bench/workload.h"

namespace sieve {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
using namespace sieve::bench;

struct ServeOpts {
  std::string base_url;
  std::string api_key;
  std::string model;
  int num_prompts = 100;
  double duration = 0;
  int num_warmups = 1;
  std::string request_rate = "inf";
  std::string arrival = "poisson";
  int max_concurrency = 0;
  int input_len = 256;
  int output_len = 128;
  std::string length_dist = "fixed";
  double range_ratio = 0.25;
  int shared_prefix_len = 0;
  int64_t vocab_size = 0;
  std::string dataset_path;
  uint64_t seed = 0;
  std::string slo;
  std::string result_dir = ".";
  std::string result_filename;
  double request_timeout = 600;
  bool no_return_token_ids = false;
};

std::atomic<bool> g_stop{false};

extern "C" void on_sigint(int) {
  g_stop.store(true);
  static const char kMsg[] =
      "\ninterrupted: sending no more requests, waiting for those in flight (Ctrl-C again to "
      "quit now)\n";
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
  std::signal(SIGINT, SIG_DFL);
}

[[noreturn]] void fail(const std::string& message, int code = 1) {
  spdlog::error("{}", message);
  throw CLI::RuntimeError(code);
}

Result<std::vector<double>> parse_rates(const std::string& text) {
  std::vector<double> rates;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "inf") {
      rates.push_back(std::numeric_limits<double>::infinity());
      continue;
    }
    try {
      size_t used = 0;
      const double r = std::stod(item, &used);
      if (used != item.size() || !(r > 0) || !std::isfinite(r)) throw std::invalid_argument("");
      rates.push_back(r);
    } catch (const std::exception&) {
      return invalid_argument("--request-rate: '" + item +
                              "' is not a positive number or 'inf' (e.g. 2,4,inf)");
    }
  }
  if (rates.empty()) return invalid_argument("--request-rate is empty");
  return rates;
}

// Sum of a Prometheus counter over its label sets; none when the text does not have it.
std::optional<double> counter(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  std::optional<double> sum;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    const size_t sp = line.rfind(' ');
    try {
      sum = sum.value_or(0) + std::stod(line.substr(sp + 1));
    } catch (const std::exception&) {
    }
  }
  return sum;
}

std::optional<ServerCounters> read_counters(const Endpoint& ep) {
  // /metrics sits at the server root, not under an API prefix.
  Endpoint root = ep;
  root.base_path.clear();
  auto res = http_get(root, "/metrics", 10);
  if (!res.ok() || res->status != 200) return std::nullopt;
  auto gen = counter(res->body, "sieve_generation_tokens_total");
  auto prompt = counter(res->body, "sieve_prompt_tokens_total");
  if (!gen || !prompt) return std::nullopt;
  return ServerCounters{*prompt, *gen};
}

std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

void run_serve(const ServeOpts& o) {
  // Validate everything before sending anything.
  auto ep = parse_base_url(o.base_url);
  if (!ep.ok()) fail(ep.status().message(), 2);
  ep->api_key = o.api_key;
  auto rates = parse_rates(o.request_rate);
  if (!rates.ok()) fail(rates.status().message(), 2);
  auto slo = parse_slo(o.slo);
  if (!slo.ok()) fail(slo.status().message(), 2);
  auto dist = parse_length_dist(o.length_dist);
  if (!dist.ok()) fail(dist.status().message(), 2);
  if (o.arrival != "poisson" && o.arrival != "constant") {
    fail("--arrival must be poisson or constant, got '" + o.arrival + "'", 2);
  }
  if (o.max_concurrency < 0) fail("--max-concurrency must be >= 0", 2);
  if (o.num_warmups < 0) fail("--num-warmups must be >= 0", 2);
  if (o.duration < 0) fail("--duration must be >= 0", 2);
  for (double r : *rates) {
    if (o.duration > 0 && !std::isfinite(r) && o.max_concurrency == 0) {
      fail(
          "--duration with --request-rate inf needs --max-concurrency (a closed loop of that "
          "many requests in flight)",
          2);
    }
  }
  WorkloadOptions wo;
  wo.num_prompts = o.num_prompts;
  wo.input_len = o.input_len;
  wo.output_len = o.output_len;
  wo.dist = *dist;
  wo.range_ratio = o.range_ratio;
  wo.shared_prefix_len = o.shared_prefix_len;
  wo.vocab_size = o.vocab_size;
  wo.dataset_path = o.dataset_path;
  wo.seed = o.seed;
  auto items = make_workload(wo);
  if (!items.ok()) fail(items.status().message(), 2);

  // The server must answer before anything is measured.
  auto models = http_get(*ep, "/v1/models", 10);
  if (!models.ok()) {
    fail("cannot reach the server at " + o.base_url + " (" + models.status().message() +
         "); is it running?");
  }
  if (models->status != 200) {
    fail("GET " + o.base_url + "/v1/models answered " + std::to_string(models->status) + ": " +
         models->body.substr(0, 300) +
         (models->status == 401 ? " (the server wants a key: pass --api-key or set OPENAI_API_KEY)"
                                : ""));
  }
  RequestOptions ro;
  ro.model = o.model;
  ro.return_token_ids = !o.no_return_token_ids;
  ro.timeout_s = o.request_timeout;
  if (ro.model.empty()) {
    json m = json::parse(models->body, nullptr, false);
    if (m.is_object() && m.contains("data") && m["data"].is_array() && !m["data"].empty() &&
        m["data"][0].contains("id") && m["data"][0]["id"].is_string()) {
      ro.model = m["data"][0]["id"].get<std::string>();
    }
  }
  spdlog::info(
      "benchmarking '{}' at {}: {} per load level, request rates {}", ro.model, o.base_url,
      o.duration > 0 ? fmt::format("{:g} s", o.duration) : fmt::format("{} prompts", o.num_prompts),
      o.request_rate);

  g_stop.store(false);
  std::signal(SIGINT, on_sigint);
  if (o.num_warmups > 0) {
    WorkloadOptions warm = wo;
    warm.num_prompts = o.num_warmups;
    warm.seed = o.seed + 1000003;
    auto warm_items = make_workload(warm);
    if (!warm_items.ok()) fail(warm_items.status().message(), 2);
    LoadOptions lo;
    lo.request_rate = std::numeric_limits<double>::infinity();
    lo.max_concurrency = o.max_concurrency;
    lo.label = "warm-up";
    LoadResult warmed = run_load(*ep, ro, *warm_items, lo, g_stop);
    for (const RequestResult& r : warmed.results) {
      if (!r.ok) {
        fail("a warm-up request failed (" + r.error_kind + "): " + r.error_message);
      }
    }
  }

  std::vector<RunReport> runs;
  for (size_t k = 0; k < rates->size() && !g_stop.load(); ++k) {
    LoadOptions lo;
    lo.request_rate = (*rates)[k];
    lo.poisson = o.arrival == "poisson";
    lo.max_concurrency = o.max_concurrency;
    lo.seed = o.seed + k;
    lo.duration_s = o.duration;
    lo.label = std::isfinite(lo.request_rate) ? fmt::format("rate {:g}", lo.request_rate)
                                              : std::string("rate inf");
    const auto before = read_counters(*ep);
    LoadResult load = run_load(*ep, ro, *items, lo, g_stop);
    RunReport run;
    run.request_rate = lo.request_rate;
    run.max_concurrency = o.max_concurrency;
    run.interrupted = load.interrupted;
    run.summary = summarize(load.results, load.duration_s, *slo);
    std::map<std::string, bool> sampled;
    for (const RequestResult& r : load.results) {
      if (!r.ok && !sampled[r.error_kind]) {
        sampled[r.error_kind] = true;
        run.error_samples.push_back(r.error_kind + ": " + r.error_message);
      }
    }
    if (before) {
      // The server's counters are a snapshot taken between engine steps; let them settle.
      for (int attempt = 0; attempt < 20; ++attempt) {
        auto after = read_counters(*ep);
        if (!after) break;
        run.server = ServerCounters{after->prompt_tokens - before->prompt_tokens,
                                    after->generation_tokens - before->generation_tokens};
        if (run.server->generation_tokens >= static_cast<double>(run.summary.output_tokens)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    runs.push_back(std::move(run));
  }
  std::signal(SIGINT, SIG_DFL);

  std::cout << format_table(runs) << std::flush;

  ojson result;
  result["tool"] = "sieve bench serve";
  result["date"] = utc_stamp();
  result["base_url"] = o.base_url;
  result["model"] = ro.model;
  result["config"] = {{"num_prompts", o.num_prompts},
                      {"duration_s", o.duration},
                      {"num_warmups", o.num_warmups},
                      {"request_rate", o.request_rate},
                      {"arrival", o.arrival},
                      {"max_concurrency", o.max_concurrency},
                      {"input_len", o.input_len},
                      {"output_len", o.output_len},
                      {"length_dist", o.length_dist},
                      {"range_ratio", o.range_ratio},
                      {"shared_prefix_len", o.shared_prefix_len},
                      {"vocab_size", o.vocab_size},
                      {"dataset_path", o.dataset_path},
                      {"seed", o.seed},
                      {"slo", o.slo},
                      {"return_token_ids", ro.return_token_ids}};
  result["interrupted"] = g_stop.load();
  result["runs"] = ojson::array();
  for (const RunReport& r : runs)
    result["runs"].push_back(run_to_json(r));

  std::error_code ec;
  std::filesystem::create_directories(o.result_dir, ec);
  const std::string stem =
      o.result_dir + "/" +
      (o.result_filename.empty() ? "sieve-bench-" + utc_stamp() : o.result_filename);
  {
    std::ofstream out(stem + ".json");
    out << result.dump(2) << "\n";
    if (!out) fail("cannot write " + stem + ".json");
  }
  {
    std::ofstream out(stem + ".svg");
    out << sweep_chart_svg(runs, "sieve bench serve: " + ro.model + " at " + o.base_url);
    if (!out) fail("cannot write " + stem + ".svg");
  }
  spdlog::info("wrote {}.json and {}.svg", stem, stem);

  for (const RunReport& r : runs) {
    if (r.summary.completed == 0 && !r.interrupted) {
      fail("no request completed at request rate " + ojson(run_to_json(r)["request_rate"]).dump() +
           (r.error_samples.empty() ? std::string() : ": " + r.error_samples[0]));
    }
  }
  if (g_stop.load()) fail("interrupted; the figures above cover what was measured", 130);
}

void run_compare(const std::string& a_path, const std::string& b_path) {
  auto load = [](const std::string& path) {
    std::ifstream in(path);
    if (!in) fail("cannot open " + path);
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded()) fail(path + " is not JSON");
    return j;
  };
  const json a = load(a_path), b = load(b_path);
  auto table = format_comparison(a, b);
  if (!table.ok()) fail(table.status().message());
  std::cout << "A: " << a_path << "\nB: " << b_path << "\n\n" << *table << std::flush;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand(
      "bench",
      "Benchmark a running server (serve), the engine in-process (throughput), expert-placement "
      "policies on a routing trace (placement), write or describe routing traces (trace), or "
      "compare two result files (compare)");
  bench->require_subcommand(1);

  auto o = std::make_shared<ServeOpts>();
  CLI::App* serve = bench->add_subcommand(
      "serve",
      "Load-test an OpenAI-compatible server (sieve serve, vLLM, ...): streams every request and "
      "reports TTFT, TPOT, ITL, E2E latency, throughput and goodput; writes a JSON result and an "
      "SVG chart to --result-dir");
  serve->add_option("--base-url", o->base_url, "The server, http://HOST:PORT")->required();
  serve
      ->add_option("--api-key", o->api_key,
                   "Sent as 'Authorization: Bearer KEY' (a server started with --api-key)")
      ->envname("OPENAI_API_KEY");
  serve->add_option("--model", o->model,
                    "Model name sent in requests (default: /v1/models' first)");
  serve->add_option("--num-prompts", o->num_prompts, "Requests per load level")
      ->capture_default_str();
  serve
      ->add_option("--duration", o->duration,
                   "Seconds per load level: keep sending (cycling through the --num-prompts "
                   "prompts) until then, instead of sending each prompt once (0: off)")
      ->capture_default_str();
  serve->add_option("--num-warmups", o->num_warmups, "Requests sent before measuring, not counted")
      ->capture_default_str();
  serve
      ->add_option("--request-rate", o->request_rate,
                   "Requests/s, or a sweep: 2,4,inf (inf: all at once)")
      ->capture_default_str();
  serve
      ->add_option("--arrival", o->arrival,
                   "Gaps between requests: poisson (exponential) or constant")
      ->capture_default_str();
  serve
      ->add_option("--max-concurrency", o->max_concurrency,
                   "At most this many requests in flight (0: no limit)")
      ->capture_default_str();
  serve
      ->add_option("--input-len", o->input_len,
                   "Prompt length in tokens (random token ids; after any shared prefix)")
      ->capture_default_str();
  serve
      ->add_option("--output-len", o->output_len,
                   "Output tokens per request (max_tokens, with ignore_eos)")
      ->capture_default_str();
  serve
      ->add_option("--length-dist", o->length_dist,
                   "How input and output lengths vary: fixed, uniform or normal")
      ->capture_default_str();
  serve
      ->add_option("--range-ratio", o->range_ratio,
                   "uniform: lengths in len*(1±r); normal: standard deviation len*r")
      ->capture_default_str();
  serve
      ->add_option("--shared-prefix-len", o->shared_prefix_len,
                   "Token ids every prompt starts with (the same for all)")
      ->capture_default_str();
  serve->add_option("--vocab-size", o->vocab_size,
                    "The model's vocabulary: random ids stay below it (default: ids in "
                    "[1000, 30000))");
  serve->add_option("--dataset-path", o->dataset_path,
                    "JSONL prompts instead of random ids: {\"prompt\": text or ids} or "
                    "{\"messages\": [...]}, optional \"output_len\"");
  serve->add_option("--seed", o->seed, "Seed of prompts and arrival times")->capture_default_str();
  serve->add_option("--slo", o->slo,
                    "Latency SLOs for goodput, e.g. ttft=200ms,tpot=50ms (also itl, e2e)");
  serve->add_option("--result-dir", o->result_dir, "Where the JSON and SVG go")
      ->capture_default_str();
  serve->add_option("--result-filename", o->result_filename,
                    "Name of the result files without extension (default: "
                    "sieve-bench-YYYYMMDD-HHMMSS)");
  serve->add_option("--request-timeout", o->request_timeout, "Seconds before a request fails")
      ->capture_default_str();
  serve->add_flag("--no-return-token-ids", o->no_return_token_ids,
                  "Do not send vLLM's return_token_ids (for servers without it; the stream "
                  "is then not cross-checked against usage)");
  serve->callback([o]() { run_serve(*o); });

  add_bench_throughput_command(bench);
  add_bench_trace_command(bench);
  add_bench_placement_command(bench);

  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* compare = bench->add_subcommand(
      "compare", "Print the key figures of two result files side by side with their ratios (B/A)");
  compare->add_option("files", *files, "A.json B.json")->required()->expected(2);
  compare->callback([files]() { run_compare((*files)[0], (*files)[1]); });
}

}  // namespace sieve
