// DistributedLoop on one rank with an in-process communicator: a rank that does not answer
// makes health() and submit() say kUnavailable, and the rank's expert-parallel counters reach
// the snapshot. (Several real ranks: tests/e2e/sieve_mpi_test.cpp, tests/e2e/node/mpi.test.mjs.)
#include "engine/distributed_loop.h"
#include "engine/distributed/self_communicator.h"

#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "engine/backends/cpu_backend.h"
#include "engine/tests/counting_model.h"

namespace sieve {
namespace {

using namespace std::chrono_literals;

// One rank whose gather waits while held (a peer that hangs).
class LocalCommunicator final : public SelfCommunicator {
 public:
  Status gather(std::span<const uint8_t> mine, std::vector<std::vector<uint8_t>>* all,
                int root) override {
    std::unique_lock lock(mu_);
    released_.wait(lock, [this] { return !held_; });
    return SelfCommunicator::gather(mine, all, root);
  }

  void hold(bool held) {
    std::lock_guard lock(mu_);
    held_ = held;
    released_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable released_;
  bool held_ = false;
};

struct DistributedHarness {
  CpuBackend backend{1};
  CountingModel model;
  LocalCommunicator comm;
  ExpertParallelStats expert_parallel;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<DistributedLoop> loop;

  DistributedHarness() {
    EngineOptions o;
    o.num_kv_blocks = 64;
    o.block_size = 4;
    o.lockstep = true;
    engine = std::make_unique<Engine>(model, backend, o);
    expert_parallel.layers.resize(1);
    expert_parallel.layers[0] = {3, 3, 96, 96, 0.01, {2, 1}};
    DistributedLoopOptions d;
    d.heartbeat_s = 0.02;
    d.stuck_after_s = 0.1;
    d.expert_parallel = &expert_parallel;
    loop = std::make_unique<DistributedLoop>(*engine, comm, d);
  }
  Result<uint64_t> submit(std::promise<RequestOutput>* done) {
    GenerationRequest r;
    r.prompt_token_ids = {1, 2};
    r.params.temperature = 0;
    r.params.max_tokens = 2;
    r.params.ignore_eos = true;
    RequestSink sink;
    sink.on_finish = [done](RequestOutput&& o) { done->set_value(std::move(o)); };
    return loop->submit(std::move(r), std::move(sink));
  }
};

TEST(DistributedLoop, UnhealthyWhileARankDoesNotAnswer) {
  DistributedHarness h;
  EXPECT_TRUE(h.loop->health().ok());
  h.comm.hold(true);
  std::this_thread::sleep_for(400ms);  // a heartbeat, then longer than stuck_after
  const Status s = h.loop->health();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("ranks are not responding"), std::string::npos) << s.message();
  std::promise<RequestOutput> refused;
  const auto id = h.submit(&refused);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kUnavailable);

  h.comm.hold(false);
  for (int i = 0; i < 200 && !h.loop->health().ok(); ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(h.loop->health().ok());
  std::promise<RequestOutput> done;
  ASSERT_TRUE(h.submit(&done).ok());
  EXPECT_EQ(done.get_future().get().output_token_ids.size(), 2u);
}

TEST(DistributedLoop, StepsPublishTheRanksExpertParallelCounters) {
  DistributedHarness h;
  EXPECT_TRUE(h.loop->snapshot().ranks.empty());  // nothing stepped yet
  std::promise<RequestOutput> done;
  ASSERT_TRUE(h.submit(&done).ok());
  done.get_future().get();
  // The sinks are called before the step's snapshot is published.
  EngineSnapshot s = h.loop->snapshot();
  for (int i = 0; i < 200 && s.ranks.empty(); ++i) {
    std::this_thread::sleep_for(10ms);
    s = h.loop->snapshot();
  }
  ASSERT_EQ(s.ranks.size(), 1u);
  ASSERT_EQ(s.ranks[0].layers.size(), 1u);
  EXPECT_EQ(s.ranks[0].layers[0].rows_sent, 3);
  EXPECT_EQ(s.ranks[0].layers[0].expert_rows, (std::vector<int64_t>{2, 1}));
}

}  // namespace
}  // namespace sieve
