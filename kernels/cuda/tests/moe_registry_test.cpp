// The MoE kernel registry's host side, which needs no GPU: the built-in rule as the default,
// tuned choices per token bucket, and the JSON cache (round trip, another GPU's file, broken
// files). The tuner itself runs in kernels_cuda_tests (MoeTune.*).
#include "kernels/cuda/moe_registry.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace sieve::cuda {
namespace {

const MoeShape kQwen{1, 8, 128, 2048, 768, WeightType::kBF16};

MoeShape with_tokens(MoeShape s, int64_t tokens) {
  s.tokens = tokens;
  return s;
}

MoeTuneResult result(MoeGemmVariant best) {
  MoeTuneResult r;
  r.best = best;
  r.microseconds = {{MoeGemmVariant::kSkinny, 41.5}, {best, 20.25}};
  return r;
}

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "sieve-moe-registry-test";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(MoeTokensBucket, NextPowerOfTwo) {
  EXPECT_EQ(moe_tokens_bucket(0), 1);
  EXPECT_EQ(moe_tokens_bucket(1), 1);
  EXPECT_EQ(moe_tokens_bucket(3), 4);
  EXPECT_EQ(moe_tokens_bucket(64), 64);
  EXPECT_EQ(moe_tokens_bucket(65), 128);
  EXPECT_EQ(moe_tokens_bucket(16384), 16384);
}

TEST(MoeKernelRegistry, BuiltInRuleUntilTunedThenTheTunedChoicePerBucket) {
  MoeKernelRegistry reg("GPU A");
  EXPECT_FALSE(reg.cached(kQwen));
  EXPECT_EQ(reg.choose(kQwen), MoeGemmVariant::kSkinny);  // the built-in rule at 1 token
  EXPECT_EQ(reg.choose(with_tokens(kQwen, 4096)), MoeGemmVariant::kTensorCore);
  reg.remember(with_tokens(kQwen, 3), result(MoeGemmVariant::kTensorCoreHalf));
  // 3 and 4 tokens share a bucket; 2 and 5 do not.
  EXPECT_EQ(reg.choose(with_tokens(kQwen, 4)), MoeGemmVariant::kTensorCoreHalf);
  EXPECT_EQ(reg.choose(with_tokens(kQwen, 3)), MoeGemmVariant::kTensorCoreHalf);
  EXPECT_EQ(reg.choose(with_tokens(kQwen, 2)), MoeGemmVariant::kSkinny);
  EXPECT_EQ(reg.choose(with_tokens(kQwen, 5)), MoeGemmVariant::kSkinny);
  // Another shape with the same tokens is its own entry.
  MoeShape other = with_tokens(kQwen, 4);
  other.top_k = 4;
  EXPECT_FALSE(reg.cached(other));
  EXPECT_EQ(reg.size(), 1u);
}

TEST(MoeKernelRegistry, CacheFileRoundTrip) {
  const std::string path = temp_path("round_trip/cache.json");  // the folder is created
  std::filesystem::remove(path);
  MoeKernelRegistry reg("NVIDIA H100 80GB HBM3 sm_90 132 SMs");
  reg.remember(with_tokens(kQwen, 1), result(MoeGemmVariant::kSkinny));
  reg.remember(with_tokens(kQwen, 4096), result(MoeGemmVariant::kTensorCore));
  MoeShape fp32 = kQwen;
  fp32.w_type = WeightType::kF32;
  reg.remember(fp32, result(MoeGemmVariant::kGrouped));
  std::string error;
  ASSERT_TRUE(reg.save(path, &error)) << error;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  MoeKernelRegistry back("NVIDIA H100 80GB HBM3 sm_90 132 SMs");
  std::string note;
  ASSERT_TRUE(back.load(path, &error, &note)) << error;
  EXPECT_EQ(note, "");
  EXPECT_EQ(back.size(), 3u);
  EXPECT_EQ(back.cached(with_tokens(kQwen, 1)), MoeGemmVariant::kSkinny);
  EXPECT_EQ(back.cached(with_tokens(kQwen, 3000)), MoeGemmVariant::kTensorCore);
  EXPECT_EQ(back.cached(fp32), MoeGemmVariant::kGrouped);
  // What was saved is what a second save writes.
  const std::string again = temp_path("round_trip/again.json");
  ASSERT_TRUE(back.save(again, &error)) << error;
  std::ifstream a(path), b(again);
  const std::string ta((std::istreambuf_iterator<char>(a)), {}),
      tb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta.find("\"variant\": \"tensor\""), std::string::npos) << ta;
}

TEST(MoeKernelRegistry, AnotherGpusCacheIsNotUsed) {
  const std::string path = temp_path("other_gpu.json");
  MoeKernelRegistry h200("NVIDIA H200 sm_90 132 SMs");
  h200.remember(kQwen, result(MoeGemmVariant::kTensorCore));
  std::string error, note;
  ASSERT_TRUE(h200.save(path, &error)) << error;
  MoeKernelRegistry h100("NVIDIA H100 80GB HBM3 sm_90 132 SMs");
  ASSERT_TRUE(h100.load(path, &error, &note)) << error;
  EXPECT_EQ(h100.size(), 0u);
  EXPECT_NE(note.find("tuned on 'NVIDIA H200 sm_90 132 SMs'"), std::string::npos) << note;
}

TEST(MoeKernelRegistry, MissingFileLoadsNothing) {
  MoeKernelRegistry reg("GPU A");
  std::string error;
  EXPECT_TRUE(reg.load(temp_path("does_not_exist.json"), &error)) << error;
  EXPECT_EQ(reg.size(), 0u);
}

TEST(MoeKernelRegistry, BrokenFilesAreClearErrors) {
  const std::string entry =
      R"("tokens_bucket": 1, "top_k": 8, "experts": 128, "hidden": 2048, "inter": 768)";
  const std::string head = R"({"format": 1, "device": "GPU A", "choices": [{)";
  const std::string cases[][2] = {
      {"{not json", "not valid JSON"},
      {R"({"format": 2, "device": "GPU A", "choices": []})", "not a format-1"},
      {R"({"format": 1, "choices": []})", "needs \"device\""},
      {head + entry + R"(, "weights": "bf16", "variant": "fastest"}]})",
       "unknown variant 'fastest'"},
      {head + entry + R"(, "weights": "fp8", "variant": "skinny"}]})",
       "weights must be bf16 or fp32"},
      {head + entry + R"(, "weights": "fp32", "variant": "tensor"}]})", "cannot run its shape"},
      {head + R"("top_k": 8, "weights": "bf16", "variant": "skinny"}]})", "bad choice entry"},
  };
  const std::string path = temp_path("broken.json");
  for (const auto& c : cases) {
    SCOPED_TRACE(c[0]);
    write_file(path, c[0]);
    MoeKernelRegistry reg("GPU A");
    std::string error;
    EXPECT_FALSE(reg.load(path, &error));
    EXPECT_NE(error.find(c[1]), std::string::npos) << error;
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_EQ(reg.size(), 0u);  // nothing half-loaded
  }
}

}  // namespace
}  // namespace sieve::cuda
