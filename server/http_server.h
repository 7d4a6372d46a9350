// An asynchronous HTTP/1.1 server (Boost.Beast over Asio): a few I/O threads serve every
// connection, so a slow or idle client holds no thread. Handlers answer through a Responder,
// from any thread, either with one response or with a server-sent-event stream.
//
// Beast stays inside http_server.cpp; this header is light enough for every front end.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/base/status.h"

namespace sieve::http {

struct Request {
  std::string method;                                        // "GET", "POST", ...
  std::string path;                                          // the target without its query
  std::string query;                                         // after '?', undecoded
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote;  // peer address, for logs

  // The first header with this (lower-case) name, or "" when absent.
  const std::string& header(std::string_view name) const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// One request's answer. Thread-safe: calls from any thread are queued onto the connection.
// Exactly one of send() or start_events() ... end_events() per request.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void send(int status, std::string content_type, std::string body, Headers extra = {}) = 0;
  // A `text/event-stream` response (chunked): each send_event writes "data: <data>\n\n".
  virtual void start_events(Headers extra = {}) = 0;
  virtual void send_event(std::string data) = 0;
  virtual void end_events() = 0;
  // `f` runs once, on an I/O thread, if the client goes away before the response is
  // complete (closed socket, reset, failed write). Runs at once if it already went.
  virtual void on_disconnect(std::function<void()> f) = 0;
  virtual bool disconnected() const = 0;
};

using Handler = std::function<void(Request request, std::shared_ptr<Responder> responder)>;

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 8000;  // 0: any free port (start() says which)
  size_t max_body_bytes = 32u << 20;
  int io_threads = 2;
  // A connection with no request in progress is closed after this long.
  std::chrono::seconds idle_timeout{120};
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Handler handler);
  ~HttpServer();  // stop()

  // Binds, listens and starts the I/O threads. Returns the port bound.
  Result<int> start();
  // Closes the listening socket; open connections carry on.
  void stop_accepting();
  // Closes every connection and joins the I/O threads.
  void stop();
  int64_t open_connections() const;
  // Requests handed to the handler whose response is not yet fully written.
  int64_t responses_in_progress() const;

  struct Impl;  // opaque; public only so the connection code in http_server.cpp can name it

 private:
  std::unique_ptr<Impl> impl_;
};

// "HTTP/1.1 <status> <reason>" reason phrase.
std::string reason_phrase(int status);

}  // namespace sieve::http
