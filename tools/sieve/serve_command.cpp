#include "tools/sieve/serve_command.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "engine/distributed_loop.h"
#include "engine/engine_loop.h"
#include "engine/text/prompt_encoder.h"
#include "server/grpc_server.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/openai_server.h"
#include "tools/sieve/chat_parser_flags.h"
#include "tools/sieve/distributed.h"
#include "tools/sieve/engine_flags.h"
#include "tools/sieve/model_loading.h"
#include "tools/sieve/placement/placement_setup.h"

namespace sieve {
namespace {

struct Opts {
  std::string model;
  std::string tokenizer;
  std::string served_model_name;
  std::string host = "0.0.0.0";
  int port = 8000;
  int grpc_port = -1;  // off
  std::string api_key;
  EngineFlags engine;
  ChatParserFlags chat;
  int64_t max_queued = 1024;
  double max_body_mb = 32;
  int io_threads = 2;
  double shutdown_grace_s = 30;
};

std::string default_model_dir() {
  return SIEVE_DEFAULT_MODEL_DIR;
}

int serve(const Opts& o) {
  const std::string model_dir = o.model.empty() ? default_model_dir() : o.model;
  if (o.model.empty() && !std::filesystem::exists(model_dir + "/config.json")) {
    spdlog::error(
        "the built-in default model is missing ({}); it is made at build time by the target "
        "default_model (cmake --build build/release), or pass --model DIR",
        model_dir);
    return 1;
  }
  if (Status s = validate_chat_parser_flags(o.chat); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  // Signals are taken by sigwait below, so block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Under mpirun every rank runs this; rank 0 serves, the others follow its steps.
  auto started = Distributed::start(o.engine);
  if (!started.ok()) {
    spdlog::error("{}", started.status().message());
    return 1;
  }
  std::unique_ptr<Distributed> dist = std::move(started).value();

  auto loaded = load_engine_model(model_dir, o.engine, dist.get());
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.status().message());
    return 1;
  }
  const ModelConfig& config = loaded->model->config();

  std::optional<PromptEncoder> encoder;
  std::string no_tokenizer;
  auto enc = PromptEncoder::load(model_dir, o.tokenizer);
  if (enc.ok()) {
    encoder.emplace(std::move(*enc));
  } else if (!o.tokenizer.empty() || enc.status().code() != StatusCode::kNotFound) {
    spdlog::error("{}", enc.status().message());
    return 1;
  } else {
    no_tokenizer = enc.status().message();
    spdlog::warn("no tokenizer: serving token-id prompts only ({})", no_tokenizer);
  }
  auto chat_format = select_chat_format(encoder ? &*encoder : nullptr, o.chat);
  if (!chat_format.ok()) {
    spdlog::error("{}", chat_format.status().message());
    return 1;
  }

  EngineOptions eo = loaded->engine_options(o.engine);
  eo.count_expert_tokens = true;
  if (encoder) eo.tokenizer = encoder->tokenizer();
  eo.lockstep = dist != nullptr;
  Engine engine(*loaded->model, *loaded->backend, eo);
  if (dist && dist->rank() != 0) {
    // No front end here: SIGTERM stays blocked, and the rank exits when rank 0 says so.
    run_distributed_worker(engine, dist->comm(), &dist->stats());
    return 0;
  }

  const std::string name = o.served_model_name.empty()
                               ? std::filesystem::path(model_dir).filename().string()
                               : o.served_model_name;
  server::Metrics metrics(name, config.num_layers, config.num_experts);
  std::unique_ptr<ServingLoop> loop_ptr;
  if (dist) {
    DistributedLoopOptions dlo;
    dlo.max_queued = o.max_queued;
    dlo.heartbeat_s = std::clamp(o.engine.distributed_timeout_s / 4, 0.05, 0.5);
    dlo.expert_parallel = &dist->stats();
    loop_ptr = std::make_unique<DistributedLoop>(engine, dist->comm(), dlo);
  } else {
    loop_ptr = std::make_unique<EngineLoop>(engine, o.max_queued,
                                            loaded->hybrid ? &loaded->hybrid->stats() : nullptr);
  }
  ServingLoop& loop = *loop_ptr;
  server::DashboardOptions dash;
  dash.model_name = name;
  dash.num_layers = config.num_layers;
  dash.num_experts = config.num_experts;
  for (int64_t l = 0; l < config.num_layers; ++l) {
    if (config.layer_is_moe[l]) dash.moe_layers.push_back(l);
  }
  server::Dashboard dashboard(dash, metrics);
  loop.on_step = [&metrics, &dashboard](const EngineSnapshot& s) {
    metrics.step(s);
    dashboard.step(s);
  };

  server::FrontendOptions fo;
  fo.model_name = name;
  fo.api_key = o.api_key;
  fo.max_model_len = engine.max_model_len();
  fo.no_tokenizer_reason = no_tokenizer;
  fo.dashboard = &dashboard;
  fo.chat_format = *chat_format;
  server::OpenAiFrontend frontend(loop, encoder ? &*encoder : nullptr, metrics, fo);

  http::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.max_body_bytes = static_cast<size_t>(o.max_body_mb * (1 << 20));
  so.io_threads = o.io_threads;
  http::HttpServer http(so, [&frontend](http::Request r, std::shared_ptr<http::Responder> res) {
    frontend.handle(std::move(r), std::move(res));
  });
  auto port = http.start();
  if (!port.ok()) {
    spdlog::error("{}", port.status().message());
    return 1;
  }
  std::unique_ptr<server::GrpcFrontend> grpc;
  if (o.grpc_port >= 0) {
    grpc = std::make_unique<server::GrpcFrontend>(loop, encoder ? &*encoder : nullptr, config,
                                                  metrics, fo);
    auto gport = grpc->start(o.host, o.grpc_port);
    if (!gport.ok()) {
      spdlog::error("{}", gport.status().message());
      return 1;
    }
    spdlog::info("gRPC (proto/sieve.proto, service sieve.v1.Sieve) on {}:{}", o.host, *gport);
  }
  spdlog::info(
      "serving '{}' on http://{}:{} (OpenAI API at /v1; {} KV pages of {} tokens, max context "
      "{}, prefix caching {}{}); Ctrl-C or SIGTERM stops",
      name, o.host, *port, engine.num_kv_blocks(), o.engine.block_size, engine.max_model_len(),
      o.engine.enable_prefix_caching ? "on" : "off", o.api_key.empty() ? "" : ", API key required");

  int sig = 0;
  sigwait(&signals, &sig);
  const auto grace = std::chrono::milliseconds(static_cast<int64_t>(o.shutdown_grace_s * 1000));
  spdlog::info("{}: no new requests; letting {} running finish (up to {:.0f} s)",
               sig == SIGINT ? "SIGINT" : "SIGTERM", loop.snapshot().stats.running,
               o.shutdown_grace_s);
  frontend.begin_shutdown();
  if (grpc) grpc->begin_shutdown();
  http.stop_accepting();
  loop.stop(grace);
  if (grpc) grpc->stop(std::chrono::seconds(5));
  // Let the last responses reach their clients before the I/O threads stop.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (http.responses_in_progress() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  http.stop();
  if (loaded->hybrid) spdlog::info("{}", summarize_placement(loaded->hybrid->stats()));
  const EngineStats st = loop.snapshot().stats;
  spdlog::info("stopped: {} prompt tokens, {} generated tokens, {} steps", st.prompt_tokens,
               st.generated_tokens, st.steps);
  loaded->log_routing_recorded();
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve a model over an OpenAI-compatible HTTP API (/v1/completions, "
      "/v1/chat/completions, /v1/models, /tokenize, /detokenize, /health, /metrics, and a live "
      "page at /dashboard). Without "
      "--model it serves the built-in default: a tiny random-weight Qwen3-MoE with the real "
      "Qwen3 tokenizer (its text is gibberish).");
  cmd->add_option("--model", o->model,
                  "Model directory (config.json + *.safetensors [+ tokenizer.json]); default: "
                  "the built-in tiny model at " +
                      default_model_dir());
  cmd->add_option("--tokenizer", o->tokenizer,
                  "tokenizer.json (or its directory, with tokenizer_config.json for the chat "
                  "template) to use instead of the model directory's. Without any, only "
                  "token-id prompts are served");
  cmd->add_option("--served-model-name", o->served_model_name,
                  "The model name clients use (default: the model directory's name)");
  cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "Port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--grpc-port", o->grpc_port,
                  "Also serve gRPC (proto/sieve.proto) on this port (0: any free port; default: "
                  "no gRPC)")
      ->check(CLI::Range(-1, 65535));
  cmd->add_option("--api-key", o->api_key,
                  "Require 'Authorization: Bearer KEY' on /v1/*, /tokenize and /detokenize");
  add_engine_flags(cmd, o->engine);
  add_chat_parser_flags(cmd, o->chat);
  cmd->add_option("--max-queued-requests", o->max_queued,
                  "Requests in flight (queued or running) before new ones get 429")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-body-mb", o->max_body_mb,
                  "Largest request body accepted, in MiB (larger: 413)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--io-threads", o->io_threads, "Threads serving HTTP connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--shutdown-grace", o->shutdown_grace_s,
                  "Seconds running requests get to finish after SIGTERM/SIGINT before they are "
                  "aborted")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([o]() {
    const int rc = serve(*o);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace sieve
