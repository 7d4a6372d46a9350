// A test-only server: the real OpenAI front end and HTTP server over a scripted ServingLoop
// instead of an engine, so end-to-end tests can make "the model" write exact token sequences
// (harmony turns of gpt-oss, Qwen3 and DeepSeek-V3 reasoning and tool calls, malformed ones)
// and check what real clients receive.
//
//   sieve_scripted_server --tokenizer DIR --scripts FILE.json [--port 0] [--grpc-port 0]
//                         [--reasoning-parser auto] [--tool-call-parser auto]
//
// FILE.json maps script names to output text written with special-token markers, e.g.
// {"answer": "<|channel|>final<|message|>4<|return|>"}; the text is encoded with the tokenizer
// from DIR, so the markers become their ids. A request runs the script whose name follows
// "script:" in its prompt; the script named "echo" instead writes the prompt's own text (for a
// harmony model as a final message with "<|" spelled "<!", for others with every "<" spelled
// "<!"), so that no marker in it is read as one. The chat-output parsers are chosen as
// `sieve serve` chooses them. Like the engine, the
// loop emits one token per step, stops at the request's stop_token_ids ("stop") or max_tokens
// ("length"), and at the end of the script ("stop", as at EOS).
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/serving_loop.h"
#include "engine/text/chat_output/chat_format.h"
#include "engine/text/prompt_encoder.h"
#include "engine/text/text_stream.h"
#include "server/grpc_server.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/openai_server.h"

namespace sieve {
namespace {

class ScriptedLoop final : public ServingLoop {
 public:
  ScriptedLoop(std::shared_ptr<const Tokenizer> tokenizer,
               std::map<std::string, std::vector<int32_t>> scripts)
      : tokenizer_(std::move(tokenizer)), scripts_(std::move(scripts)) {
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedLoop() override { stop(std::chrono::milliseconds(0)); }

  Result<uint64_t> submit(GenerationRequest request, RequestSink sink) override {
    Result<std::vector<int32_t>> output = script_for(request.prompt_token_ids);
    if (!output.ok()) return output.status();
    std::lock_guard lock(mu_);
    if (stopping_) return unavailable("the server is shutting down");
    const uint64_t id = next_id_++;
    Running r;
    r.id = id;
    r.request = std::move(request);
    r.sink = std::move(sink);
    r.script = std::move(*output);
    TextStreamOptions to;
    to.stop = r.request.params.stop;
    to.include_stop_str_in_output = r.request.params.include_stop_str_in_output;
    to.skip_special_tokens = r.request.params.skip_special_tokens;
    r.text = std::make_unique<TextStream>(tokenizer_, to);
    running_.push_back(std::move(r));
    cv_.notify_all();
    return id;
  }
  void abort(uint64_t id) override {
    std::lock_guard lock(mu_);
    aborted_.insert(id);
  }
  void stop(std::chrono::milliseconds) override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }
  bool stopping() const override { return stopping_; }
  EngineSnapshot snapshot() const override { return {}; }

 private:
  struct Running {
    uint64_t id = 0;
    GenerationRequest request;
    RequestSink sink;
    std::vector<int32_t> script;
    size_t next = 0;
    std::unique_ptr<TextStream> text;
    RequestOutput out;
  };

  Result<std::vector<int32_t>> script_for(const std::vector<int32_t>& prompt) const {
    SIEVE_ASSIGN_OR_RETURN(std::string text, tokenizer_->decode(prompt, false));
    const size_t at = text.rfind("script:");
    if (at == std::string::npos) return invalid_argument("the prompt names no script:NAME");
    size_t end = at + 7;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) ||
                                 text[end] == '_' || text[end] == '-'))
      ++end;
    const std::string name = text.substr(at + 7, end - at - 7);
    if (name == "echo") {
      if (HarmonyTokens::find(*tokenizer_)) {
        for (size_t p = text.find("<|"); p != std::string::npos; p = text.find("<|", p))
          text[p + 1] = '!';
        return tokenizer_->encode("<|channel|>final<|message|>" + text + "<|return|>", false);
      }
      for (size_t p = text.find('<'); p != std::string::npos; p = text.find('<', p + 2))
        text.insert(p + 1, "!");
      return tokenizer_->encode(text, false);
    }
    auto it = scripts_.find(name);
    if (it == scripts_.end()) return invalid_argument("no script named '" + name + "'");
    return it->second;
  }

  // One token of r; true when r finished.
  bool step(Running& r, bool aborted) {
    if (aborted) return finish(r, "abort");
    const SamplingParams& p = r.request.params;
    const int32_t token = r.script[r.next++];
    r.out.output_token_ids.push_back(token);
    const auto& stops = p.stop_token_ids;
    const bool stop_token = std::find(stops.begin(), stops.end(), token) != stops.end();
    TextStream::Delta d;
    if (!stop_token || p.include_stop_str_in_output) d = r.text->push(token);
    if (r.sink.on_token) {
      TokenEvent e;
      e.request_id = r.id;
      e.token = token;
      e.text = d.text;
      r.sink.on_token(e);
    }
    if (d.stopped) {
      r.out.stop_string = d.matched;
      return finish(r, "stop");
    }
    if (stop_token || r.next == r.script.size()) return finish(r, "stop");
    if (static_cast<int64_t>(r.out.output_token_ids.size()) >= p.max_tokens)
      return finish(r, "length");
    return false;
  }

  bool finish(Running& r, const char* reason) {
    r.text->finish();
    r.out.request_id = r.id;
    r.out.prompt_token_ids = r.request.prompt_token_ids;
    r.out.text = r.text->text();
    r.out.finish_reason = reason;
    if (r.sink.on_finish) r.sink.on_finish(std::move(r.out));
    return true;
  }

  // The loop thread: one token of every running request per step, like the engine's decode.
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !running_.empty(); });
      if (running_.empty()) return;
      std::deque<Running> batch = std::move(running_);
      running_.clear();
      const std::set<uint64_t> aborted = aborted_;
      lock.unlock();
      std::deque<Running> still;
      for (Running& r : batch) {
        if (!step(r, stopping_ || aborted.count(r.id))) still.push_back(std::move(r));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      lock.lock();
      for (Running& r : still)
        running_.push_front(std::move(r));
    }
  }

  std::shared_ptr<const Tokenizer> tokenizer_;
  std::map<std::string, std::vector<int32_t>> scripts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Running> running_;
  std::set<uint64_t> aborted_;
  std::atomic<bool> stopping_{false};
  uint64_t next_id_ = 1;
  std::thread thread_;
};

int serve(int argc, char** argv) {
  std::string tokenizer_dir, scripts_file;
  ChatParserFlags parsers;
  int port = 0, grpc_port = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--tokenizer") {
      tokenizer_dir = argv[i + 1];
    } else if (flag == "--scripts") {
      scripts_file = argv[i + 1];
    } else if (flag == "--port") {
      port = std::stoi(argv[i + 1]);
    } else if (flag == "--grpc-port") {
      grpc_port = std::stoi(argv[i + 1]);
    } else if (flag == "--reasoning-parser") {
      parsers.reasoning_parser = argv[i + 1];
    } else if (flag == "--tool-call-parser") {
      parsers.tool_call_parser = argv[i + 1];
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  auto encoder = PromptEncoder::load(tokenizer_dir);
  if (!encoder.ok()) {
    std::fprintf(stderr, "%s\n", encoder.status().message().c_str());
    return 1;
  }
  std::ifstream in(scripts_file);
  const auto scripts_json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!scripts_json.is_object()) {
    std::fprintf(stderr, "--scripts %s: not a JSON object\n", scripts_file.c_str());
    return 1;
  }
  std::map<std::string, std::vector<int32_t>> scripts;
  for (const auto& [name, text] : scripts_json.items()) {
    auto ids = encoder->tokenizer()->encode(text.get<std::string>(), false);
    if (!ids.ok()) return 1;
    scripts[name] = std::move(*ids);
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ScriptedLoop loop(encoder->tokenizer(), std::move(scripts));
  server::Metrics metrics("scripted", 0, 0);
  server::FrontendOptions fo;
  fo.model_name = "scripted";
  fo.max_model_len = 8192;
  auto format = ChatFormat::select(*encoder, parsers);
  if (!format.ok()) {
    std::fprintf(stderr, "%s\n", format.status().message().c_str());
    return 1;
  }
  fo.chat_format = *format;
  std::fprintf(stderr, "%s\n", format->describe().c_str());
  server::OpenAiFrontend frontend(loop, &*encoder, metrics, fo);
  http::ServerOptions so;
  so.host = "127.0.0.1";
  so.port = port;
  http::HttpServer http(so, [&frontend](http::Request r, std::shared_ptr<http::Responder> res) {
    frontend.handle(std::move(r), std::move(res));
  });
  std::unique_ptr<server::GrpcFrontend> grpc;
  const ModelConfig config;  // no model behind the script
  if (grpc_port >= 0) {
    grpc = std::make_unique<server::GrpcFrontend>(loop, &*encoder, config, metrics, fo);
    auto g = grpc->start("127.0.0.1", grpc_port);
    if (!g.ok()) {
      std::fprintf(stderr, "%s\n", g.status().message().c_str());
      return 1;
    }
    std::fprintf(stderr, "gRPC scripted model on 127.0.0.1:%d\n", *g);
  }
  auto bound = http.start();
  if (!bound.ok()) {
    std::fprintf(stderr, "%s\n", bound.status().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "scripted model on http://127.0.0.1:%d\n", *bound);
  int sig = 0;
  sigwait(&signals, &sig);
  frontend.begin_shutdown();
  if (grpc) grpc->begin_shutdown();
  loop.stop(std::chrono::milliseconds(0));
  if (grpc) grpc->stop(std::chrono::milliseconds(0));
  http.stop();
  return 0;
}

}  // namespace
}  // namespace sieve

int main(int argc, char** argv) {
  return sieve::serve(argc, argv);
}
