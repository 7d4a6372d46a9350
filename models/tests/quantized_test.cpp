// Quantized weights through the whole model, on every fixture family: a model loaded with
// --quantization against the same model with its weights dequantized to fp32.
//
// The pair is built so that both hold exactly the same weight values: each fixture tensor that
// the quantization touches is first rounded to the format's grid (quantized and read back), and
// that "grid" checkpoint is what both load — once quantized on load (which finds every value
// already on its grid and keeps it), once at fp32. So the two models differ only in how the
// products are computed: the integer formats quantize each activation row to int8 in blocks
// of 32 (relative error up to 1/254 of a block's largest value per element), FP8 rounds each
// activation to bf16 (relative error up to 2^-8 of the value itself) and sums pairs as
// vdpbf16ps does. The logit band below is set from that; greedy continuations
// must agree except where a router or the final logits sit at a tie that rounding decides.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/checkpoint/checkpoint.h"
#include "kernels/cpu/gemm.h"
#include "models/blocks/decoder.h"
#include "models/tests/model_test_util.h"
#include "tests/support/fixtures.h"

namespace sieve::testing {
namespace {

// kExperts, kAll: --quantization on the experts, or on every projection (--quantize-dense).
// kStored: a checkpoint written quantized (fp8 or mxfp4, as releases store them) and kept so in
// memory, against the same checkpoint dequantized as it loads.
enum class Scope { kExperts, kAll, kStored };

struct QuantCase {
  std::string family;
  QuantFormat format;
  Scope scope;
  std::string name() const {
    static const char* const kSuffix[] = {"_experts", "_all", "_stored"};
    return family + "_" + quant_format_name(format) + kSuffix[static_cast<int>(scope)];
  }
  WeightFormat weights() const {
    WeightFormat w(DType::kF32);
    if (scope == Scope::kStored) {
      w.keep_stored = true;
      return w;
    }
    w.experts = format;
    if (scope == Scope::kAll) w.dense = format;
    return w;
  }
};

void PrintTo(const QuantCase& c, std::ostream* os) {
  *os << c.name();
}

// Whether loading with `scope` quantizes this tensor (models/blocks/weight_source.h: routed
// experts; with kAll also every dense projection and the lm_head, a tied one included; never
// norms, routers or an untied embedding table).
bool quantized_by(const DeclaredTensor& t, Scope scope) {
  if (t.init == InitRole::kBias) return false;  // expert biases are vectors
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
        // Each [n, k] matrix the engine multiplies: a stacked in-major tensor [experts, k, n]
        // holds one per expert, transposed.
        const int64_t count = t.shape.size() == 3 ? t.shape[0] : 1;
        const int64_t a = t.shape[t.shape.size() - 2], b = t.shape.back();
        const int64_t n = t.in_major ? b : a, k = t.in_major ? a : b;
        std::vector<float> m(static_cast<size_t>(n * k));
        for (int64_t e = 0; e < count; ++e) {
          float* w = f + e * n * k;
          auto at = [&](int64_t r, int64_t col) -> float& {
            return t.in_major ? w[col * n + r] : w[r * k + col];
          };
          for (int64_t r = 0; r < n; ++r)
            for (int64_t col = 0; col < k; ++col)
              m[r * k + col] = at(r, col);
          const kernels::PackedMatrix q = kernels::quantize_matrix(
              m.data(), kernels::ElemType::kF32, n, k, cpu_elem_type(c.format));
          for (int64_t r = 0; r < n; ++r)
            for (int64_t col = 0; col < k; ++col)
              at(r, col) = kernels::packed_at(q, r, col);
        }
      });
  EXPECT_TRUE(s.ok()) << s.to_string();
  return out;
}

struct Pair {
  LoadedModel quantized, dequantized;
  LoadedModel rounded;  // the grid checkpoint at bf16 weights, fp32 activations
};

Pair load_pair(const QuantCase& c) {
  const std::string grid =
      c.scope == Scope::kStored
          ? write_quantized_copy(
                fixture_path("models/" + c.family), "stored_" + c.name(),
                c.format == QuantFormat::kFp8 ? QuantMethod::kFp8 : QuantMethod::kMxfp4)
          : write_grid_checkpoint(c);
  Pair p;
  p.quantized = load_model_at(grid, c.weights());
  p.dequantized = load_model_at(grid, WeightFormat(DType::kF32));
  p.rounded = load_model_at(grid, WeightFormat(DType::kBF16));
  std::filesystem::remove_all(grid);
  return p;
}

// The band on the logits, from the activation rounding: int8 (integer formats) or bf16 (FP8);
// see the file comment.
// FP8: the bf16 activations, measured 0.011-0.035 across the families and scopes — what the
// engine's bf16 mode measures on these fixtures where routing agrees (0.02-0.03), as expected
// of the same per-activation rounding; 0.05 keeps the margin the integer formats' band keeps
// over its largest measured difference (~1.4×). Integer formats: the int8
// activations, measured 0.04-0.18 across the families, formats and scopes (largest |logit|
// ~9) — the size of transformers' own bf16-vs-fp32 difference on these fixtures where routing
// agrees (0.06-0.13, golden_test.cpp), as expected of a rounding ~1/254 of each 32-block's
// largest activation.
float logit_band(QuantFormat q) {
  return q == QuantFormat::kFp8 ? 0.05f : 0.25f;
}
//
// Models differ in how far a rounding carries to the logits: gpt-oss's fixture (expert
// pre-activations scaled up 4×, the clamped SwiGLU's (up + 1) factor) moves ~40× more than the
// others when transformers rounds its weights to bf16 (precision_summary). So each model's
// sensitivity s is measured here too — the largest logit change, where routing agrees, from
// loading the same grid checkpoint at bf16 weights (0.034-0.066 on the three families above,
// 0.14-0.27 on gpt-oss) — and the band is at least a multiple of it: 1.5 s for FP8 (bf16
// activations are the same per-element rounding as bf16 weights; measured 0.5-1.1 s), 5 s for
// the integer formats (a 32-block's int8 rounding is up to 2× a bf16 one, on top of the
// weights' own grid; measured 1.4-3.8 s).
float band_for(QuantFormat q, float sensitivity) {
  return std::max(logit_band(q), (q == QuantFormat::kFp8 ? 1.5f : 5.0f) * sensitivity);
}

// Prompt positions [0, result) at which every MoE layer routed each token to the same set of
// experts in both traces. A tiny fixture's routers sit within ~0.002 of a tie (golden.json's
// router_min_margin_per_prompt), so any rounding can send a token to another expert, and from
// there its logits are another computation's; transformers' own bf16 run differs from its fp32
// run by up to 2.4 in the logits for that reason (precision_summary). Before that, the logits
// differ only by the rounding, and that is what the band holds.
int64_t positions_routed_alike(const ForwardTrace& a, const ForwardTrace& b,
                               const ModelConfig& config) {
  const int64_t k = config.top_k;
  int64_t tokens = -1;
  for (size_t l = 0; l < a.router_ids.size(); ++l) {
    if (a.router_ids[l].empty()) continue;
    const int64_t n = static_cast<int64_t>(a.router_ids[l].size()) / k;
    if (tokens < 0) tokens = n;
    for (int64_t t = 0; t < std::min(tokens, n); ++t) {
      std::vector<int32_t> x(a.router_ids[l].begin() + t * k,
                             a.router_ids[l].begin() + (t + 1) * k);
      std::vector<int32_t> y(b.router_ids[l].begin() + t * k,
                             b.router_ids[l].begin() + (t + 1) * k);
      std::sort(x.begin(), x.end());
      std::sort(y.begin(), y.end());
      if (x != y) {
        tokens = t;
        break;
      }
    }
  }
  return std::max<int64_t>(tokens, 0);
}

// Whether two greedy continuations may part after `seq` (the prompt and the tokens they agreed
// on): when some token of it was routed to other experts by the two models (from there the
// computations differ, as above), or when the dequantized model's top-2 margin there is within
// twice the band (each model's logits within the band of the other's could order them either
// way). Anything else is a wrong product.
bool departure_explained(Pair& p, const std::vector<int32_t>& seq, float band) {
  std::vector<std::vector<float>> logits[2];
  ForwardTrace trace[2];
  int i = 0;
  for (LoadedModel* m : {&p.quantized, &p.dequantized}) {
    KvCache kv(*m->backend, m->model->config(), 16, 64);
    logits[i] = run_step(*m->model, kv, {{seq, 0, 0, false}}, &trace[i]);
    ++i;
  }
  const int64_t alike = positions_routed_alike(trace[0], trace[1], p.dequantized.model->config());
  const float margin = top2_margin(logits[1].back());
  std::printf("    parting after %zu tokens: routed alike for %lld, top-2 margin %.4f\n",
              seq.size(), static_cast<long long>(alike), margin);
  return alike < static_cast<int64_t>(seq.size()) || margin <= 2 * band;
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
  float worst = 0, sensitivity = 0;
  int64_t compared = 0, positions = 0;
  for (size_t j = 0; j < prompts.size(); ++j) {
    const auto& prompt = prompts[j];
    std::vector<std::vector<float>> logits[3];
    ForwardTrace trace[3];
    int i = 0;
    for (LoadedModel* m : {&p.quantized, &p.dequantized, &p.rounded}) {
      KvCache kv(*m->backend, m->model->config(), 16, 64);
      logits[i] = run_step(*m->model, kv, {{prompt, 0, 0, true}}, &trace[i]);
      ++i;
    }
    ASSERT_EQ(logits[0].size(), prompt.size());
    const ModelConfig& config = p.dequantized.model->config();
    const int64_t same = positions_routed_alike(trace[0], trace[1], config);
    for (int64_t t = 0; t < same; ++t)
      worst = std::max(worst, max_abs_diff(logits[0][t], logits[1][t]));
    const int64_t same_rounded = positions_routed_alike(trace[2], trace[1], config);
    for (int64_t t = 0; t < same_rounded; ++t)
      sensitivity = std::max(sensitivity, max_abs_diff(logits[2][t], logits[1][t]));
    compared += same;
    positions += static_cast<int64_t>(prompt.size());
  }
  const float band = band_for(c.format, sensitivity);
  std::printf(
      "[ %s ] largest logit difference %.3g over the %lld of %lld prompt positions "
      "routed alike (band %.3g; bf16 weights move this model's logits by %.3g)\n",
      c.name().c_str(), worst, static_cast<long long>(compared), static_cast<long long>(positions),
      band, sensitivity);
  EXPECT_LE(worst, band);
  EXPECT_GT(compared, 0);

  std::vector<std::vector<int32_t>> tokens[2];
  int i = 0;
  for (LoadedModel* m : {&p.quantized, &p.dequantized}) {
    EngineOptions o;
    o.max_num_seqs = 8;
    Engine engine(*m->model, *m->backend, o);
    tokens[i++] = greedy_on(engine, prompts, 16);
  }
  for (size_t j = 0; j < prompts.size(); ++j) {
    const auto& got = tokens[0][j];
    const auto& want = tokens[1][j];
    size_t k = 0;
    while (k < want.size() && got[k] == want[k])
      ++k;
    std::printf("[ %s ] prompt %zu: greedy tokens agree for %zu of %zu\n", c.name().c_str(), j, k,
                want.size());
    if (k == want.size()) continue;
    // They part at step k: allowed only where the rounding could decide it (see
    // departure_explained).
    std::vector<int32_t> seq = prompts[j];
    seq.insert(seq.end(), want.begin(), want.begin() + static_cast<std::ptrdiff_t>(k));
    EXPECT_TRUE(departure_explained(p, seq, band))
        << c.name() << " prompt " << j << ": greedy tokens part at step " << k << " (" << got[k]
        << " vs " << want[k] << ") with the same routing and a clear top-2 margin";
  }
}

std::vector<QuantCase> cases() {
  std::vector<QuantCase> out;
  for (const Family* f : supported_families()) {
    for (QuantFormat q :
         {QuantFormat::kInt8, QuantFormat::kInt4, QuantFormat::kFp8, QuantFormat::kMxfp4}) {
      for (Scope s : {Scope::kExperts, Scope::kAll})
        out.push_back({std::string(f->model_type), q, s});
      if (q == QuantFormat::kFp8 || q == QuantFormat::kMxfp4)
        out.push_back({std::string(f->model_type), q, Scope::kStored});
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

// Weights a format cannot hold are a load error naming the checkpoint and the tensor, not a
// crash: a NaN in a projection that --quantization int8 is asked to quantize, in per-expert
// tensors (Qwen3-MoE) and in stacked ones (gpt-oss).
class QuantizedLoadError : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizedLoadError, AWeightTheFormatCannotHoldIsALoadError) {
  auto dir = open_model_dir(fixture_path("models/" + GetParam()));
  ASSERT_TRUE(dir.ok()) << dir.status().to_string();
  const TensorList tensors = declare_decoder(dir->config, dir->family->recipe(dir->config));
  std::vector<SafetensorsWriteEntry> entries;
  for (const DeclaredTensor& t : tensors)
    entries.push_back({t.name, DType::kF32, t.shape});
  const std::string out = make_temp_dir("quantized_nan");
  ASSERT_TRUE(write_checkpoint(out, dir->checkpoint->config(), entries, [&](size_t i, void* dst) {
                const DeclaredTensor& t = tensors[i];
                float* f = static_cast<float*>(dst);
                EXPECT_TRUE(dir->checkpoint->read(t.name, DType::kF32, f).ok());
                if (t.use == ParamUse::kRoutedExpert && t.init != InitRole::kBias) {
                  f[3] = std::nanf("");
                }
              }).ok());
  auto poisoned = open_model_dir(out);
  ASSERT_TRUE(poisoned.ok()) << poisoned.status().to_string();
  CpuBackend cpu(1);
  WeightFormat w(DType::kF32);
  w.experts = QuantFormat::kInt8;
  auto model = load_model(*poisoned, cpu, w);
  ASSERT_FALSE(model.ok());
  const std::string& msg = model.status().message();
  EXPECT_NE(msg.find(out), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.layers.0.mlp.experts."), std::string::npos) << msg;
  EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
  std::printf("%s\n", msg.c_str());
  std::filesystem::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, QuantizedLoadError, ::testing::Values("qwen3_moe", "gpt_oss"));

// Loading quantizes a large matrix in slices over the thread pool; the slices hold what one
// piece would: the same products, bit for bit, for every format.
TEST(QuantizedLoad, QuantizingInSlicesGivesTheOnePieceMatrix) {
  const int64_t n = 300, k = 4096, m = 3;  // n·k above the size that is sliced; n not a
                                           // multiple of 32, so the last slice is partial
  std::vector<float> w(static_cast<size_t>(n * k)), x(static_cast<size_t>(m * k));
  uint32_t state = 12345;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / 16777216.0f - 0.5f;
  };
  for (float& v : w)
    v = next();
  for (float& v : x)
    v = next();
  for (QuantFormat q :
       {QuantFormat::kInt8, QuantFormat::kInt4, QuantFormat::kFp8, QuantFormat::kMxfp4}) {
    std::vector<float> y[2];
    int i = 0;
    for (int threads : {3, 1}) {
      CpuBackend cpu(threads);
      auto mat = cpu.make_matrix(w.data(), DType::kF32, n, k, MatrixFormat{DType::kF32, q});
      Tensor xt = Tensor::wrap(x.data(), {m, k}, DType::kF32, nullptr);
      Tensor yt = Tensor::empty({m, n}, DType::kF32);
      cpu.linear({&xt, mat.get(), &yt});
      y[i++].assign(yt.data<float>(), yt.data<float>() + m * n);
    }
    EXPECT_EQ(y[0], y[1]) << quant_format_name(q);
  }
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
