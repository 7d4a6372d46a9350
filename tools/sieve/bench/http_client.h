// A small synchronous HTTP/1.1 client for `sieve bench`: plain GETs and streamed POSTs whose
// server-sent events are handed to a callback as they arrive. One connection per call.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "engine/base/status.h"

namespace sieve::bench {

struct Endpoint {
  std::string host;
  std::string port;
  std::string base_path;  // "" or "/prefix" without a trailing slash
  std::string api_key;    // sent as "Authorization: Bearer <key>" when not empty
};

// "http://HOST:PORT[/prefix]" (https is not supported).
Result<Endpoint> parse_base_url(const std::string& url);

struct HttpResponse {
  int status = 0;
  std::string body;  // whole body for GETs; for streams, the body only when status != 200
};

// Why a request failed before a response could be read, by kind: "connect", "timeout", "io".
struct TransportError {
  std::string kind;
  std::string message;
};

// GET base_path + target. Transport errors come back as unavailable().
Result<HttpResponse> http_get(const Endpoint& ep, const std::string& target, double timeout_s);

struct SseRequest {
  std::string target;  // e.g. "/v1/completions", base_path is prepended
  std::string body;    // JSON
  double timeout_s = 600;
  // Called with each `data:` payload (e.g. a JSON chunk or "[DONE]") when it arrives.
  std::function<void(std::string_view)> on_event;
};

// POST with `Accept: text/event-stream`. On a transport error `error` is filled and the
// returned status is 0.
HttpResponse http_post_sse(const Endpoint& ep, const SseRequest& req, TransportError& error);

}  // namespace sieve::bench
