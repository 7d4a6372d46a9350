// make_random_checkpoint with a quantization: the layout releases ship (which tensors are
// quantized, config.json's quantization_config as DeepSeek-V3 and gpt-oss write it), and the
// quantized weights are exactly those of the same seed unquantized, put through the format.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "engine/checkpoint/quant_codec.h"
#include "models/model_size.h"
#include "models/quantized_checkpoint.h"
#include "models/random_checkpoint.h"
#include "models/registry.h"
#include "tests/support/fixtures.h"

namespace sieve {
namespace {

using nlohmann::json;

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

// Tensor `t` of `ck`, read as fp32.
std::vector<float> read_f32(const Checkpoint& ck, const DeclaredTensor& t) {
  std::vector<float> v(static_cast<size_t>(numel(t.shape)));
  Status s = ck.read(t.name, DType::kF32, v.data());
  EXPECT_TRUE(s.ok()) << s.to_string();
  return v;
}

// Each [a, b] matrix of `w` (of `shape` [..., a, b]) transposed, as an independent check of the
// in-major layout (gpt-oss's stacked experts are stored quantized as [..., out, in]).
std::vector<float> transposed(const std::vector<float>& w, const std::vector<int64_t>& shape) {
  const int64_t a = shape[shape.size() - 2], b = shape.back();
  std::vector<float> out(w.size());
  for (size_t m = 0; m < w.size(); m += static_cast<size_t>(a * b))
    for (int64_t i = 0; i < a; ++i)
      for (int64_t j = 0; j < b; ++j)
        out[m + j * a + i] = w[m + i * b + j];
  return out;
}

// `w` through the format and back, as the reader dequantizes it.
std::vector<float> through(const QuantizationConfig& q, const std::vector<float>& w,
                           const std::vector<int64_t>& shape) {
  StoredMatrix m;
  m.name = "w";
  m.shape = shape;
  std::vector<uint8_t> values, scales;
  if (q.method == QuantMethod::kFp8) {
    values.resize(w.size());
    scales.resize(static_cast<size_t>(numel(fp8_scale_shape(shape, q.block_n, q.block_k))) * 4);
    quantize_fp8_blocks(w.data(), shape, q.block_n, q.block_k, values.data(),
                        reinterpret_cast<float*>(scales.data()));
    m.format = StoredFormat::kFp8Block;
    m.block_n = q.block_n;
    m.block_k = q.block_k;
  } else {
    values.resize(w.size() / 2);
    scales.resize(w.size() / 32);
    quantize_mxfp4(w.data(), shape, values.data(), scales.data());
    m.format = StoredFormat::kMxfp4;
    m.block_n = 1;
    m.block_k = 32;
  }
  m.values = values.data();
  m.scales = scales.data();
  std::vector<float> out(w.size());
  EXPECT_TRUE(dequantize(m, DType::kF32, out.data()).ok());
  return out;
}

TEST(QuantizedRandomCheckpointTest, ProjectionsQuantizedTheRestPlainSameSeedWeights) {
  for (const std::string& family : supported_model_types()) {
    for (QuantMethod method : {QuantMethod::kFp8, QuantMethod::kMxfp4}) {
      SCOPED_TRACE(family + " " + quant_method_name(method));
      RandomCheckpointOptions plain;
      plain.like = family;
      plain.dtype = DType::kF32;
      plain.seed = 7;
      plain.dir = testing::make_temp_dir("qr-plain");
      ASSERT_TRUE(make_random_checkpoint(plain).ok());
      RandomCheckpointOptions quant = plain;
      quant.dir = testing::make_temp_dir("qr-quant");
      quant.quantization.method = method;
      quant.quantization.block_n = 64;
      quant.quantization.block_k = 96;
      ASSERT_TRUE(make_random_checkpoint(quant).ok());

      auto p = open_model_dir(plain.dir);
      auto q = open_model_dir(quant.dir);
      ASSERT_TRUE(p.ok() && q.ok()) << q.status().to_string();
      const Checkpoint& qc = *q->checkpoint;
      ASSERT_EQ(qc.quantization().method, method);

      std::ifstream in(quant.dir + "/config.json");
      const json qj = json::parse(in)["quantization_config"];
      EXPECT_EQ(qj["quant_method"], quant_method_name(method));
      if (method == QuantMethod::kFp8) {
        EXPECT_EQ(qj["fmt"], "e4m3");
        EXPECT_EQ(qj["activation_scheme"], "dynamic");
        EXPECT_EQ(qj["weight_block_size"], json({64, 96}));
      } else {
        const auto plain_modules = qj["modules_to_not_convert"].get<std::vector<std::string>>();
        EXPECT_NE(std::find(plain_modules.begin(), plain_modules.end(), "lm_head"),
                  plain_modules.end());
        EXPECT_NE(std::find(plain_modules.begin(), plain_modules.end(), "model.embed_tokens"),
                  plain_modules.end());
      }

      int quantized = 0;
      for (const DeclaredTensor& t : declared_tensors(q->config)) {
        auto stored = qc.stored_matrix(t.name);
        ASSERT_TRUE(stored.ok()) << stored.status().to_string();
        const std::vector<float> want = read_f32(*p->checkpoint, t);
        if (!quantized_in_release(t)) {
          EXPECT_EQ(stored->format, StoredFormat::kPlain) << t.name;
          EXPECT_EQ(read_f32(qc, t), want) << t.name;
          continue;
        }
        ++quantized;
        EXPECT_NE(stored->format, StoredFormat::kPlain) << t.name;
        if (t.in_major) {
          const std::vector<int64_t> stored = swap_last_two(t.shape);
          EXPECT_EQ(
              read_f32(qc, t),
              transposed(through(qc.quantization(), transposed(want, t.shape), stored), stored))
              << t.name;
        } else {
          EXPECT_EQ(read_f32(qc, t), through(qc.quantization(), want, t.shape)) << t.name;
        }
      }
      EXPECT_GT(quantized, 0);
    }
  }
}

// gpt-oss's experts as the release stores them, checked with a decoder written from the
// format's definition (as transformers' convert_moe_packed_tensors reads it): gate_up_proj_blocks
// [experts, 2·inter, hidden / 32, 16] with two E2M1 codes per byte, low nibble first, times
// 2^(scale - 127) per 32 values; the rows are gate_up_proj's columns (gate and up interleaved),
// so the decoded [experts, 2·inter, hidden] transposed is gate_up_proj [experts, hidden, 2·inter].
TEST(QuantizedRandomCheckpointTest, GptOssExpertsInTheReleasedMxfp4Layout) {
  RandomCheckpointOptions plain;
  plain.preset = "gpt_oss-tiny";
  plain.dtype = DType::kF32;
  plain.seed = 3;
  plain.dir = testing::make_temp_dir("goss-plain");
  ASSERT_TRUE(make_random_checkpoint(plain).ok());
  RandomCheckpointOptions quant = plain;
  quant.dir = testing::make_temp_dir("goss-mxfp4");
  quant.quantization.method = QuantMethod::kMxfp4;
  ASSERT_TRUE(make_random_checkpoint(quant).ok());
  auto p = open_model_dir(plain.dir);
  auto q = open_model_dir(quant.dir);
  ASSERT_TRUE(p.ok() && q.ok()) << q.status().to_string();
  const int64_t E = q->config.num_experts, H = q->config.hidden_size;
  const int64_t I = q->config.moe_intermediate_size;

  static const float kE2m1[16] = {0.f,  0.5f,  1.f,  1.5f,  2.f,  3.f,  4.f,  6.f,
                                  -0.f, -0.5f, -1.f, -1.5f, -2.f, -3.f, -4.f, -6.f};
  for (const auto& [param, rows, cols] : {std::tuple{std::string("gate_up_proj"), 2 * I, H},
                                          std::tuple{std::string("down_proj"), H, I}}) {
    const std::string name = "model.layers.1.mlp.experts." + param;
    SCOPED_TRACE(name);
    const CheckpointTensor* blocks = q->checkpoint->find(name + "_blocks");
    const CheckpointTensor* scales = q->checkpoint->find(name + "_scales");
    ASSERT_TRUE(blocks && scales);
    EXPECT_EQ(blocks->entry->shape, (std::vector<int64_t>{E, rows, cols / 32, 16}));
    EXPECT_EQ(scales->entry->shape, (std::vector<int64_t>{E, rows, cols / 32}));
    const uint8_t* b = blocks->file->data(*blocks->entry);
    const uint8_t* sc = scales->file->data(*scales->entry);
    // decoded[e][r][c], transposed to the plain parameter's [e][c][r].
    std::vector<float> decoded(static_cast<size_t>(E * rows * cols)), bound(decoded.size());
    for (int64_t e = 0; e < E; ++e)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t row = e * rows + r, group = c / 32;
          const uint8_t byte = b[(row * (cols / 32) + group) * 16 + (c % 32) / 2];
          const float scale = std::ldexp(1.f, int(sc[row * (cols / 32) + group]) - 127);
          const size_t at = static_cast<size_t>((e * cols + c) * rows + r);
          decoded[at] = kE2m1[c % 2 == 0 ? byte & 0xF : byte >> 4] * scale;
          bound[at] = 2 * scale;  // E2M1's widest step (4 → 6) and its clip at 6
        }
    const DeclaredTensor t{name, {E, cols, rows}};
    const std::vector<float> want = read_f32(*p->checkpoint, t);
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_LE(std::abs(decoded[i] - want[i]), bound[i]) << "element " << i;
    // The engine's reader gives the same values in the same (declared) layout.
    EXPECT_EQ(read_f32(*q->checkpoint, t), decoded);
  }
}

TEST(QuantizedRandomCheckpointTest, WhatStaysPlain) {
  DeclaredTensor router{"model.layers.0.mlp.gate.weight", {8, 64}, InitRole::kRouter};
  DeclaredTensor embed{"model.embed_tokens.weight", {512, 64}, InitRole::kEmbedding};
  DeclaredTensor head{"lm_head.weight", {512, 64}, InitRole::kLinear};
  DeclaredTensor norm{"model.norm.weight", {64}, InitRole::kNorm};
  DeclaredTensor q_proj{"model.layers.0.self_attn.q_proj.weight", {64, 64}, InitRole::kLinear};
  DeclaredTensor down{"model.layers.3.mlp.experts.1.down_proj.weight",
                      {64, 32},
                      InitRole::kResidualOut,
                      ParamUse::kRoutedExpert,
                      1};
  for (const auto& t : {router, embed, head, norm})
    EXPECT_FALSE(quantized_in_release(t)) << t.name;
  EXPECT_TRUE(quantized_in_release(q_proj));
  EXPECT_TRUE(quantized_in_release(down));
  const auto modules = modules_left_plain({embed, router, q_proj, norm, down, head});
  EXPECT_EQ(modules,
            (std::vector<std::string>{"model.embed_tokens", "model.layers.*.mlp.gate", "lm_head"}));
}

}  // namespace
}  // namespace sieve
