#include "tools/sieve/run/run_command.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <span>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "engine/text/prompt_encoder.h"
#include "tools/sieve/chat_parser_flags.h"
#include "tools/sieve/distributed.h"
#include "tools/sieve/jsonl_io.h"
#include "tools/sieve/model_loading.h"
#include "tools/sieve/placement/placement_setup.h"
#include "tools/sieve/progress_bar.h"
#include "tools/sieve/run/jsonl_requests.h"

namespace sieve {
namespace {

// The request parameters an input line may set: the engine's one schema, which /v1/completions
// and gRPC read too.
std::string request_params_help() {
  std::string s = "Request parameters of an input line (as in /v1/completions):\n";
  for (const RequestParamInfo& f : request_param_fields()) {
    std::string name = "  " + std::string(f.name) + " (" + std::string(f.type) + ")";
    if (name.size() < 36) name.resize(36, ' ');
    s += name + " " + std::string(f.help) + "\n";
  }
  return s;
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Offline batch generation: one JSON request per line of --input, one JSON result per line "
      "of --output, in the same order. A line that cannot run gets {\"id\", \"error\"} and the "
      "others still run.");
  cmd->add_option("--model", opts->model, "Model directory (config.json + *.safetensors)")
      ->required();
  cmd->add_option("--input", opts->input,
                  "Requests, JSONL ('-' = stdin). Fields: id; the prompt as one of "
                  "prompt_token_ids, prompt (text) or messages (chat, with tools, "
                  "add_generation_prompt (default true), chat_template_kwargs); and the request "
                  "parameters listed below")
      ->required();
  cmd->add_option("--output", opts->output,
                  "Results, JSONL ('-' = stdout): id, prompt_token_ids, output_token_ids, text "
                  "(when the model has a tokenizer), finish_reason, logprobs, prompt_logprobs")
      ->required();
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "tokenizer.json (or its directory, with tokenizer_config.json for the chat "
                  "template) to use instead of the model directory's");
  add_engine_flags(cmd, opts->engine);
  add_chat_parser_flags(cmd, opts->chat);
  cmd->footer(request_params_help());
  cmd->add_option("--max-tokens", opts->default_max_tokens,
                  "max_tokens for lines that do not set it")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([opts]() {
    const int rc = run_batch(*opts);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

int run_batch(const RunOptions& o) {
  if (Status s = validate_chat_parser_flags(o.chat); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  // Under mpirun every rank runs this: each takes every world-th line, and rank 0 writes all
  // results at the end.
  auto started = Distributed::start(o.engine);
  if (!started.ok()) {
    spdlog::error("{}", started.status().message());
    return 1;
  }
  std::unique_ptr<Distributed> dist = std::move(started).value();
  const int world = dist ? dist->world() : 1, rank = dist ? dist->rank() : 0;
  auto files = JsonlFiles::open(o.input, rank == 0 ? o.output : std::string("/dev/null"));
  if (!files.ok()) {
    spdlog::error("{}", files.status().message());
    return 1;
  }
  std::istream* in = &(*files)->in();
  std::ostream* out = &(*files)->out();

  auto loaded = load_engine_model(o.model, o.engine, dist.get());
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.status().message());
    return 1;
  }
  Model& model = *loaded->model;

  // Text in and out needs a tokenizer. One named with --tokenizer must load; the model
  // directory's is optional (token-id batches run without one).
  std::optional<PromptEncoder> encoder;
  std::string no_tokenizer_reason;
  {
    auto e = PromptEncoder::load(o.model, o.tokenizer);
    if (e.ok()) {
      encoder.emplace(std::move(*e));
      spdlog::info("tokenizer: {} ({} tokens{})", encoder->tokenizer_dir().string(),
                   encoder->tokenizer()->vocab_size(),
                   encoder->has_chat_template() ? ", chat template" : ", no chat template");
    } else if (!o.tokenizer.empty() || e.status().code() != StatusCode::kNotFound) {
      spdlog::error("{}", e.status().message());
      return 1;
    } else {
      no_tokenizer_reason = e.status().message();
    }
  }
  const PromptEncoder* enc = encoder ? &*encoder : nullptr;
  // Chat lines' output is parsed into content, reasoning and tool calls when the model has a
  // chat-output format.
  auto chat_format = select_chat_format(enc, o.chat);
  if (!chat_format.ok()) {
    spdlog::error("{}", chat_format.status().message());
    return 1;
  }
  const ChatFormat& format = *chat_format;

  EngineOptions eo = loaded->engine_options(o.engine);
  if (enc) eo.tokenizer = enc->tokenizer();
  eo.lockstep = world > 1;
  Engine engine(model, *loaded->backend, eo);

  // Results in input order: slot i holds line i's JSON once known; written as a prefix fills.
  std::vector<std::optional<nlohmann::ordered_json>> results;
  std::vector<nlohmann::ordered_json> ids;
  std::string line;
  int64_t line_number = 0, errors = 0;
  while (std::getline(*in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines
    const size_t slot = results.size();
    results.emplace_back();
    if (static_cast<int>(slot % world) != rank) continue;  // another rank's line
    auto parsed = parse_request_line(line, line_number, o.default_max_tokens);
    const bool parsed_chat = parsed.ok() && parsed->chat && format.active();
    if (parsed_chat) prepare_chat_line(*parsed, format);
    Status encoded =
        parsed.ok() ? encode_prompt(*parsed, enc, no_tokenizer_reason) : parsed.status();
    if (!encoded.ok()) {
      results[slot] = error_json(id_of_line(line, line_number), encoded.message());
      ++errors;
      continue;
    }
    ids.resize(slot + 1);
    ids[slot] = parsed->id;
    RequestSink sink;
    sink.on_finish = [&results, &ids, slot, enc, parsed_chat, &format](RequestOutput&& r) {
      std::optional<std::string> text;
      if (enc) text = r.text;  // the engine detokenizes (and applies stop strings)
      results[slot] = result_json(ids[slot], r, text);
      if (parsed_chat) add_chat_fields(*results[slot], r, format);
    };
    auto added = engine.add_request(std::move(parsed->request), std::move(sink));
    if (!added.ok()) {
      results[slot] = error_json(parsed->id, added.status().message());
      ++errors;
    }
  }
  const int64_t total = static_cast<int64_t>(results.size());
  spdlog::info("running {} requests from {} ({} invalid)", total, o.input, errors);

  size_t written = 0;
  auto flush_ready = [&] {
    while (written < results.size() && results[written]) {
      (*files)->write(*results[written]);
      results[written].reset();
      ++written;
    }
    out->flush();
  };

  const auto t0 = std::chrono::steady_clock::now();
  ProgressBar bar("Generating", total);
  int64_t done = errors;
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto busy = [&]() -> bool {
    if (!dist) return engine.has_unfinished();
    auto any = dist->any_busy(engine.has_unfinished());
    if (!any.ok()) {
      spdlog::error("rank {}: {}", rank, any.status().message());
      std::exit(1);  // the run cannot go on without its peers
    }
    return *any;
  };
  double step_seconds = 0;
  int64_t lockstep_steps = 0;
  while (busy()) {
    const auto s0 = std::chrono::steady_clock::now();
    engine.step();
    step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    ++lockstep_steps;
    if (!dist) flush_ready();
    done = static_cast<int64_t>(written);
    const auto& st = engine.stats();
    const double secs = std::max(elapsed(), 1e-9);
    char detail[96];
    std::snprintf(detail, sizeof detail, "| %.1f tok/s out, %.1f tok/s in",
                  st.generated_tokens / secs, st.prompt_tokens / secs);
    bar.update(done, detail);
  }
  if (dist) {
    if (Status s = dist->log_summary(lockstep_steps, step_seconds); !s.ok()) {
      spdlog::error("rank {}: {}", rank, s.message());
      return 1;
    }
    // Every rank's results to rank 0, as [slot, result] pairs.
    nlohmann::ordered_json mine = nlohmann::ordered_json::array();
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i]) mine.push_back({i, *results[i]});
    }
    const std::string text = mine.dump();
    std::vector<std::vector<uint8_t>> all;
    Status gathered = dist->comm().gather(
        std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), &all, 0);
    if (!gathered.ok()) {
      spdlog::error("rank {}: {}", rank, gathered.message());
      return 1;
    }
    if (rank == 0) {
      for (size_t r = 1; r < all.size(); ++r) {
        const auto part = nlohmann::ordered_json::parse(all[r].begin(), all[r].end());
        for (const auto& item : part)
          results[item[0].get<size_t>()] = item[1];
      }
    }
  }
  flush_ready();
  bar.finish();
  loaded->log_routing_recorded();
  if (!*out) {
    spdlog::error("writing --output {} failed", o.output);
    return 1;
  }
  const auto& st = engine.stats();
  const double secs = std::max(elapsed(), 1e-9);
  spdlog::info(
      "done: {} requests ({} errors) in {:.2f} s; {} prompt tokens ({:.1f} tok/s), {} "
      "generated tokens ({:.1f} tok/s), {} steps; results in {}",
      total, errors, secs, st.prompt_tokens, st.prompt_tokens / secs, st.generated_tokens,
      st.generated_tokens / secs, st.steps, o.output);
  if (loaded->hybrid) spdlog::info("{}", summarize_placement(loaded->hybrid->stats()));
  return 0;
}

}  // namespace sieve
