// The MoE executors against each other: the expert-parallel executor (ranks as threads, each
// holding only its experts, each with tokens of its own) gives every rank exactly the bits the
// local executor gives with all experts in one process, with and without overlapped
// micro-batches, and a rank without tokens still takes part. make_moe_executor checks a shard
// before anything runs.
#include "engine/experts/moe_executor.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "engine/backends/cpu_backend.h"
#include "engine/distributed/self_communicator.h"
#include "engine/experts/expert_parallel_moe.h"
#include "tests/support/thread_communicator.h"

namespace sieve {
namespace {

constexpr int64_t kExperts = 7, kHidden = 32, kInter = 24, kTopK = 3;

// Expert e's weights on `be`: the same values on every backend (fills keyed by expert).
void add_expert(Backend& be, int64_t e, ExpertWeights& w) {
  const auto fill = [e](int64_t part) {
    WeightFill f;
    f.key = weight_fill_key(11, static_cast<uint64_t>(3 * e + part));
    f.bound = 0.2f;
    return f;
  };
  const RowBlockFill gate_up[] = {{kInter, fill(0)}, {kInter, fill(1)}};
  const RowBlockFill down[] = {{kHidden, fill(2)}};
  w.gate_up.push_back(be.make_filled_matrix(2 * kInter, kHidden, gate_up, DType::kF32));
  w.down.push_back(be.make_filled_matrix(kHidden, kInter, down, DType::kF32));
}

// One rank's tokens: activations and the router's choices (distinct experts per token, weights
// summing to 1), all a pure function of (rank, tokens).
struct Tokens {
  int64_t count = 0;
  std::vector<float> x;        // [count, hidden]
  std::vector<int32_t> ids;    // [count, top_k]
  std::vector<float> weights;  // [count, top_k]
};

Tokens make_tokens(int rank, int64_t count) {
  Tokens t;
  t.count = count;
  for (int64_t i = 0; i < count * kHidden; ++i) {
    WeightFill f;
    f.key = weight_fill_key(100 + rank, 0);
    f.bound = 1.0f;
    t.x.push_back(weight_fill_at(f, static_cast<uint64_t>(i)));
  }
  for (int64_t i = 0; i < count; ++i) {
    float sum = 0;
    for (int64_t j = 0; j < kTopK; ++j) {
      t.ids.push_back(static_cast<int32_t>((i * 5 + rank * 3 + j * 2) % kExperts));
      t.weights.push_back(1.0f + static_cast<float>((i + j + rank) % 4));
      sum += t.weights.back();
    }
    for (int64_t j = 0; j < kTopK; ++j)
      t.weights[i * kTopK + j] /= sum;
  }
  return t;
}

// out [count, hidden] of `executor` on `tokens`, with `experts` this process's experts.
std::vector<float> run(Backend& be, MoeExecutor& executor, const ExpertWeights& experts,
                       const Tokens& tokens, int64_t layer) {
  Tensor x = be.alloc({tokens.count, kHidden}, DType::kF32);
  Tensor ids = be.alloc({tokens.count, kTopK}, DType::kI32);
  Tensor w = be.alloc({tokens.count, kTopK}, DType::kF32);
  Tensor out = be.alloc({tokens.count, kHidden}, DType::kF32);
  be.copy_from_host(tokens.x.data(), x);
  be.copy_from_host(tokens.ids.data(), ids);
  be.copy_from_host(tokens.weights.data(), w);
  MoeArgs m;
  m.x = &x;
  m.topk_ids = &ids;
  m.topk_weights = &w;
  m.experts = &experts;
  m.out = &out;
  executor.run(m, layer);
  std::vector<float> host(static_cast<size_t>(tokens.count * kHidden));
  if (!host.empty()) be.copy_to_host(out, host.data());
  return host;
}

TEST(MoeExecutor, LocalHoldsEveryExpert) {
  CpuBackend be(1);
  LocalMoeExecutor local(be);
  for (int64_t e = 0; e < kExperts; ++e)
    EXPECT_TRUE(local.holds(e));
}

class ExpertParallelExecutor : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(ExpertParallelExecutor, GivesTheLocalExecutorsBits) {
  const auto [world, overlap] = GetParam();
  // Rank r brings 5 + 3r tokens, except the last rank of a group of 3 or more, which has none.
  auto count_of = [world = world](int r) -> int64_t {
    return world >= 3 && r == world - 1 ? 0 : 5 + 3 * r;
  };
  CpuBackend whole_be(1);
  ExpertWeights whole;
  for (int64_t e = 0; e < kExperts; ++e)
    add_expert(whole_be, e, whole);
  LocalMoeExecutor local(whole_be);

  const ExpertPlacement placement = ExpertPlacement::contiguous(kExperts, world);
  auto group = std::make_shared<testing::ThreadGroup>(world);
  std::vector<std::vector<std::vector<float>>> got(world);  // [rank][layer]
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      CpuBackend be(1);
      std::unique_ptr<Communicator> comm;
      if (world == 1) {
        comm = std::make_unique<SelfCommunicator>();
      } else {
        comm = std::make_unique<testing::ThreadCommunicator>(group, r);
      }
      ExpertShard shard;
      shard.placement = placement;
      shard.rank = r;
      shard.comm = comm.get();
      shard.overlap = overlap;
      auto executor = make_moe_executor(be, &shard, kExperts, /*num_layers=*/2);
      ASSERT_TRUE(executor.ok()) << executor.status().to_string();
      ExpertWeights mine;
      for (int64_t e = 0; e < kExperts; ++e) {
        EXPECT_EQ((*executor)->holds(e), placement.owner[e] == r);
        if ((*executor)->holds(e)) add_expert(be, e, mine);
      }
      // Two layers, as a model would call it: every rank, every layer.
      for (int64_t layer = 0; layer < 2; ++layer)
        got[r].push_back(run(be, **executor, mine, make_tokens(r, count_of(r)), layer));
    });
  }
  for (std::thread& t : threads)
    t.join();
  for (int r = 0; r < world; ++r) {
    const std::vector<float> want = run(whole_be, local, whole, make_tokens(r, count_of(r)), 0);
    ASSERT_EQ(got[r].size(), 2u);
    for (const std::vector<float>& layer : got[r])
      EXPECT_EQ(layer, want) << "rank " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, ExpertParallelExecutor,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4), ::testing::Bool()),
                         [](const auto& info) {
                           return "ranks" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_overlap" : "");
                         });

TEST(MoeExecutor, ShardsAreCheckedBeforeAnythingRuns) {
  CpuBackend be(1);
  auto local = make_moe_executor(be, nullptr, kExperts, 1);
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE((*local)->holds(kExperts - 1));

  ExpertShard shard;
  shard.placement = ExpertPlacement::contiguous(kExperts, 1);
  auto no_comm = make_moe_executor(be, &shard, kExperts, 1);
  ASSERT_FALSE(no_comm.ok());
  EXPECT_NE(no_comm.status().message().find("communicator"), std::string::npos);

  SelfCommunicator self;
  shard.comm = &self;
  auto wrong = make_moe_executor(be, &shard, kExperts + 1, 1);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("expert placement is for 7 experts; the model has 8"),
            std::string::npos)
      << wrong.status().message();
}

}  // namespace
}  // namespace sieve
