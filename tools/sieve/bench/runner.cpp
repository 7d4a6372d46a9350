#include "tools/sieve/bench/runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "tools/sieve/progress_bar.h"

namespace sieve::bench {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Beyond this many threads, requests wait for one to be free even without --max-concurrency.
constexpr int kMaxThreads = 512;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string request_body(const RequestOptions& ro, const WorkItem& item) {
  json body = {{"max_tokens", item.output_len},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}},
               {"ignore_eos", true}};
  if (!ro.model.empty()) body["model"] = ro.model;
  body[item.chat ? "messages" : "prompt"] = item.prompt;
  if (ro.return_token_ids) body["return_token_ids"] = true;
  return body.dump();
}

// Folds one SSE payload into the result; false when the stream reports an error.
bool on_chunk(std::string_view data, Clock::time_point t0, double& last_token_s, bool& done,
              RequestResult& r) {
  if (data == "[DONE]") {
    done = true;
    return true;
  }
  json chunk = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!chunk.is_object()) {
    r.error_kind = "bad_stream";
    r.error_message = "a stream chunk is not JSON: " + std::string(data.substr(0, 200));
    return false;
  }
  if (chunk.contains("error")) {
    r.error_kind = "stream_error";
    r.error_message = chunk["error"].dump();
    return false;
  }
  if (chunk.contains("usage") && chunk["usage"].is_object()) {
    const json& u = chunk["usage"];
    r.has_usage = true;
    r.prompt_tokens = u.value("prompt_tokens", int64_t{0});
    r.completion_tokens = u.value("completion_tokens", int64_t{0});
  }
  bool tokens = false;
  if (chunk.contains("choices") && chunk["choices"].is_array()) {
    for (const json& c : chunk["choices"]) {
      if (c.contains("token_ids") && c["token_ids"].is_array()) {
        r.stream_counted = true;
        r.stream_tokens += static_cast<int64_t>(c["token_ids"].size());
        tokens = tokens || !c["token_ids"].empty();
      }
      const json* text = nullptr;
      if (c.contains("text")) text = &c["text"];
      if (c.contains("delta") && c["delta"].is_object() && c["delta"].contains("content")) {
        text = &c["delta"]["content"];
      }
      if (text && text->is_string() && !text->get_ref<const std::string&>().empty()) {
        tokens = true;
      }
    }
  }
  if (tokens) {
    const double now = since(t0);
    if (r.ttft_s == 0) {
      r.ttft_s = now;
    } else {
      r.itl_s.push_back(now - last_token_s);
    }
    last_token_s = now;
  }
  return true;
}

}  // namespace

RequestResult send_request(const Endpoint& ep, const RequestOptions& ro, const WorkItem& item) {
  RequestResult r;
  const Clock::time_point t0 = Clock::now();
  double last_token_s = 0;
  bool done = false;
  bool failed = false;
  SseRequest sse;
  sse.target = item.chat ? "/v1/chat/completions" : "/v1/completions";
  sse.body = request_body(ro, item);
  sse.timeout_s = ro.timeout_s;
  sse.on_event = [&](std::string_view data) {
    if (!failed && !on_chunk(data, t0, last_token_s, done, r)) failed = true;
  };
  TransportError terr;
  HttpResponse res = http_post_sse(ep, sse, terr);
  r.e2e_s = since(t0);
  if (res.status == 0) {
    r.error_kind = terr.kind;
    r.error_message = terr.message;
  } else if (res.status != 200) {
    r.error_kind = "http_" + std::to_string(res.status);
    r.error_message = res.body.substr(0, 500);
  } else if (failed) {
    // error_kind/message set by on_chunk
  } else if (!done) {
    r.error_kind = "incomplete_stream";
    r.error_message = "the stream ended without [DONE]";
  } else if (r.ttft_s == 0) {
    r.error_kind = "no_tokens";
    r.error_message = "the stream carried no output";
  } else {
    r.ok = true;
  }
  return r;
}

ArrivalClock::ArrivalClock(const LoadOptions& lo)
    : rate_(lo.request_rate), poisson_(lo.poisson), rng_(lo.seed) {}

double ArrivalClock::next() {
  const double t = now_;  // the first request goes at once
  if (std::isfinite(rate_) && rate_ > 0) {
    now_ += poisson_ ? std::exponential_distribution<double>(rate_)(rng_) : 1.0 / rate_;
  }
  return t;
}

std::vector<double> arrival_times(const LoadOptions& lo, int n) {
  ArrivalClock clock(lo);
  std::vector<double> t(n);
  for (double& v : t)
    v = clock.next();
  return t;
}

LoadResult run_load(const Endpoint& ep, const RequestOptions& ro,
                    const std::vector<WorkItem>& items, const LoadOptions& lo,
                    const std::atomic<bool>& stop) {
  const int n = static_cast<int>(items.size());
  const bool timed = lo.duration_s > 0;
  const int workers =
      std::max(1, std::min({timed ? kMaxThreads : n,
                            lo.max_concurrency > 0 ? lo.max_concurrency : kMaxThreads}));

  LoadResult out;
  std::deque<RequestResult> results;  // one per request handed to a worker; stable addresses
  std::mutex mu;
  std::condition_variable work_cv;  // workers wait for requests
  std::condition_variable free_cv;  // the dispatcher waits for a free worker
  std::deque<int64_t> queue;        // request numbers; request i sends items[i % n]
  int idle = 0;
  bool dispatch_done = false;
  std::atomic<int64_t> finished{0}, completed_tokens{0};

  const Clock::time_point t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (;;) {
        int64_t i;
        RequestResult* slot;
        {
          std::unique_lock<std::mutex> lock(mu);
          ++idle;
          free_cv.notify_one();
          work_cv.wait(lock, [&] { return !queue.empty() || dispatch_done; });
          --idle;
          if (queue.empty() || stop.load()) return;
          i = queue.front();
          queue.pop_front();
          slot = &results.emplace_back();
        }
        *slot = send_request(ep, ro, items[i % n]);
        completed_tokens += slot->has_usage ? slot->completion_tokens : slot->stream_tokens;
        ++finished;
      }
    });
  }

  std::thread progress([&] {
    // With --duration the bar counts seconds, otherwise requests.
    ProgressBar bar(lo.label, timed ? static_cast<int64_t>(std::ceil(lo.duration_s)) : n);
    for (;;) {
      const double s = since(t0);
      char detail[64];
      std::snprintf(detail, sizeof detail, "%lld done, %.1f tok/s",
                    static_cast<long long>(finished.load()),
                    s > 0 ? static_cast<double>(completed_tokens.load()) / s : 0.0);
      bool all;
      {
        std::lock_guard<std::mutex> lock(mu);
        all = dispatch_done && queue.empty() &&
              finished.load() == static_cast<int64_t>(results.size());
      }
      if (all) {
        bar.finish(detail);
        return;
      }
      bar.update(timed ? std::min<int64_t>(static_cast<int64_t>(s), std::ceil(lo.duration_s))
                       : finished.load(),
                 detail);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  ArrivalClock clock(lo);
  for (int64_t i = 0; timed || i < n; ++i) {
    const double arrival = clock.next();
    if (timed && arrival >= lo.duration_s) break;
    const Clock::time_point at =
        t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(arrival));
    while (Clock::now() < at && !stop.load())
      std::this_thread::sleep_for(
          std::min<Clock::duration>(at - Clock::now(), std::chrono::milliseconds(50)));
    std::unique_lock<std::mutex> lock(mu);
    if (timed) {
      // Hand out a request only when a worker is free, so a closed loop does not pile up.
      while (idle <= static_cast<int>(queue.size()) && !stop.load() && since(t0) < lo.duration_s)
        free_cv.wait_for(lock, std::chrono::milliseconds(50));
      if (since(t0) >= lo.duration_s) break;
    }
    if (stop.load()) {
      out.interrupted = true;
      break;
    }
    queue.push_back(i);
    work_cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stop.load()) {
      out.interrupted = out.interrupted || !queue.empty();
      queue.clear();
    }
    dispatch_done = true;
  }
  work_cv.notify_all();
  for (std::thread& t : pool)
    t.join();
  out.duration_s = since(t0);
  progress.join();
  out.results.assign(std::make_move_iterator(results.begin()),
                     std::make_move_iterator(results.end()));
  return out;
}

}  // namespace sieve::bench
