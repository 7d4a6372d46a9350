// The OpenAI-compatible HTTP front end of `sieve serve`: routes, authentication, prompts to
// token ids, requests to the engine loop, results back as JSON or server-sent events.
//
//   POST /v1/completions, POST /v1/chat/completions (streaming and not)
//   GET /v1/models, GET /health, GET /metrics, POST /tokenize, POST /detokenize
//
// Handlers run on I/O threads and never wait for the engine: a request is parsed, tokenized
// and queued, and its sink (on the engine thread) writes the answer through the Responder.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "engine/serving_loop.h"
#include "engine/text/chat_output/chat_format.h"
#include "engine/text/prompt_encoder.h"
#include "server/dashboard.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/openai_protocol.h"

namespace sieve::server {

struct FrontendOptions {
  std::string model_name;  // what /v1/models lists and requests may name
  std::string api_key;     // required as "Authorization: Bearer <key>" on /v1/*; empty: none
  int64_t max_model_len = 0;
  std::string no_tokenizer_reason;  // why text prompts are refused, when encoder is null
  // GET /dashboard and /dashboard/data (the live page); null: no such routes.
  const Dashboard* dashboard = nullptr;
  // How chat output is read into reasoning, content and tool calls (ChatFormat::select);
  // inactive: chat content is the text as generated.
  ChatFormat chat_format;
};

class OpenAiFrontend {
 public:
  // `encoder` may be null: the server then takes token-id prompts only.
  OpenAiFrontend(ServingLoop& loop, const PromptEncoder* encoder, Metrics& metrics,
                 FrontendOptions options);

  void handle(http::Request request, std::shared_ptr<http::Responder> responder);
  // New requests get 503 from now on (graceful shutdown); running ones carry on.
  void begin_shutdown() { shutting_down_ = true; }

 private:
  struct Job;
  void generate(const http::Request& req, std::shared_ptr<http::Responder> res, bool chat);
  void tokenize(const http::Request& req, http::Responder& res);
  void detokenize(const http::Request& req, http::Responder& res);
  void models(http::Responder& res);
  // A 400 that says why text is refused, when the server has no tokenizer.
  std::optional<ApiError> require_encoder(const std::string& param) const;

  ServingLoop& loop_;
  const PromptEncoder* encoder_;
  Metrics& metrics_;
  FrontendOptions options_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<uint64_t> next_id_{1};
  int64_t started_at_;
};

}  // namespace sieve::server
