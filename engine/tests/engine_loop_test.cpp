// The engine on its own thread: concurrent submitters, aborts, the in-flight bound, and
// shutdown that lets running requests finish within a grace period.
#include "engine/engine_loop.h"

#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "engine/backends/cpu_backend.h"
#include "engine/tests/counting_model.h"

namespace sieve {
namespace {

struct LoopHarness {
  CpuBackend backend{1};
  CountingModel model;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<EngineLoop> loop;
  std::mutex mu;
  std::map<uint64_t, RequestOutput> done;

  explicit LoopHarness(int64_t max_queued = 4096, std::chrono::microseconds delay = {}) {
    model.step_delay = delay;
    EngineOptions o;
    o.num_kv_blocks = 64;
    o.block_size = 4;
    engine = std::make_unique<Engine>(model, backend, o);
    loop = std::make_unique<EngineLoop>(*engine, max_queued);
  }
  // Submits and returns a future that holds the output once the request finishes.
  std::pair<Result<uint64_t>, std::shared_future<RequestOutput>> submit(std::vector<int32_t> prompt,
                                                                        int64_t max_tokens) {
    auto promise = std::make_shared<std::promise<RequestOutput>>();
    GenerationRequest r;
    r.prompt_token_ids = std::move(prompt);
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    RequestSink sink;
    sink.on_finish = [promise](RequestOutput&& o) { promise->set_value(std::move(o)); };
    auto id = loop->submit(std::move(r), std::move(sink));
    return {std::move(id), promise->get_future().share()};
  }
};

TEST(EngineLoop, ConcurrentSubmittersAllGetTheirOwnResults) {
  LoopHarness h;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<std::pair<int32_t, std::shared_future<RequestOutput>>> futures;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const int32_t first = static_cast<int32_t>((t * 25 + i) % 15 + 1);
        auto [id, fut] = h.submit({first}, 3);
        ASSERT_TRUE(id.ok());
        std::lock_guard l(mu);
        futures.emplace_back(first, fut);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  ASSERT_EQ(futures.size(), 100u);
  for (auto& [first, fut] : futures) {
    const RequestOutput& out = fut.get();
    EXPECT_EQ(out.output_token_ids,
              (std::vector<int32_t>{(first + 1) % 16, (first + 2) % 16, (first + 3) % 16}));
  }
  h.loop->stop(std::chrono::milliseconds(1000));
  const EngineSnapshot snap = h.loop->snapshot();
  EXPECT_EQ(snap.stats.generated_tokens, 300);
  EXPECT_EQ(snap.kv_blocks_free, snap.kv_blocks_total);
}

TEST(EngineLoop, RefusesInvalidRequestsAtOnceAndAbortsOnRequest) {
  LoopHarness h(4096, std::chrono::microseconds(500));
  auto [bad, unused] = h.submit({}, 3);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  auto [id, fut] = h.submit({1}, 60);
  ASSERT_TRUE(id.ok());
  h.loop->abort(*id);
  EXPECT_EQ(fut.get().finish_reason, "abort");
  EXPECT_LT(fut.get().output_token_ids.size(), 60u);
}

TEST(EngineLoop, BoundsRequestsInFlight) {
  LoopHarness h(/*max_queued=*/2, std::chrono::microseconds(500));
  auto a = h.submit({1}, 20);
  auto b = h.submit({2}, 20);
  auto c = h.submit({3}, 20);
  ASSERT_TRUE(a.first.ok());
  ASSERT_TRUE(b.first.ok());
  EXPECT_EQ(c.first.status().code(), StatusCode::kResourceExhausted);
  a.second.get();
  b.second.get();
  // Finished requests free their places.
  auto d = h.submit({4}, 2);
  EXPECT_TRUE(d.first.ok());
  d.second.get();
}

TEST(EngineLoop, StopLetsRunningRequestsFinishWithinTheGrace) {
  LoopHarness h(4096, std::chrono::microseconds(200));
  std::vector<std::shared_future<RequestOutput>> futs;
  for (int i = 0; i < 8; ++i)
    futs.push_back(h.submit({static_cast<int32_t>(i + 1)}, 30).second);
  h.loop->stop(std::chrono::milliseconds(10000));
  for (auto& f : futs) {
    EXPECT_EQ(f.get().finish_reason, "length");
    EXPECT_EQ(f.get().output_token_ids.size(), 30u);
  }
  auto [late, unused] = h.submit({1}, 2);
  EXPECT_EQ(late.status().code(), StatusCode::kUnavailable);
}

TEST(EngineLoop, StopWithoutGraceAbortsWhatIsLeft) {
  LoopHarness h(4096, std::chrono::microseconds(2000));
  auto [id, fut] = h.submit({1}, 60);
  ASSERT_TRUE(id.ok());
  h.loop->stop(std::chrono::milliseconds(0));
  EXPECT_EQ(fut.get().finish_reason, "abort");
}

}  // namespace
}  // namespace sieve
