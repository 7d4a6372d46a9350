// Quantized checkpoint storage: the element formats against decoders written here from their
// definitions, quantization_config parsing, writer → reader round trips (partial edge blocks,
// leading dims), and every malformed quantized checkpoint refused with the tensor named.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/quant_codec.h"
#include "engine/checkpoint/tests/checkpoint_test_util.h"
#include "models/quantized_checkpoint.h"
#include "models/registry.h"

namespace sieve {
namespace {

using nlohmann::json;
using testing::contains;
using testing::fixture_path;

// E4M3 from its definition: (-1)^s · 2^(E-7) · (1 + M/8), subnormal 2^-6 · M/8 at E = 0,
// S.1111.111 NaN.
double e4m3_reference(int code) {
  const int s = code >> 7, e = (code >> 3) & 15, m = code & 7;
  if (e == 15 && m == 7) return NAN;
  const double mag = e == 0 ? std::pow(2.0, -6) * (m / 8.0) : std::pow(2.0, e - 7) * (1 + m / 8.0);
  return s ? -mag : mag;
}

// E2M1 from its definition: exponent bits 2..1 (bias 1), mantissa bit 0, subnormal at E = 0
// (0.5 · M).
double e2m1_reference(int code) {
  const int s = code >> 3, e = (code >> 1) & 3, m = code & 1;
  const double mag = e == 0 ? 0.5 * m : std::pow(2.0, e - 1) * (1 + m / 2.0);
  return s ? -mag : mag;
}

void expect_same_value(double want, float got, int code) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << "code " << code;
  } else {
    EXPECT_EQ(static_cast<float>(want), got) << "code " << code;
    EXPECT_EQ(std::signbit(want), std::signbit(got)) << "code " << code;
  }
}

TEST(QuantCodecTest, E4M3EveryCode) {
  for (int c = 0; c < 256; ++c)
    expect_same_value(e4m3_reference(c), e4m3_to_f32(static_cast<uint8_t>(c)), c);
  EXPECT_EQ(e4m3_to_f32(0x7E), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  // Encoding: every finite code round trips; midpoints go to the even code; beyond 448 clamps.
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;
    EXPECT_EQ(f32_to_e4m3(e4m3_to_f32(static_cast<uint8_t>(c))), c) << "code " << c;
  }
  for (int c = 0; c < 0x7E; ++c) {
    const float lo = e4m3_to_f32(static_cast<uint8_t>(c)), hi = e4m3_to_f32(c + 1);
    const float mid = (lo + hi) / 2;
    EXPECT_EQ(f32_to_e4m3(mid), (c % 2 == 0) ? c : c + 1) << "between codes " << c;
    EXPECT_EQ(f32_to_e4m3(std::nextafter(mid, 0.0f)), c) << "below the midpoint after " << c;
    EXPECT_EQ(f32_to_e4m3(std::nextafter(mid, 1e9f)), c + 1) << "above the midpoint after " << c;
    EXPECT_EQ(f32_to_e4m3(-mid), ((c % 2 == 0) ? c : c + 1) | 0x80) << "negative, code " << c;
  }
  EXPECT_EQ(f32_to_e4m3(460.0f), 0x7E);
  EXPECT_EQ(f32_to_e4m3(1e6f), 0x7E);
  EXPECT_EQ(f32_to_e4m3(-1e6f), 0xFE);
  EXPECT_EQ(f32_to_e4m3(NAN), 0x7F);
}

TEST(QuantCodecTest, E2M1AndE8M0EveryCode) {
  for (int c = 0; c < 16; ++c) {
    expect_same_value(e2m1_reference(c), e2m1_to_f32(static_cast<uint8_t>(c)), c);
    EXPECT_EQ(f32_to_e2m1(e2m1_to_f32(static_cast<uint8_t>(c))), c) << "code " << c;
  }
  // Ties to the even code: 0.25 → 0, 0.75 → 1, 1.25 → 1, 1.75 → 2, 2.5 → 2, 3.5 → 4, 5 → 4.
  const std::pair<float, float> ties[] = {{0.25f, 0.0f}, {0.75f, 1.0f}, {1.25f, 1.0f},
                                          {1.75f, 2.0f}, {2.5f, 2.0f},  {3.5f, 4.0f},
                                          {5.0f, 4.0f},  {7.0f, 6.0f},  {100.0f, 6.0f}};
  for (auto [x, want] : ties) {
    EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(x)), want) << x;
    EXPECT_EQ(e2m1_to_f32(f32_to_e2m1(-x)), -want) << -x;
  }
  for (int s = 0; s < 255; ++s)
    EXPECT_EQ(e8m0_to_f32(static_cast<uint8_t>(s)), static_cast<float>(std::pow(2.0, s - 127)));
  EXPECT_TRUE(std::isnan(e8m0_to_f32(0xFF)));
}

Result<QuantizationConfig> parse(const json& q) {
  return parse_quantization_config(json{{"quantization_config", q}});
}

TEST(QuantizationConfigTest, ParsesWhatReleasesWrite) {
  auto none = parse_quantization_config(json{{"model_type", "mixtral"}});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->quantized());
  auto fp8 = parse({{"quant_method", "fp8"},
                    {"fmt", "e4m3"},
                    {"activation_scheme", "dynamic"},
                    {"weight_block_size", {128, 64}}});
  ASSERT_TRUE(fp8.ok()) << fp8.status().to_string();
  EXPECT_EQ(fp8->method, QuantMethod::kFp8);
  EXPECT_EQ(fp8->block_n, 128);
  EXPECT_EQ(fp8->block_k, 64);
  auto mx = parse({{"quant_method", "mxfp4"},
                   {"modules_to_not_convert", {"model.layers.*.self_attn", "lm_head"}}});
  ASSERT_TRUE(mx.ok()) << mx.status().to_string();
  EXPECT_EQ(mx->method, QuantMethod::kMxfp4);
  EXPECT_EQ(mx->modules_to_not_convert.size(), 2u);
  // What make-checkpoint writes parses back to the same config.
  auto again = parse(quantization_config_json(*fp8));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->block_n, 128);
  EXPECT_EQ(again->block_k, 64);
}

TEST(QuantizationConfigTest, RefusesWhatSieveDoesNotRead) {
  auto method = parse({{"quant_method", "awq"}, {"bits", 4}});
  ASSERT_FALSE(method.ok());
  EXPECT_TRUE(contains(method.status().message(), "\"awq\"") &&
              contains(method.status().message(), "fp8") &&
              contains(method.status().message(), "mxfp4"))
      << method.status().message();
  auto fmt = parse({{"quant_method", "fp8"}, {"fmt", "e5m2"}, {"weight_block_size", {128, 128}}});
  ASSERT_FALSE(fmt.ok());
  EXPECT_TRUE(contains(fmt.status().message(), "e5m2") && contains(fmt.status().message(), "e4m3"))
      << fmt.status().message();
  for (const json& bad : {json{128}, json{128, 0}, json{128, -1}, json{"a", "b"}, json(7)}) {
    auto r = parse({{"quant_method", "fp8"}, {"fmt", "e4m3"}, {"weight_block_size", bad}});
    ASSERT_FALSE(r.ok()) << bad.dump();
    EXPECT_TRUE(contains(r.status().message(), "weight_block_size")) << r.status().message();
  }
  EXPECT_FALSE(parse({{"quant_method", "fp8"}}).ok());  // per-tensor fp8: no block size
  EXPECT_FALSE(parse({{"quant_method", "mxfp4"}, {"modules_to_not_convert", {1, 2}}}).ok());
}

// A checkpoint of one tensor "w" [shape] quantized from `values` as `q` says (through the
// writer's quantizer), beside config.json; returns its directory.
std::string write_one(const std::string& tag, const std::vector<float>& values,
                      const std::vector<int64_t>& shape, const QuantizationConfig& q) {
  const std::string dir = testing::make_temp_dir(tag);
  std::vector<SafetensorsWriteEntry> entries;
  std::vector<std::vector<uint8_t>> bytes;
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  if (q.method == QuantMethod::kFp8) {
    const auto sshape = fp8_scale_shape(shape, q.block_n, q.block_k);
    int64_t sn = 1;
    for (int64_t d : sshape)
      sn *= d;
    bytes.emplace_back(n);
    bytes.emplace_back(sn * 4);
    quantize_fp8_blocks(values.data(), shape, q.block_n, q.block_k, bytes[0].data(),
                        reinterpret_cast<float*>(bytes[1].data()));
    entries = {{"w", DType::kF8E4M3, shape}, {"w_scale_inv", DType::kF32, sshape}};
  } else {
    bytes.emplace_back(n / 2);
    bytes.emplace_back(n / 32);
    quantize_mxfp4(values.data(), shape, bytes[0].data(), bytes[1].data());
    entries = {{"w_blocks", DType::kU8, mxfp4_blocks_shape(shape)},
               {"w_scales", DType::kU8, mxfp4_scales_shape(shape)}};
  }
  const json config = {{"model_type", "test"},
                       {"quantization_config", quantization_config_json(q)}};
  Status s = write_checkpoint(dir, config, entries, [&](size_t i, void* dst) {
    std::memcpy(dst, bytes[i].data(), bytes[i].size());
  });
  EXPECT_TRUE(s.ok()) << s.to_string();
  return dir;
}

std::vector<float> read_back(const std::string& dir, const std::vector<int64_t>& shape,
                             StoredFormat format) {
  auto ck = Checkpoint::open(dir);
  EXPECT_TRUE(ck.ok()) << ck.status().to_string();
  if (!ck.ok()) return {};
  EXPECT_TRUE((*ck)->validate({{"w", shape}}).ok());
  auto m = (*ck)->stored_matrix("w");
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->format, format);
  EXPECT_EQ(m->shape, shape);
  std::vector<float> out(static_cast<size_t>(m->numel()));
  Status s = (*ck)->read("w", DType::kF32, out.data());
  EXPECT_TRUE(s.ok()) << s.to_string();
  // BF16 reads round the same dequantized values once.
  std::vector<uint16_t> bf(out.size());
  EXPECT_TRUE((*ck)->read("w", DType::kBF16, bf.data()).ok());
  for (size_t i = 0; i < out.size(); i += 97) {
    float widened;
    const uint32_t bits = static_cast<uint32_t>(bf[i]) << 16;
    std::memcpy(&widened, &bits, 4);
    EXPECT_LE(std::fabs(widened - out[i]), std::fabs(out[i]) * 0x1p-8f) << i;
  }
  return out;
}

std::vector<float> gaussian(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v)
    x = d(rng);
  return v;
}

// 576 rows in blocks of 128 and 200 columns in blocks of 128: the last row block has 64 rows
// and the last column block 72 columns, as DeepSeek-V3's kv_a_proj (576 rows) has.
TEST(QuantRoundTripTest, Fp8WithinRoundingAndPartialEdgeBlocks) {
  QuantizationConfig q;
  q.method = QuantMethod::kFp8;
  const std::vector<int64_t> shape = {576, 200};
  const auto w = gaussian(576 * 200, 1);
  const std::string dir = write_one("q-fp8", w, shape, q);
  const auto got = read_back(dir, shape, StoredFormat::kFp8Block);
  ASSERT_EQ(got.size(), w.size());
  auto ck = Checkpoint::open(dir);
  const float* scale = reinterpret_cast<const float*>((*ck)->stored_matrix("w")->scales);
  std::vector<float> scales(5 * 2);
  std::memcpy(scales.data(), scale, scales.size() * 4);
  for (int64_t i = 0; i < 576; ++i) {
    for (int64_t j = 0; j < 200; ++j) {
      const float s = scales[(i / 128) * 2 + j / 128];
      const float x = w[i * 200 + j];
      // Half an E4M3 step: 2^-4 relative among normals, 2^-10 · scale among subnormals.
      const float bound = std::max(std::fabs(x) * 0x1p-4f, s * 0x1p-10f) * 1.0001f;
      ASSERT_LE(std::fabs(got[i * 200 + j] - x), bound) << i << "," << j;
    }
  }
  // The edge block's own amax: scale = amax / 448 over rows 512..575, columns 128..199.
  float amax = 0;
  for (int64_t i = 512; i < 576; ++i)
    for (int64_t j = 128; j < 200; ++j)
      amax = std::max(amax, std::fabs(w[i * 200 + j]));
  EXPECT_EQ(scales[4 * 2 + 1], amax / 448.0f);
}

TEST(QuantRoundTripTest, Fp8ExactForRepresentableValues) {
  // Each 4×8 block holds E4M3 values times 2^b with ±448 · 2^b in it: scale 2^b, all exact.
  QuantizationConfig q;
  q.method = QuantMethod::kFp8;
  q.block_n = 4;
  q.block_k = 8;
  const std::vector<int64_t> shape = {2, 10, 20};  // leading dim: two stacked matrices
  std::vector<float> w(2 * 10 * 20);
  std::mt19937 rng(3);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < 10; ++i)
      for (int64_t j = 0; j < 20; ++j) {
        const int b = static_cast<int>((i / 4) * 3 + j / 8) - 6;
        const bool corner = i % 4 == 0 && j % 8 == 0;
        const auto code = static_cast<uint8_t>(corner ? 0x7E | (c ? 0x80 : 0) : rng() % 0x7E);
        w[(c * 10 + i) * 20 + j] = std::ldexp(e4m3_to_f32(code), b);
      }
  const auto got = read_back(write_one("q-fp8x", w, shape, q), shape, StoredFormat::kFp8Block);
  EXPECT_EQ(got, w);
}

// Some Qwen3 FP8 releases ship scale_inv in BF16 (or F16): read and widened exactly.
TEST(QuantRoundTripTest, Fp8WithHalfPrecisionScales) {
  for (DType scale_dtype : {DType::kBF16, DType::kF16}) {
    SCOPED_TRACE(dtype_name(scale_dtype));
    const std::string dir = testing::make_temp_dir("q-bf16scale");
    const json config = {
        {"quantization_config", {{"quant_method", "fp8"}, {"weight_block_size", {2, 4}}}}};
    // One scale per 2×4 block: 0.5, 0.75, 3, 0.125 (exact in both formats).
    const uint16_t bf16[] = {0x3F00, 0x3F40, 0x4040, 0x3E00};
    const uint16_t f16[] = {0x3800, 0x3A00, 0x4200, 0x3000};
    const float scale[] = {0.5f, 0.75f, 3.0f, 0.125f};
    std::vector<uint8_t> codes(4 * 8);
    for (size_t i = 0; i < codes.size(); ++i)
      codes[i] = static_cast<uint8_t>((i * 37) % 0x7E | (i % 3 == 0 ? 0x80 : 0));
    ASSERT_TRUE(
        write_checkpoint(dir, config,
                         {{"w", DType::kF8E4M3, {4, 8}}, {"w_scale_inv", scale_dtype, {2, 2}}},
                         [&](size_t i, void* dst) {
                           if (i == 0)
                             std::memcpy(dst, codes.data(), codes.size());
                           else
                             std::memcpy(dst, scale_dtype == DType::kBF16 ? bf16 : f16, 8);
                         })
            .ok());
    auto ck = Checkpoint::open(dir);
    ASSERT_TRUE(ck.ok());
    ASSERT_TRUE((*ck)->validate({{"w", {4, 8}}}).ok());
    EXPECT_EQ((*ck)->stored_matrix("w")->scale_dtype, scale_dtype);
    std::vector<float> got(32);
    ASSERT_TRUE((*ck)->read("w", DType::kF32, got.data()).ok());
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 8; ++j)
        EXPECT_EQ(got[i * 8 + j], e4m3_to_f32(codes[i * 8 + j]) * scale[(i / 2) * 2 + j / 4])
            << i << "," << j;
  }
}

TEST(QuantRoundTripTest, Mxfp4WithinRoundingAndExactForRepresentable) {
  QuantizationConfig q;
  q.method = QuantMethod::kMxfp4;
  const std::vector<int64_t> shape = {3, 8, 64};  // expert-style leading dim
  const auto w = gaussian(3 * 8 * 64, 2);
  const auto got = read_back(write_one("q-mx", w, shape, q), shape, StoredFormat::kMxfp4);
  ASSERT_EQ(got.size(), w.size());
  for (size_t g = 0; g < w.size() / 32; ++g) {
    float amax = 0;
    for (size_t i = 0; i < 32; ++i)
      amax = std::max(amax, std::fabs(w[g * 32 + i]));
    // OCP MX: 2^(floor(log2 amax) - 2), so w / scale is in [-8, 8) and rounds to E2M1.
    const float scale = std::ldexp(1.0f, static_cast<int>(std::floor(std::log2(amax))) - 2);
    for (size_t i = 0; i < 32; ++i) {
      const float x = w[g * 32 + i] / scale;
      const float want = e2m1_to_f32(f32_to_e2m1(x)) * scale;
      ASSERT_EQ(got[g * 32 + i], want) << "group " << g << " element " << i;
      // Half a step of E2M1 (a quarter below 2, 0.5 below 4, 1 to 6), or the clamp to 6 above.
      ASSERT_LE(std::fabs(got[g * 32 + i] - w[g * 32 + i]),
                scale * std::max(0.25f, std::fabs(x) / 3))
          << g << "," << i;
    }
  }
  // E2M1 values times 2^b with a ±4 or ±6 in each group: exact.
  std::vector<float> exact(3 * 8 * 64);
  std::mt19937 rng(5);
  for (size_t i = 0; i < exact.size(); ++i) {
    const int b = static_cast<int>(i / 32 % 7) - 3;
    const uint8_t code = i % 32 == 5 ? (i % 64 ? 0x7 : 0xE) : static_cast<uint8_t>(rng() % 16);
    exact[i] = std::ldexp(e2m1_to_f32(code), b);
  }
  EXPECT_EQ(read_back(write_one("q-mxx", exact, shape, q), shape, StoredFormat::kMxfp4), exact);
}

TEST(QuantRoundTripTest, Mxfp4NibbleOrderAndScaleBias) {
  // One group: element 0 is 1.0 (low nibble of byte 0), element 1 is -6 (high nibble), the rest
  // 0; amax 6 → exponent floor(log2 6) - 2 = 0 → E8M0 code 127.
  std::vector<float> w(32, 0.0f);
  w[0] = 1.0f;
  w[1] = -6.0f;
  std::vector<uint8_t> blocks(16), scales(1);
  quantize_mxfp4(w.data(), {1, 32}, blocks.data(), scales.data());
  EXPECT_EQ(scales[0], 127);
  EXPECT_EQ(blocks[0], 0x2 | 0xF << 4);
  for (size_t i = 1; i < 16; ++i)
    EXPECT_EQ(blocks[i], 0);
}

// --- Malformed quantized checkpoints, built from quantized copies of a fixture. ---

constexpr const char* kExpert = "model.layers.1.block_sparse_moe.experts.3.w2.weight";

// A quantized copy of the mixtral fixture (as make-checkpoint --from writes it).
std::string quantized_copy(QuantMethod method, const std::string& tag) {
  ConvertCheckpointOptions o;
  o.from = fixture_path("models/mixtral");
  o.dir = testing::make_temp_dir(tag);
  o.dtype = DType::kF32;
  o.quant.method = method;
  Status s = convert_checkpoint(o);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return o.dir;
}

void edit_config(const std::string& dir, const std::function<void(json&)>& edit) {
  std::ifstream in(dir + "/config.json");
  json c = json::parse(in);
  edit(c);
  std::ofstream(dir + "/config.json") << c.dump(2);
}

// The error opening `dir` as a model gives; fails the test when it opens.
std::string open_error(const std::string& dir) {
  auto r = open_model_dir(dir);
  EXPECT_FALSE(r.ok()) << dir << " opened but should not have";
  return r.ok() ? "" : r.status().message();
}

TEST(QuantizedCheckpointTest, QuantizedCopiesOfEveryFamilyValidate) {
  for (const std::string& family : supported_model_types()) {
    for (QuantMethod m : {QuantMethod::kFp8, QuantMethod::kMxfp4}) {
      SCOPED_TRACE(family + " " + quant_method_name(m));
      ConvertCheckpointOptions o;
      o.from = fixture_path("models/" + family);
      o.dir = testing::make_temp_dir("q-all");
      o.quant.method = m;
      o.quant.block_n = 32;
      o.quant.block_k = 48;  // partial column blocks in every 64-wide matrix
      Status s = convert_checkpoint(o);
      ASSERT_TRUE(s.ok()) << s.to_string();
      auto dir = open_model_dir(o.dir);
      ASSERT_TRUE(dir.ok()) << dir.status().to_string();
      EXPECT_EQ(dir->checkpoint->quantization().method, m);
    }
  }
}

TEST(QuantizedCheckpointTest, MissingScaleNamed) {
  const std::string dir = quantized_copy(QuantMethod::kFp8, "q-noscale");
  testing::rewrite_header(dir + "/model.safetensors",
                          [](nlohmann::ordered_json& h) { h.erase(fp8_scale_name(kExpert)); });
  const std::string msg = open_error(dir);
  EXPECT_TRUE(contains(msg, kExpert) && contains(msg, "_scale_inv") && contains(msg, "missing"))
      << msg;

  const std::string mx = quantized_copy(QuantMethod::kMxfp4, "q-noscales");
  testing::rewrite_header(mx + "/model.safetensors",
                          [](nlohmann::ordered_json& h) { h.erase(mxfp4_scales_name(kExpert)); });
  const std::string mx_msg = open_error(mx);
  EXPECT_TRUE(contains(mx_msg, mxfp4_scales_name(kExpert)) && contains(mx_msg, "missing"))
      << mx_msg;
}

TEST(QuantizedCheckpointTest, ScaleShapeThatDoesNotMatchTheBlockSize) {
  // Scales written for 128×128 blocks, config saying 32×32: every scale has the wrong shape.
  const std::string dir = quantized_copy(QuantMethod::kFp8, "q-block");
  edit_config(dir, [](json& c) { c["quantization_config"]["weight_block_size"] = {32, 32}; });
  std::string msg = open_error(dir);
  EXPECT_TRUE(contains(msg, "_scale_inv' has shape") && contains(msg, "[32, 32]")) << msg;
  // A scale of the wrong dtype (same bytes, I32).
  const std::string dt = quantized_copy(QuantMethod::kFp8, "q-scaledt");
  testing::rewrite_header(dt + "/model.safetensors", [](nlohmann::ordered_json& h) {
    h[fp8_scale_name(kExpert)]["dtype"] = "I32";
  });
  msg = open_error(dt);
  EXPECT_TRUE(contains(msg, fp8_scale_name(kExpert)) && contains(msg, "I32")) << msg;
}

TEST(QuantizedCheckpointTest, QuantizedStorageTheConfigDoesNotDeclare) {
  const std::string dir = quantized_copy(QuantMethod::kFp8, "q-noconfig");
  edit_config(dir, [](json& c) { c.erase("quantization_config"); });
  std::string msg = open_error(dir);
  EXPECT_TRUE(contains(msg, "F8_E4M3") && contains(msg, "quantization_config") &&
              contains(msg, ".weight'"))
      << msg;
  const std::string mx = quantized_copy(QuantMethod::kMxfp4, "q-mxnoconfig");
  edit_config(mx, [](json& c) { c.erase("quantization_config"); });
  msg = open_error(mx);
  EXPECT_TRUE(contains(msg, "_blocks") && contains(msg, "mxfp4")) << msg;
  // fp8 values under an mxfp4 config.
  edit_config(dir, [](json& c) { c["quantization_config"] = {{"quant_method", "mxfp4"}}; });
  msg = open_error(dir);
  EXPECT_TRUE(contains(msg, "F8_E4M3") && contains(msg, "\"mxfp4\"")) << msg;
}

TEST(QuantizedCheckpointTest, UnknownMethodOrFormatNamed) {
  const std::string dir = quantized_copy(QuantMethod::kFp8, "q-unknown");
  edit_config(dir, [](json& c) { c["quantization_config"]["quant_method"] = "gptq"; });
  std::string msg = open_error(dir);
  EXPECT_TRUE(contains(msg, "gptq") && contains(msg, "config.json")) << msg;
  edit_config(dir, [](json& c) {
    c["quantization_config"]["quant_method"] = "fp8";
    c["quantization_config"]["fmt"] = "e5m2";
  });
  msg = open_error(dir);
  EXPECT_TRUE(contains(msg, "e5m2")) << msg;
}

TEST(QuantizedCheckpointTest, Mxfp4BlocksOfTheWrongShape) {
  // Same bytes, last dim 8 instead of 16.
  const std::string dir = quantized_copy(QuantMethod::kMxfp4, "q-blocks8");
  testing::rewrite_header(dir + "/model.safetensors", [](nlohmann::ordered_json& h) {
    auto& shape = h[mxfp4_blocks_name(kExpert)]["shape"];
    shape[1] = shape[1].get<int64_t>() * 2;  // [n, k / 32, 16] → [n, k / 16, 8]
    shape[2] = 8;
  });
  const std::string msg = open_error(dir);
  EXPECT_TRUE(contains(msg, mxfp4_blocks_name(kExpert)) && contains(msg, "16")) << msg;
}

TEST(QuantizedCheckpointTest, Mxfp4NeedsInFeaturesDivisibleBy32) {
  // A parameter of 40 in-features cannot be mxfp4, whatever its blocks say.
  const std::string dir = testing::make_temp_dir("q-k40");
  const json config = {{"quantization_config", {{"quant_method", "mxfp4"}}}};
  ASSERT_TRUE(
      write_checkpoint(dir, config,
                       {{"p_blocks", DType::kU8, {4, 1, 16}}, {"p_scales", DType::kU8, {4, 1}}},
                       [](size_t, void*) {})
          .ok());
  auto ck = Checkpoint::open(dir);
  ASSERT_TRUE(ck.ok());
  Status s = (*ck)->validate({{"p", {4, 40}}});
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.message(), "'p'") && contains(s.message(), "multiple of 32"))
      << s.message();
  // The same storage for the parameter it fits ([4, 32]) validates, companions not unexpected.
  EXPECT_TRUE((*ck)->validate({{"p", {4, 32}}}).ok());
}

}  // namespace
}  // namespace sieve
