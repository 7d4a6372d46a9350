// The gRPC front end of `sieve serve` (proto/sieve.proto), on its own port, asynchronous
// (gRPC's callback API: no thread per call). Same engine loop, tokenizer and metrics as HTTP.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "engine/checkpoint/model_config.h"
#include "engine/serving_loop.h"
#include "engine/text/prompt_encoder.h"
#include "server/metrics.h"
#include "server/openai_server.h"

namespace sieve::server {

class GrpcFrontend {
 public:
  GrpcFrontend(ServingLoop& loop, const PromptEncoder* encoder, const ModelConfig& config,
               Metrics& metrics, FrontendOptions options);
  ~GrpcFrontend();

  // Listens on host:port (0: any free port); returns the port bound.
  Result<int> start(const std::string& host, int port);
  // New Generate calls get UNAVAILABLE; running ones carry on.
  void begin_shutdown();
  // Ends every call still open (after `deadline`, cancelled) and stops the server.
  void stop(std::chrono::milliseconds deadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sieve::server
