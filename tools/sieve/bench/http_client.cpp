#include "tools/sieve/bench/http_client.h"

#include <chrono>
#include <cstdint>
#include <limits>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace sieve::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

std::string kind_of(const beast::error_code& ec, bool connected) {
  if (ec == beast::error::timeout) return "timeout";
  return connected ? "io" : "connect";
}

// Connects a stream to the endpoint; false with `error` filled when it cannot.
bool connect(asio::io_context& ioc, beast::tcp_stream& stream, const Endpoint& ep, double timeout_s,
             TransportError& error) {
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto results = resolver.resolve(ep.host, ep.port, ec);
  if (ec) {
    error = {"connect", "cannot resolve " + ep.host + ": " + ec.message()};
    return false;
  }
  stream.expires_after(seconds(timeout_s));
  stream.connect(results, ec);
  if (ec) {
    error = {kind_of(ec, false),
             "cannot connect to " + ep.host + ":" + ep.port + ": " + ec.message()};
    return false;
  }
  stream.socket().set_option(tcp::no_delay(true));
  return true;
}

}  // namespace

Result<Endpoint> parse_base_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind("https://", 0) == 0) {
    return invalid_argument("--base-url: https is not supported, use http://");
  }
  if (url.rfind(scheme, 0) != 0) {
    return invalid_argument("--base-url must look like http://HOST:PORT, got '" + url + "'");
  }
  std::string rest = url.substr(scheme.size());
  Endpoint ep;
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    ep.base_path = rest.substr(slash);
    rest = rest.substr(0, slash);
    while (!ep.base_path.empty() && ep.base_path.back() == '/')
      ep.base_path.pop_back();
  }
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    ep.host = rest;
    ep.port = "80";
  } else {
    ep.host = rest.substr(0, colon);
    ep.port = rest.substr(colon + 1);
  }
  if (ep.host.empty() || ep.port.empty() ||
      ep.port.find_first_not_of("0123456789") != std::string::npos) {
    return invalid_argument("--base-url must look like http://HOST:PORT, got '" + url + "'");
  }
  return ep;
}

namespace {

template <class Request>
void set_auth(Request& req, const Endpoint& ep) {
  if (!ep.api_key.empty()) req.set(bhttp::field::authorization, "Bearer " + ep.api_key);
}

}  // namespace

Result<HttpResponse> http_get(const Endpoint& ep, const std::string& target, double timeout_s) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  TransportError error;
  if (!connect(ioc, stream, ep, timeout_s, error)) return unavailable(error.message);
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, ep.base_path + target, 11};
  req.set(bhttp::field::host, ep.host);
  req.set(bhttp::field::user_agent, "sieve-bench");
  set_auth(req, ep);
  beast::error_code ec;
  bhttp::write(stream, req, ec);
  beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  if (!ec) bhttp::read(stream, buf, res, ec);
  if (ec) return unavailable("GET " + target + ": " + ec.message());
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return HttpResponse{static_cast<int>(res.result_int()), std::move(res.body())};
}

HttpResponse http_post_sse(const Endpoint& ep, const SseRequest& sse, TransportError& error) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  if (!connect(ioc, stream, ep, sse.timeout_s, error)) return {};
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, ep.base_path + sse.target, 11};
  req.set(bhttp::field::host, ep.host);
  req.set(bhttp::field::user_agent, "sieve-bench");
  req.set(bhttp::field::content_type, "application/json");
  req.set(bhttp::field::accept, "text/event-stream");
  set_auth(req, ep);
  req.body() = sse.body;
  req.prepare_payload();
  beast::error_code ec;
  bhttp::write(stream, req, ec);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::buffer_body> parser;
  // Unlimited, but not boost::none: Boost 1.74 compares a Content-Length against an empty
  // optional limit as if it were exceeded.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (!ec) bhttp::read_header(stream, buf, parser, ec);
  if (ec) {
    error = {kind_of(ec, true), "POST " + sse.target + ": " + ec.message()};
    return {};
  }
  HttpResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  std::string pending;  // bytes of an event not yet complete
  char chunk[16384];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    // read_some returns as soon as some of the body has arrived, so chunks are timed when
    // they come, not when the buffer fills.
    bhttp::read_some(stream, buf, parser, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      error = {kind_of(ec, true), "reading the stream of " + sse.target + ": " + ec.message()};
      out.status = 0;
      return out;
    }
    const size_t n = sizeof chunk - parser.get().body().size;
    if (out.status != 200) {
      out.body.append(chunk, n);
      continue;
    }
    pending.append(chunk, n);
    // Events end with a blank line; each `data:` line is one payload.
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      std::string_view event(pending.data(), end);
      size_t pos = 0;
      while (pos <= event.size()) {
        size_t eol = event.find('\n', pos);
        if (eol == std::string_view::npos) eol = event.size();
        std::string_view line = event.substr(pos, eol - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.rfind("data:", 0) == 0) {
          line.remove_prefix(5);
          if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
          if (sse.on_event) sse.on_event(line);
        }
        pos = eol + 1;
      }
      pending.erase(0, end + 2);
    }
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

}  // namespace sieve::bench
