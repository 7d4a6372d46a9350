// The HTTP transport with a real socket client: keep-alive, pipelining, server-sent events
// from another thread, client disconnects noticed mid-response, size limits, bad requests.
#include "server/http_server.h"

#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace sieve::http {
namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

struct Client {
  net::io_context ioc;
  tcp::socket socket{ioc};
  boost::beast::flat_buffer buffer;

  explicit Client(int port) {
    socket.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  }
  void send_raw(const std::string& bytes) { net::write(socket, net::buffer(bytes)); }
  void send(const std::string& method, const std::string& target, const std::string& body = "") {
    bhttp::request<bhttp::string_body> req{method == "GET" ? bhttp::verb::get : bhttp::verb::post,
                                           target, 11};
    req.set(bhttp::field::host, "localhost");
    req.body() = body;
    req.prepare_payload();
    bhttp::write(socket, req);
  }
  bhttp::response<bhttp::string_body> read() {
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket, buffer, res);
    return res;
  }
};

// Echoes method, path and body; /slow answers from another thread after a delay; /events
// streams three events from another thread.
struct EchoServer {
  std::unique_ptr<HttpServer> server;
  int port = 0;
  std::promise<void> disconnected;
  std::vector<std::thread> workers;
  std::vector<std::shared_ptr<Responder>> held;

  explicit EchoServer(ServerOptions o = {}) {
    o.host = "127.0.0.1";
    o.port = 0;
    server = std::make_unique<HttpServer>(o, [this](Request r, std::shared_ptr<Responder> res) {
      if (r.path == "/events") {
        workers.emplace_back([res] {
          res->start_events();
          for (const char* e : {"one", "two", "three"})
            res->send_event(e);
          res->end_events();
        });
      } else if (r.path == "/hang") {
        res->on_disconnect([this] { disconnected.set_value(); });
        held.push_back(res);  // never answered
      } else if (r.path == "/dropped") {
        // The handler lets go of the responder without answering.
      } else if (r.path == "/slow") {
        workers.emplace_back([res, body = r.body] {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          res->send(200, "text/plain", "slow:" + body);
        });
      } else {
        res->send(200, "text/plain", r.method + " " + r.path + " q=" + r.query + " " + r.body,
                  {{"X-Test", "yes"}});
      }
    });
    auto p = server->start();
    EXPECT_TRUE(p.ok()) << p.status().message();
    port = *p;
  }
  ~EchoServer() {
    server->stop();
    for (auto& t : workers)
      t.join();
  }
};

TEST(HttpServer, AnswersManyRequestsOnOneConnection) {
  EchoServer s;
  Client c(s.port);
  for (int i = 0; i < 3; ++i) {
    c.send("POST", "/echo?x=" + std::to_string(i), "body" + std::to_string(i));
    auto res = c.read();
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "POST /echo q=x=" + std::to_string(i) + " body" + std::to_string(i));
    EXPECT_EQ(res["X-Test"], "yes");
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST(HttpServer, ServesPipelinedRequestsInOrder) {
  EchoServer s;
  Client c(s.port);
  c.send("POST", "/slow", "a");
  c.send("GET", "/fast");
  EXPECT_EQ(c.read().body(), "slow:a");
  EXPECT_EQ(c.read().body(), "GET /fast q= ");
}

TEST(HttpServer, StreamsServerSentEventsFromAnotherThread) {
  EchoServer s;
  Client c(s.port);
  c.send("GET", "/events");
  auto res = c.read();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[bhttp::field::content_type], "text/event-stream");
  EXPECT_EQ(res.body(), "data: one\n\ndata: two\n\ndata: three\n\n");
  c.send("GET", "/after");  // the connection is still usable
  EXPECT_EQ(c.read().body(), "GET /after q= ");
}

TEST(HttpServer, NoticesAClientThatLeavesMidRequest) {
  EchoServer s;
  auto gone = s.disconnected.get_future();
  {
    Client c(s.port);
    c.send("GET", "/hang");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }  // closes the socket
  EXPECT_EQ(gone.wait_for(std::chrono::seconds(5)), std::future_status::ready);
}

TEST(HttpServer, RefusesOversizedBodiesAndMalformedRequests) {
  ServerOptions o;
  o.max_body_bytes = 1000;
  EchoServer s(o);
  {
    Client c(s.port);
    c.send("POST", "/echo", std::string(5000, 'x'));
    auto res = c.read();
    EXPECT_EQ(res.result_int(), 413);
    EXPECT_NE(res.body().find("1000 bytes"), std::string::npos);
  }
  {
    Client c(s.port);
    c.send_raw("THIS IS NOT HTTP\r\n\r\n");
    auto res = c.read();
    EXPECT_EQ(res.result_int(), 400);
  }
  Client ok(s.port);  // the server still serves
  ok.send("GET", "/x");
  EXPECT_EQ(ok.read().result_int(), 200);
}

TEST(HttpServer, ARequestDroppedUnansweredGetsA500) {
  EchoServer s;
  Client c(s.port);
  c.send("GET", "/dropped");
  auto res = c.read();
  EXPECT_EQ(res.result_int(), 500);
  c.send("GET", "/after");  // and the connection still works
  EXPECT_EQ(c.read().body(), "GET /after q= ");
}

TEST(HttpServer, ClosesIdleConnections) {
  ServerOptions o;
  o.idle_timeout = std::chrono::seconds(1);
  EchoServer s(o);
  Client c(s.port);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  char byte;
  boost::system::error_code ec;
  c.socket.read_some(net::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
}

}  // namespace
}  // namespace sieve::http
