#include "server/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace sieve::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

const std::string& Request::header(std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return kEmpty;
}

std::string reason_phrase(int status) {
  return std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(status)));
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string head(int status, const Headers& headers, bool keep_alive) {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  for (const auto& [k, v] : headers)
    h += k + ": " + v + "\r\n";
  h += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  h += "\r\n";
  return h;
}

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string c = size;
  c.append(data);
  c += "\r\n";
  return c;
}

}  // namespace

class Session;

struct HttpServer::Impl {
  ServerOptions options;
  Handler handler;
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> responding{0};
  bool started = false;

  Impl(ServerOptions o, Handler h)
      : options(std::move(o)), handler(std::move(h)), ioc(std::max(1, options.io_threads)) {}
  void accept();
};

// A connection: reads requests, hands each to the handler, writes what its Responder queues.
// All state lives on the connection's strand. One read is kept outstanding while a response
// is in progress, so a client that goes away is noticed at once.
class Session : public std::enable_shared_from_this<Session> {
 public:
  class Reply;

  Session(tcp::socket socket, HttpServer::Impl& server)
      : socket_(std::move(socket)), idle_(socket_.get_executor()), server_(server) {
    ++server_.connections;
    beast::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~Session() { --server_.connections; }

  void start() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->arm_idle_timer();
      self->read_next();
    });
  }

  // Called on the strand by Reply.
  void write(std::string bytes, bool ends_response) {
    if (closed_) return;
    writes_.push_back({std::move(bytes), ends_response});
    if (!writing_) do_write();
  }
  bool closed() const { return closed_; }

 private:
  struct Write {
    std::string bytes;
    bool ends_response;
  };

  void arm_idle_timer() {
    idle_.expires_after(server_.options.idle_timeout);
    idle_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->responding_ || self->closed_) return;
      self->close();  // idle: no request in progress for the whole timeout
    });
  }

  void read_next() {
    if (reading_ || closed_) return;
    parser_.emplace();
    parser_->body_limit(server_.options.max_body_bytes);
    parser_->header_limit(64 * 1024);
    reading_ = true;
    bhttp::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    reading_ = false;
    if (closed_) return;
    if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit) {
      if (!responding_) {
        const bool body = ec == bhttp::error::body_limit;
        respond_and_close(body ? 413 : 431,
                          body ? "the request body is larger than the server accepts (" +
                                     std::to_string(server_.options.max_body_bytes) + " bytes)"
                               : "the request headers are too large");
      } else {
        gone();
      }
      return;
    }
    if (ec) {
      // end_of_stream, reset, or a malformed request line: either way nothing more to read.
      if (ec != bhttp::error::end_of_stream && ec != net::error::eof &&
          ec != net::error::operation_aborted && ec != net::error::connection_reset &&
          !responding_) {
        respond_and_close(400, "malformed HTTP request: " + ec.message());
        return;
      }
      gone();
      return;
    }
    auto msg = parser_->release();
    Request r;
    r.method = std::string(msg.method_string());
    const std::string target(msg.target());
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) r.query = target.substr(q + 1);
    for (const auto& f : msg)
      r.headers.emplace_back(lower(std::string(f.name_string())), std::string(f.value()));
    r.body = std::move(msg.body());
    r.remote = remote_;
    const bool keep_alive = msg.keep_alive();
    if (responding_) {
      pending_.push_back({std::move(r), keep_alive});  // pipelined: after the current one
      return;                                          // read no further until it is served
    }
    dispatch(std::move(r), keep_alive);
  }

  void dispatch(Request r, bool keep_alive);
  void response_done();

  void do_write() {
    writing_ = true;
    net::async_write(
        socket_, net::buffer(writes_.front().bytes),
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      gone();
      return;
    }
    const bool ends = writes_.front().ends_response;
    writes_.pop_front();
    // response_done may start the next response, whose first write starts itself.
    if (ends) response_done();
    if (!writes_.empty() && !writing_ && !closed_) do_write();
  }

  // Errors found before any handler saw the request (413, 431, 400), in the OpenAI shape.
  void respond_and_close(int status, const std::string& message) {
    const std::string body = nlohmann::json{
        {"error",
         {{"message", message},
          {"type", "invalid_request_error"},
          {"param", nullptr},
          {"code", status}}}}.dump();
    keep_alive_ = false;
    linger_ = true;
    responding_ = true;
    ++server_.responding;
    write(head(status,
               {{"Content-Type", "application/json"},
                {"Content-Length", std::to_string(body.size())}},
               false) +
              body,
          true);
  }

  // After an error answered mid-upload (413), the client may still be sending its body: stop
  // sending, then read and discard for a moment so it gets to read the answer instead of a
  // reset (a "lingering close").
  void linger_close() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    idle_.expires_after(std::chrono::seconds(2));
    idle_.async_wait([self = shared_from_this()](beast::error_code) { self->close(); });
    drain();
  }
  void drain() {
    socket_.async_read_some(net::buffer(drain_buf_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec || self->closed_) {
                                self->close();
                              } else {
                                self->drain();
                              }
                            });
  }

  // The client went away (or the socket failed): tell the current request, then close.
  void gone();
  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    idle_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  tcp::socket socket_;
  net::steady_timer idle_;
  HttpServer::Impl& server_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  struct Pending {
    Request request;
    bool keep_alive;
  };
  std::deque<Pending> pending_;
  std::deque<Write> writes_;
  // Weak: the handler owns its Reply (which keeps this session alive); a strong pointer here
  // would be a cycle.
  std::weak_ptr<Reply> current_;
  bool reading_ = false, writing_ = false, responding_ = false, closed_ = false;
  bool keep_alive_ = true;
  bool linger_ = false;
  std::array<char, 16384> drain_buf_;
};

class Session::Reply : public Responder, public std::enable_shared_from_this<Session::Reply> {
 public:
  Reply(std::shared_ptr<Session> session, bool keep_alive)
      : session_(std::move(session)), keep_alive_(keep_alive) {}
  // A handler that lets go of its Reply without finishing it still ends the response, so the
  // connection is never left waiting.
  ~Reply() override {
    if (answered_) return;
    if (streaming_) {
      post("0\r\n\r\n", true);
    } else {
      const std::string body =
          R"({"error": {"message": "the request was dropped unanswered", "type": )"
          R"("internal_error", "param": null, "code": 500}})";
      post(head(500,
                {{"Content-Type", "application/json"},
                 {"Content-Length", std::to_string(body.size())}},
                keep_alive_) +
               body,
           true);
    }
  }

  void send(int status, std::string content_type, std::string body, Headers extra) override {
    answered_ = true;
    extra.emplace_back("Content-Type", std::move(content_type));
    extra.emplace_back("Content-Length", std::to_string(body.size()));
    post(head(status, extra, keep_alive_) + body, true);
  }
  void start_events(Headers extra) override {
    streaming_ = true;
    extra.emplace_back("Content-Type", "text/event-stream");
    extra.emplace_back("Cache-Control", "no-cache");
    extra.emplace_back("Transfer-Encoding", "chunked");
    post(head(200, extra, keep_alive_), false);
  }
  void send_event(std::string data) override { post(chunk("data: " + data + "\n\n"), false); }
  void end_events() override {
    answered_ = true;
    post("0\r\n\r\n", true);
  }

  void on_disconnect(std::function<void()> f) override {
    net::dispatch(session_->socket_.get_executor(),
                  [self = shared_from_this(), f = std::move(f)]() mutable {
                    if (self->disconnected_) {
                      f();
                    } else {
                      self->on_gone_.push_back(std::move(f));
                    }
                  });
  }
  bool disconnected() const override { return disconnected_.load(); }

  // On the strand.
  void fire_disconnect() {
    if (disconnected_.exchange(true)) return;
    auto callbacks = std::move(on_gone_);
    for (auto& f : callbacks)
      f();
  }
  void mark_complete() { complete_ = true; }
  bool complete() const { return complete_; }

 private:
  void post(std::string bytes, bool ends_response) {
    net::dispatch(session_->socket_.get_executor(),
                  [s = session_, bytes = std::move(bytes), ends_response]() mutable {
                    s->write(std::move(bytes), ends_response);
                  });
  }

  std::shared_ptr<Session> session_;
  bool keep_alive_;
  std::atomic<bool> disconnected_{false};
  std::vector<std::function<void()>> on_gone_;
  bool complete_ = false;
  std::atomic<bool> answered_{false}, streaming_{false};
};

void Session::dispatch(Request r, bool keep_alive) {
  responding_ = true;
  ++server_.responding;
  keep_alive_ = keep_alive;
  idle_.cancel();
  auto reply = std::make_shared<Reply>(shared_from_this(), keep_alive);
  current_ = reply;
  // Keep one read outstanding: it notices a client that closes while we work.
  read_next();
  try {
    server_.handler(std::move(r), reply);
  } catch (const std::exception& e) {
    spdlog::error("http handler threw: {}", e.what());
    reply->send(500, "application/json",
                R"({"error": {"message": "internal error", "type": "internal_error", )"
                R"("param": null, "code": null}})",
                {});
  }
}

void Session::response_done() {
  if (auto c = current_.lock()) c->mark_complete();
  current_.reset();
  if (responding_) --server_.responding;
  responding_ = false;
  if (!keep_alive_) {
    if (linger_) {
      linger_close();
    } else {
      close();
    }
    return;
  }
  if (!pending_.empty()) {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    dispatch(std::move(p.request), p.keep_alive);
    return;
  }
  arm_idle_timer();
  read_next();
}

void Session::gone() {
  if (auto c = current_.lock()) c->fire_disconnect();
  current_.reset();
  if (responding_) --server_.responding;
  responding_ = false;
  close();
}

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // SSE chunks must leave at once
      std::make_shared<Session>(std::move(socket), *this)->start();
    }
    if (acceptor.is_open()) accept();
  });
}

HttpServer::HttpServer(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() {
  stop();
}

Result<int> HttpServer::start() {
  Impl& s = *impl_;
  beast::error_code ec;
  const auto address = net::ip::make_address(s.options.host, ec);
  if (ec) return invalid_argument("--host " + s.options.host + " is not an IP address");
  const tcp::endpoint ep(address, static_cast<unsigned short>(s.options.port));
  s.acceptor.open(ep.protocol(), ec);
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(ep, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return invalid_argument("cannot listen on " + s.options.host + ":" +
                            std::to_string(s.options.port) + ": " + ec.message());
  }
  const int port = s.acceptor.local_endpoint().port();
  s.work.emplace(s.ioc.get_executor());
  s.accept();
  for (int i = 0; i < std::max(1, s.options.io_threads); ++i)
    s.threads.emplace_back([&s] { s.ioc.run(); });
  s.started = true;
  return port;
}

void HttpServer::stop_accepting() {
  Impl& s = *impl_;
  net::post(s.acceptor.get_executor(), [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
  });
}

void HttpServer::stop() {
  Impl& s = *impl_;
  if (!s.started) return;
  s.started = false;
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.threads)
    t.join();
  s.threads.clear();
}

int64_t HttpServer::open_connections() const {
  return impl_->connections.load();
}

int64_t HttpServer::responses_in_progress() const {
  return impl_->responding.load();
}

}  // namespace sieve::http
