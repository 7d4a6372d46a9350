// Recording routing: one process writes its steps as they come; several ranks (threads here)
// sum every step and rank 0 alone writes; a bad path fails on every rank.
#include "engine/experts/routing_recorder.h"

#include <thread>

#include <gtest/gtest.h>

#include "tests/support/thread_communicator.h"

namespace sieve {
namespace {

RoutingTraceHeader header() {
  RoutingTraceHeader h;
  h.source = "test";
  h.num_layers = 2;
  h.num_experts = 3;
  h.top_k = 1;
  h.moe_layers = {0, 1};
  return h;
}

std::string temp_path(const char* name) {
  return std::string(::testing::TempDir()) + "/" + name;
}

TEST(RoutingRecorder, WritesEveryStepThatRanTokens) {
  const std::string path = temp_path("recorded.jsonl");
  auto r = RoutingRecorder::open(path, header());
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE((*r)->record({2, {{1, 1, 0}, {0, 0, 2}}}).ok());
  ASSERT_TRUE((*r)->record({0, {{0, 0, 0}, {0, 0, 0}}}).ok());  // an idle step: left out
  ASSERT_TRUE((*r)->record({1, {{0, 0, 1}, {1, 0, 0}}}).ok());
  EXPECT_EQ((*r)->steps_written(), 2);
  auto t = read_routing_trace(path);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->header.source, "test");
  ASSERT_EQ(t->steps.size(), 2u);
  EXPECT_EQ(t->steps[1].counts, (std::vector<std::vector<int32_t>>{{0, 0, 1}, {1, 0, 0}}));
  auto bad = RoutingRecorder::open("/nonexistent/dir/trace.jsonl", header());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("/nonexistent/dir/trace.jsonl"), std::string::npos);
}

TEST(RoutingRecorder, RanksSumTheirStepsAndRankZeroWrites) {
  const std::string path = temp_path("ranks.jsonl");
  auto group = std::make_shared<testing::ThreadGroup>(2);
  std::vector<int64_t> written(2, -1);
  auto rank = [&](int r) {
    testing::ThreadCommunicator comm(group, r);
    auto rec = RoutingRecorder::open(path, header(), &comm);
    ASSERT_TRUE(rec.ok()) << rec.status().message();
    // Rank 1 is idle in the second step: it still takes part in the sum.
    ASSERT_TRUE((*rec)
                    ->record(r == 0 ? RoutingStep{1, {{1, 0, 0}, {0, 1, 0}}}
                                    : RoutingStep{2, {{0, 1, 1}, {0, 2, 0}}})
                    .ok());
    ASSERT_TRUE((*rec)
                    ->record(r == 0 ? RoutingStep{1, {{0, 0, 1}, {0, 0, 1}}}
                                    : RoutingStep{0, {{0, 0, 0}, {0, 0, 0}}})
                    .ok());
    ASSERT_TRUE((*rec)->record(RoutingStep{0, {{0, 0, 0}, {0, 0, 0}}}).ok());  // all idle
    written[r] = (*rec)->steps_written();
  };
  std::thread t1(rank, 1);
  rank(0);
  t1.join();
  EXPECT_EQ(written[0], 2);
  EXPECT_EQ(written[1], 0);
  auto t = read_routing_trace(path);
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->steps.size(), 2u);
  EXPECT_EQ(t->steps[0].tokens, 3);
  EXPECT_EQ(t->steps[0].counts, (std::vector<std::vector<int32_t>>{{1, 1, 1}, {0, 3, 0}}));
  EXPECT_EQ(t->steps[1].tokens, 1);
}

TEST(RoutingRecorder, ABadPathFailsOnEveryRank) {
  auto group = std::make_shared<testing::ThreadGroup>(2);
  std::vector<bool> ok(2, true);
  auto rank = [&](int r) {
    testing::ThreadCommunicator comm(group, r);
    ok[r] = RoutingRecorder::open("/nonexistent/dir/trace.jsonl", header(), &comm).ok();
  };
  std::thread t1(rank, 1);
  rank(0);
  t1.join();
  EXPECT_FALSE(ok[0]);
  EXPECT_FALSE(ok[1]);
}

}  // namespace
}  // namespace sieve
