// Quantized weights through the whole model, on every fixture family: a model loaded with
// --quantization against the same model with its weights dequantized to fp32.
//
// The pair is built so that both hold exactly the same weight values: each fixture tensor that
// the quantization touches is first rounded to the format's grid (quantized and read back), and
// that "grid" checkpoint is what both load — once quantized on load (which finds every value
// already on its grid and keeps it), once at fp32. So the two models differ only in how the
// products are computed: the integer formats quantize each activation row to int8 in blocks
// of 32 (relative error up to 1/254 of a block's largest value per element), FP8 sums its
// blocks in fp32 in another order. The logit band below is set from that, and greedy
// continuations must agree.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/checkpoint/checkpoint.h"
#include "kernels/cpu/gemm.h"
#include "models/blocks/decoder.h"
#include "models/tests/model_test_util.h"
#include "tests/support/fixtures.h"

namespace sieve::testing {
namespace {

enum class Scope { kExperts, kAll };

struct QuantCase {
  std::string family;
  QuantFormat format;
  Scope scope;
  std::string name() const {
    return family + "_" + quant_format_name(format) +
           (scope == Scope::kExperts ? "_experts" : "_all");
  }
  WeightFormat weights() const {
    WeightFormat w(DType::kF32);
    w.experts = format;
    if (scope == Scope::kAll) w.dense = format;
    return w;
  }
};

void PrintTo(const QuantCase& c, std::ostream* os) {
  *os << c.name();
}

kernels::ElemType kernel_type(QuantFormat q) {
  switch (q) {
    case QuantFormat::kInt8:
      return kernels::ElemType::kI8;
    case QuantFormat::kInt4:
      return kernels::ElemType::kI4;
    case QuantFormat::kFp8:
      return kernels::ElemType::kFP8;
    default:
      return kernels::ElemType::kMXFP4;
  }
}

// Whether loading with `scope` quantizes this tensor (models/blocks/weight_source.h: routed
// experts; with kAll also every dense projection and the lm_head, a tied one included; never
// norms, routers or an untied embedding table).
bool quantized_by(const DeclaredTensor& t, Scope scope) {
  if (t.use == ParamUse::kRoutedExpert) return true;
  if (scope == Scope::kExperts) return false;
  if (t.use == ParamUse::kTableRowAndHead) return true;
  return t.shape.size() == 2 && (t.init == InitRole::kLinear || t.init == InitRole::kResidualOut);
}

// Writes the fixture's checkpoint with every tensor the case quantizes rounded to the format's
// grid (quantize, then read each value back), the others as they are, all in fp32.
std::string write_grid_checkpoint(const QuantCase& c) {
  auto dir = open_model_dir(fixture_path("models/" + c.family));
  EXPECT_TRUE(dir.ok()) << dir.status().to_string();
  const TensorList tensors = declare_decoder(dir->config, dir->family->recipe(dir->config));
  std::vector<SafetensorsWriteEntry> entries;
  for (const DeclaredTensor& t : tensors)
    entries.push_back({t.name, DType::kF32, t.shape});
  const std::string out = make_temp_dir("quantized_" + c.name());
  const Status s =
      write_checkpoint(out, dir->checkpoint->config(), entries, [&](size_t i, void* dst) {
        const DeclaredTensor& t = tensors[i];
        float* f = static_cast<float*>(dst);
        EXPECT_TRUE(dir->checkpoint->read(t.name, DType::kF32, f).ok()) << t.name;
        if (!quantized_by(t, c.scope)) return;
        const int64_t n = t.shape[0], k = t.shape[1];
        const kernels::PackedMatrix q =
            kernels::quantize_matrix(f, kernels::ElemType::kF32, n, k, kernel_type(c.format));
        for (int64_t r = 0; r < n; ++r) {
          for (int64_t col = 0; col < k; ++col)
            f[r * k + col] = kernels::packed_at(q, r, col);
        }
      });
  EXPECT_TRUE(s.ok()) << s.to_string();
  return out;
}

struct Pair {
  LoadedModel quantized, dequantized;
};

Pair load_pair(const QuantCase& c) {
  const std::string grid = write_grid_checkpoint(c);
  Pair p;
  for (auto [m, weights] : {std::pair{&p.quantized, c.weights()},
                            std::pair{&p.dequantized, WeightFormat(DType::kF32)}}) {
    m->backend = make_test_backend();
    auto dir = open_model_dir(grid);
    EXPECT_TRUE(dir.ok()) << dir.status().to_string();
    if (!dir.ok()) return p;
    m->dir = std::move(dir).value();
    auto model = load_model(m->dir, *m->backend, weights);
    EXPECT_TRUE(model.ok()) << model.status().to_string();
    if (model.ok()) m->model = std::move(model).value();
  }
  std::filesystem::remove_all(grid);
  return p;
}

// The band on the logits, from the activation quantization (integer formats) or fp32 sum order
// (FP8); see the file comment.
float logit_band(QuantFormat q) {
  return q == QuantFormat::kFp8 ? 1e-4f : 5e-2f;
}

class QuantizedModelTest : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QuantizedModelTest, LogitsAndGreedyTokensMatchTheDequantizedModel) {
  const QuantCase& c = GetParam();
  Pair p = load_pair(c);
  ASSERT_TRUE(p.quantized.model && p.dequantized.model);
  // The quantized model holds fewer bytes than the same weights at fp32.
  EXPECT_LT(p.quantized.model->weight_bytes(), p.dequantized.model->weight_bytes());

  const nlohmann::json golden = read_json(fixture_path("models/" + c.family + "/golden.json"));
  const auto prompts = golden["prompts"].get<std::vector<std::vector<int32_t>>>();
  float worst = 0, worst_scale = 0;
  for (const auto& prompt : prompts) {
    std::vector<std::vector<float>> logits[2];
    int i = 0;
    for (LoadedModel* m : {&p.quantized, &p.dequantized}) {
      KvCache kv(*m->backend, m->model->config(), 16, 64);
      logits[i++] = run_step(*m->model, kv, {{prompt, 0, 0, true}});
    }
    ASSERT_EQ(logits[0].size(), logits[1].size());
    for (size_t r = 0; r < logits[0].size(); ++r) {
      worst = std::max(worst, max_abs_diff(logits[0][r], logits[1][r]));
      for (float v : logits[1][r])
        worst_scale = std::max(worst_scale, std::fabs(v));
    }
  }
  EXPECT_LE(worst, logit_band(c.format)) << "largest |logit| " << worst_scale;
  std::printf("[ %s ] largest logit difference %.3g (largest |logit| %.3g)\n", c.name().c_str(),
              worst, worst_scale);

  std::vector<std::vector<int32_t>> tokens[2];
  int i = 0;
  for (LoadedModel* m : {&p.quantized, &p.dequantized}) {
    EngineOptions o;
    o.max_num_seqs = 8;
    Engine engine(*m->model, *m->backend, o);
    tokens[i++] = greedy_on(engine, prompts, 16);
  }
  GreedyComparer compare(*p.dequantized.model, *p.dequantized.backend, logit_band(c.format));
  for (size_t j = 0; j < prompts.size(); ++j) {
    compare.expect_same(prompts[j], tokens[0][j], tokens[1][j],
                        c.name() + " prompt " + std::to_string(j));
  }
}

std::vector<QuantCase> cases() {
  std::vector<QuantCase> out;
  for (const Family* f : supported_families()) {
    for (QuantFormat q :
         {QuantFormat::kInt8, QuantFormat::kInt4, QuantFormat::kFp8, QuantFormat::kMxfp4}) {
      for (Scope s : {Scope::kExperts, Scope::kAll})
        out.push_back({std::string(f->model_type), q, s});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QuantizedModelTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name(); });

// A backend that holds no quantized weights refuses them before loading anything, saying what
// to do; the CPU backend holds every format.
TEST(QuantizedLoad, TheCpuBackendHoldsEveryFormat) {
  CpuBackend cpu(1);
  for (QuantFormat q : {QuantFormat::kNone, QuantFormat::kInt8, QuantFormat::kInt4,
                        QuantFormat::kFp8, QuantFormat::kMxfp4})
    EXPECT_TRUE(cpu.holds(q)) << quant_format_name(q);
}

TEST(QuantizedLoad, FormatNamesRoundTripAndUnknownOnesAreRefused) {
  for (QuantFormat q : {QuantFormat::kNone, QuantFormat::kInt8, QuantFormat::kInt4,
                        QuantFormat::kFp8, QuantFormat::kMxfp4}) {
    auto parsed = parse_quant_format(quant_format_name(q));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, q);
  }
  auto bad = parse_quant_format("q4_k_m");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("int8, int4, fp8 or mxfp4"), std::string::npos);
}

}  // namespace
}  // namespace sieve::testing
