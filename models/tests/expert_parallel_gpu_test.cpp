// Expert parallelism on the CUDA backend through the NCCL communicator, on the one GPU a test
// machine has: a single rank (NCCL bootstrapped without MPI) whose MoE layers still plan,
// gather, exchange (NCCL send/receive to itself), run and combine exactly as with N ranks. Logits
// must match the same model without expert parallelism, and greedy continuations the transformers
// goldens; with and without the two-micro-batch overlap. Exits 77 ("Not Run") without a device.
// Multi-GPU runs are launched with `mpirun -np N sieve serve --backend cuda --expert-parallel-size
// N` (README).
#include <gtest/gtest.h>

#include "engine/distributed/nccl_communicator.h"
#include "engine/distributed/self_communicator.h"
#include "models/tests/model_test_util.h"
#include "tests/support/fixtures.h"

namespace sieve::testing {
namespace {

// One rank, bootstrapped without MPI (no mpirun or Open MPI runtime needed on the GPU machine).
std::unique_ptr<NcclCommunicator> make_nccl() {
  auto comm = NcclCommunicator::create(std::make_unique<SelfCommunicator>(), 60.0);
  SIEVE_CHECK_MSG(comm.ok(), comm.status().to_string());
  return std::move(comm).value();
}

class ExpertParallelGpuTest : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(ExpertParallelGpuTest, OneRankThroughNcclMatchesThePlainModel) {
  const auto& [family, overlap] = GetParam();
  auto comm = make_nccl();
  LoadedModel plain = load_fixture_model("models/" + family, DType::kF32);
  ASSERT_TRUE(plain.model);
  auto backend = make_test_backend();
  ASSERT_EQ(backend->device(), Device::kCuda);
  ExpertShard shard;
  shard.placement = ExpertPlacement::contiguous(plain.dir.config.num_experts, 1);
  shard.comm = comm.get();
  shard.overlap = overlap;
  ExpertParallelStats stats;
  shard.stats = &stats;
  auto ep = load_model(plain.dir, *backend, DType::kF32, {}, &shard);
  ASSERT_TRUE(ep.ok()) << ep.status().to_string();

  const nlohmann::json golden = read_json(fixture_path("models/" + family + "/golden.json"));
  const auto prompts = golden["prompts"].get<std::vector<std::vector<int32_t>>>();
  // All prompts prefilled in one step (all positions' logits), then two decode steps.
  std::vector<SeqChunk> prefill;
  int64_t block = 0;
  for (const auto& p : prompts) {
    prefill.push_back({p, 0, block, true});
    block += 8;
  }
  KvCache kv_plain(*plain.backend, plain.model->kv_layout(), 16, 8 * prompts.size());
  KvCache kv_ep(*backend, (*ep)->kv_layout(), 16, 8 * prompts.size());
  std::vector<std::vector<SeqChunk>> steps = {prefill};
  for (int s = 0; s < 2; ++s) {
    std::vector<SeqChunk> decode;
    for (size_t i = 0; i < prompts.size(); ++i) {
      decode.push_back({{static_cast<int32_t>(200 + s)},
                        static_cast<int64_t>(prompts[i].size()) + s,
                        static_cast<int64_t>(8 * i)});
    }
    steps.push_back(decode);
  }
  for (size_t s = 0; s < steps.size(); ++s) {
    const auto want = run_step(*plain.model, kv_plain, steps[s]);
    const auto got = run_step(**ep, kv_ep, steps[s]);
    ASSERT_EQ(got.size(), want.size());
    for (size_t r = 0; r < want.size(); ++r)
      EXPECT_LE(max_abs_diff(got[r], want[r]), 1e-5f) << "step " << s << " row " << r;
  }
  ASSERT_FALSE(stats.layers.empty());
  int64_t sent = 0, received = 0;
  for (const auto& l : stats.layers) {
    sent += l.rows_sent;
    received += l.rows_received;
  }
  EXPECT_GT(sent, 0);
  EXPECT_EQ(sent, received);  // one rank: everything goes to itself

  EngineOptions o;
  o.num_kv_blocks = 64;
  Engine engine(**ep, *backend, o);
  const auto out = greedy_on(engine, prompts);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(out[i], golden["greedy"][i]["new_tokens"].get<std::vector<int32_t>>())
        << "prompt " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ExpertParallelGpuTest,
                         ::testing::Combine(::testing::ValuesIn(supported_model_types()),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param) +
                                  (std::get<1>(info.param) ? "_overlap" : "");
                         });

}  // namespace
}  // namespace sieve::testing
