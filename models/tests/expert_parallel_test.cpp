// Expert parallelism in-process: N ranks as threads (tests/support/thread_communicator.h), each
// with its own CPU backend and only its experts, data-parallel attention (each rank runs its
// own prompts; a rank without any runs empty steps). Every rank's logits must equal the
// single-rank model's bit for bit, and greedy continuations must be the transformers goldens.
// The MPI communicator runs the same code across processes in the mpirun tests.
#include <gtest/gtest.h>

#include <thread>

#include "engine/distributed/self_communicator.h"
#include "engine/engine.h"
#include "models/tests/model_test_util.h"
#include "tests/support/fixtures.h"
#include "tests/support/thread_communicator.h"

namespace sieve::testing {
namespace {

struct Rank {
  std::unique_ptr<CpuBackend> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<Communicator> comm;
  ExpertShard shard;
};

// Loads the shards of `world` ranks (sequentially; the model keeps a copy of its shard).
std::vector<Rank> load_ranks(const std::string& family, int world, bool overlap) {
  auto dir = open_model_dir(fixture_path("models/" + family));
  EXPECT_TRUE(dir.ok()) << dir.status().to_string();
  auto group = std::make_shared<ThreadGroup>(world);
  std::vector<Rank> ranks(world);
  for (int r = 0; r < world; ++r) {
    Rank& k = ranks[r];
    k.backend = std::make_unique<CpuBackend>(1);
    // One rank: the single-process communicator (what bootstraps NCCL on one GPU).
    if (world == 1) {
      k.comm = std::make_unique<SelfCommunicator>();
    } else {
      k.comm = std::make_unique<ThreadCommunicator>(group, r);
    }
    k.shard.placement = ExpertPlacement::contiguous(dir->config.num_experts, world);
    k.shard.rank = r;
    k.shard.comm = k.comm.get();
    k.shard.overlap = overlap;
    auto m = load_model(*dir, *k.backend, DType::kF32, {}, &k.shard);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    if (m.ok()) k.model = std::move(m).value();
  }
  return ranks;
}

void run_ranks(int world, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back(body, r);
  for (auto& t : threads)
    t.join();
}

// (family, ranks, two micro-batches overlapped). One rank still exchanges through a
// communicator (SelfCommunicator).
class ExpertParallelTest : public ::testing::TestWithParam<std::tuple<std::string, int, bool>> {};

TEST_P(ExpertParallelTest, LogitsEqualTheSingleRankModel) {
  const auto& [family, world, overlap] = GetParam();
  LoadedModel single = load_fixture_model("models/" + family, DType::kF32, 1);
  ASSERT_TRUE(single.model);
  const nlohmann::json golden = read_json(fixture_path("models/" + family + "/golden.json"));
  const auto prompts = golden["prompts"].get<std::vector<std::vector<int32_t>>>();
  std::vector<Rank> ranks = load_ranks(family, world, overlap);
  for (const Rank& k : ranks)
    ASSERT_TRUE(k.model);

  // Rank r prefills prompt r (ranks past the prompts run empty steps), then decodes 3 tokens.
  auto chunks_of = [&](int r, int step) -> std::vector<SeqChunk> {
    if (r >= static_cast<int>(prompts.size())) return {};
    const auto& p = prompts[r];
    if (step == 0) return {{p, 0, 0, true}};
    return {{{static_cast<int32_t>(100 + step)}, static_cast<int64_t>(p.size()) + step - 1, 0}};
  };
  std::vector<std::vector<std::vector<std::vector<float>>>> got(world);  // [rank][step][row]
  run_ranks(world, [&](int r) {
    KvCache kv(*ranks[r].backend, ranks[r].model->kv_layout(), 16, 32);
    for (int step = 0; step < 4; ++step)
      got[r].push_back(run_step(*ranks[r].model, kv, chunks_of(r, step)));
  });
  for (int r = 0; r < world && r < static_cast<int>(prompts.size()); ++r) {
    KvCache kv(*single.backend, single.model->kv_layout(), 16, 32);
    for (int step = 0; step < 4; ++step) {
      const auto want = run_step(*single.model, kv, chunks_of(r, step));
      ASSERT_EQ(got[r][step].size(), want.size());
      for (size_t row = 0; row < want.size(); ++row) {
        EXPECT_EQ(got[r][step][row], want[row]) << "rank " << r << " step " << step;
      }
    }
  }
}

TEST_P(ExpertParallelTest, GreedyTokensAreTheGoldens) {
  const auto& [family, world, overlap] = GetParam();
  const nlohmann::json golden = read_json(fixture_path("models/" + family + "/golden.json"));
  const auto prompts = golden["prompts"].get<std::vector<std::vector<int32_t>>>();
  std::vector<Rank> ranks = load_ranks(family, world, overlap);
  std::vector<std::vector<int32_t>> out(prompts.size());
  run_ranks(world, [&](int r) {
    EngineOptions o;
    o.num_kv_blocks = 64;
    o.lockstep = true;
    Engine engine(*ranks[r].model, *ranks[r].backend, o);
    // Prompts dealt round-robin over the ranks (data-parallel attention).
    for (size_t i = r; i < prompts.size(); i += world) {
      GenerationRequest req;
      req.prompt_token_ids = prompts[i];
      req.params.temperature = 0;
      req.params.max_tokens = 16;
      req.params.ignore_eos = true;
      RequestSink sink;
      sink.on_finish = [&out, i](RequestOutput&& o) { out[i] = o.output_token_ids; };
      ASSERT_TRUE(engine.add_request(std::move(req), std::move(sink)).ok());
    }
    // Lockstep: every rank steps until no rank has work.
    for (;;) {
      int64_t busy[1] = {engine.has_unfinished() ? 1 : 0};
      ASSERT_TRUE(ranks[r].comm->all_reduce_sum(busy).ok());
      if (busy[0] == 0) break;
      engine.step();
    }
  });
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(out[i], golden["greedy"][i]["new_tokens"].get<std::vector<int32_t>>())
        << "prompt " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ExpertParallelTest,
                         ::testing::Combine(::testing::ValuesIn(supported_model_types()),
                                            ::testing::Values(1, 2, 3, 4), ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_ranks" +
                                  std::to_string(std::get<1>(info.param)) +
                                  (std::get<2>(info.param) ? "_overlap" : "");
                         });

}  // namespace
}  // namespace sieve::testing
