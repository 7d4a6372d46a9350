// --load-format dummy: a model made from config.json alone equals, bit for bit, the model loaded
// from the random checkpoint `sieve make-checkpoint` writes for the same config (seed 0), for
// every family and weight dtype — so dummy benchmarks run the very weights a checkpoint would.
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "models/random_checkpoint.h"
#include "models/registry.h"
#include "models/tests/model_test_util.h"
#include "tests/support/fixtures.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;

std::vector<std::vector<float>> logits_of(const std::string& dir, LoadFormat format, DType dtype,
                                          int64_t* weight_bytes) {
  auto md = open_model_dir(dir, format);
  EXPECT_TRUE(md.ok()) << md.status().to_string();
  if (!md.ok()) return {};
  EXPECT_EQ(md->checkpoint == nullptr, format == LoadFormat::kDummy);
  auto backend_ptr = testing::make_test_backend();
  Backend& backend = *backend_ptr;
  uint64_t last_done = 0, total = 0;
  LoadProgress progress;
  progress.on_progress = [&](uint64_t done, uint64_t t) {
    EXPECT_GE(done, last_done);
    last_done = done;
    total = t;
  };
  auto model = load_model(*md, backend, dtype, progress);
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  if (!model.ok()) return {};
  EXPECT_EQ(last_done, total) << "progress reaches its total";
  *weight_bytes = (*model)->weight_bytes();
  KvCache kv(backend, (*model)->kv_layout(), 16, 8);
  // Two sequences in one step, every logit row: embedding, attention, routing and lm_head all
  // show up in the comparison.
  return testing::run_step(**model, kv,
                           {{{1, 5, 9, 200, 3}, 0, 0, true}, {{7, 7, 42}, 0, 4, true}});
}

TEST(DummyLoadTest, EqualsTheRandomCheckpointOfTheSameConfig) {
  for (const std::string& like : supported_model_types()) {
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      SCOPED_TRACE(like + " " + dtype_name(dtype));
      RandomCheckpointOptions o;
      o.like = like;
      o.dtype = dtype;
      o.dir = testing::make_temp_dir("dummy-" + like);
      ASSERT_TRUE(make_random_checkpoint(o).ok());
      int64_t ckpt_bytes = 0, dummy_bytes = 0;
      const auto from_ckpt = logits_of(o.dir, LoadFormat::kSafetensors, dtype, &ckpt_bytes);
      // Only config.json is read: take the weights away to prove it.
      const std::string config_only = testing::make_temp_dir("dummy-cfg-" + like);
      fs::copy_file(o.dir + "/config.json", config_only + "/config.json",
                    fs::copy_options::overwrite_existing);
      const auto dummy = logits_of(config_only, LoadFormat::kDummy, dtype, &dummy_bytes);
      ASSERT_EQ(from_ckpt.size(), 8u);
      ASSERT_EQ(dummy.size(), from_ckpt.size());
      for (size_t r = 0; r < dummy.size(); ++r) {
        EXPECT_EQ(dummy[r], from_ckpt[r]) << "row " << r;
      }
      EXPECT_EQ(dummy_bytes, ckpt_bytes);
    }
  }
}

// With a router skew, config.json alone still gives the checkpoint's weights: the skew travels
// in it. And the skew changes the model (its routing), so the comparison is not vacuous.
TEST(DummyLoadTest, RouterSkewTravelsInTheConfig) {
  for (const std::string& like : supported_model_types()) {
    SCOPED_TRACE(like);
    RandomCheckpointOptions o;
    o.like = like;
    o.dtype = DType::kF32;
    o.router_skew = *parse_router_skew("zipf:1.2");
    o.dir = testing::make_temp_dir("dummy-skew-" + like);
    ASSERT_TRUE(make_random_checkpoint(o).ok());
    int64_t bytes = 0;
    const auto from_ckpt = logits_of(o.dir, LoadFormat::kSafetensors, DType::kF32, &bytes);
    const std::string config_only = testing::make_temp_dir("dummy-skew-cfg-" + like);
    fs::copy_file(o.dir + "/config.json", config_only + "/config.json",
                  fs::copy_options::overwrite_existing);
    const auto dummy = logits_of(config_only, LoadFormat::kDummy, DType::kF32, &bytes);
    ASSERT_EQ(from_ckpt.size(), 8u);
    EXPECT_EQ(dummy, from_ckpt);
    o.router_skew = RouterSkew{};
    o.dir = testing::make_temp_dir("dummy-noskew-" + like);
    ASSERT_TRUE(make_random_checkpoint(o).ok());
    EXPECT_NE(logits_of(o.dir, LoadFormat::kSafetensors, DType::kF32, &bytes), from_ckpt);
  }
}

TEST(DummyLoadTest, WeightBytesPredictedBeforeLoading) {
  RandomCheckpointOptions o;
  o.like = "mixtral";
  o.dir = testing::make_temp_dir("dummy-bytes");
  ASSERT_TRUE(make_random_checkpoint(o).ok());
  auto md = open_model_dir(o.dir, LoadFormat::kDummy);
  ASSERT_TRUE(md.ok());
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    auto backend = testing::make_test_backend(1);
    auto model = load_model(*md, *backend, dtype);
    ASSERT_TRUE(model.ok());
    // The CPU backend pads packed panels, so it may hold a little more than the raw bytes.
    EXPECT_GE((*model)->weight_bytes(), static_cast<int64_t>(md->weight_bytes(dtype)));
    EXPECT_LT((*model)->weight_bytes(), static_cast<int64_t>(md->weight_bytes(dtype)) * 11 / 10);
  }
}

TEST(DummyLoadTest, ClearErrors) {
  auto missing = open_model_dir("/nonexistent/model", LoadFormat::kDummy);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("config.json"), std::string::npos)
      << missing.status().message();
  const std::string empty = testing::make_temp_dir("dummy-empty");
  auto no_config = open_model_dir(empty, LoadFormat::kDummy);
  ASSERT_FALSE(no_config.ok());
  EXPECT_NE(no_config.status().message().find("config.json: missing"), std::string::npos)
      << no_config.status().message();
  auto bad_flag = parse_load_format("pt");
  ASSERT_FALSE(bad_flag.ok());
  EXPECT_NE(bad_flag.status().message().find("auto, safetensors or dummy"), std::string::npos);
  EXPECT_EQ(*parse_load_format("auto"), LoadFormat::kSafetensors);
  EXPECT_EQ(*parse_load_format("dummy"), LoadFormat::kDummy);
}

}  // namespace
}  // namespace sieve
