// The engine on quantized copies of the fixture models (make-checkpoint --from --quantization):
// loaded dequantized (WeightFormat::keep_stored off), an fp8 or mxfp4 copy must give exactly the
// logits of its dequantized copy (both dequantize the same bytes), and stay near transformers'
// goldens for the unquantized model as far as the quantization error allows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "engine/engine.h"
#include "models/quantized_checkpoint.h"
#include "models/tests/model_test_util.h"
#include "tests/support/fixtures.h"

namespace sieve::testing {
namespace {

using Tokens = std::vector<std::vector<int32_t>>;

struct QuantCase {
  std::string family;
  QuantMethod method;
};

void PrintTo(const QuantCase& c, std::ostream* os) {
  *os << c.family << "_" << quant_method_name(c.method);
}

// Every position's logits of every prompt, each prompt in its own step.
std::vector<std::vector<float>> all_logits(LoadedModel& m, const Tokens& prompts) {
  std::vector<std::vector<float>> rows;
  for (const auto& p : prompts) {
    KvCache kv(*m.backend, m.model->config(), /*block_size=*/16, /*num_blocks=*/16);
    for (auto& r : run_step(*m.model, kv, {{p, 0, 0, true}}))
      rows.push_back(std::move(r));
  }
  return rows;
}

Tokens greedy(LoadedModel& m, const Tokens& prompts) {
  EngineOptions o;
  o.num_kv_blocks = 64;
  Engine engine(*m.model, *m.backend, o);
  return greedy_on(engine, prompts);
}

class QuantizedModelTest : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QuantizedModelTest, SameLogitsAsTheDequantizedCopyAndNearTheGoldens) {
  const QuantCase& c = GetParam();
  const std::string fixture = "models/" + c.family;
  const std::string quantized = write_quantized_copy(fixture_path(fixture), "qm", c.method);
  const std::string dequantized = write_quantized_copy(quantized, "qm-deq", QuantMethod::kNone);
  const nlohmann::json golden = read_json(fixture_path(fixture + "/golden.json"));
  const Tokens prompts = golden["prompts"].get<Tokens>();

  for (DType dtype : {DType::kF32, DType::kBF16}) {
    SCOPED_TRACE(dtype_name(dtype));
    LoadedModel q = load_model_at(quantized, dtype);
    LoadedModel d = load_model_at(dequantized, dtype);
    ASSERT_TRUE(q.model && d.model);
    EXPECT_EQ(q.dir.checkpoint->quantization().method, c.method);
    EXPECT_EQ(all_logits(q, prompts), all_logits(d, prompts));
    EXPECT_EQ(greedy(q, prompts), greedy(d, prompts));
  }

  // Against transformers on the unquantized weights: the last logits move by the quantization
  // error δ; where the golden's top-2 margin exceeds 2δ the first greedy token cannot change.
  // How far they move is the format's noise amplified by routing: these tiny random models
  // route on small margins, so one flipped expert moves a logit row by ~40% (bf16 weights alone
  // move mixtral's third prompt by 2.4). Observed relative L2 errors: fp8 0.03-0.38 (mean per
  // family 0.04-0.16), mxfp4 0.13-0.42 (mean 0.16-0.27); unrelated weights would give ~1.4. The
  // ceilings below sit between.
  double rel_sum = 0;
  LoadedModel q = load_model_at(quantized, DType::kF32);
  ASSERT_TRUE(q.model);
  const auto got = greedy(q, prompts);
  for (size_t i = 0; i < prompts.size(); ++i) {
    KvCache kv(*q.backend, q.model->config(), 16, 16);
    const auto last = run_step(*q.model, kv, {{prompts[i], 0, 0, false}})[0];
    const auto want_logits = golden["logits_last"][i].get<std::vector<float>>();
    const float delta = max_abs_diff(last, want_logits);
    double err2 = 0, norm2 = 0;
    for (size_t v = 0; v < last.size(); ++v) {
      err2 += (last[v] - want_logits[v]) * (last[v] - want_logits[v]);
      norm2 += want_logits[v] * want_logits[v];
    }
    const double rel = std::sqrt(err2 / norm2);
    const float margin = golden["last_top2_margin"][i].get<float>();
    const auto want = golden["greedy"][i]["new_tokens"].get<std::vector<int32_t>>();
    size_t same = 0;
    while (same < want.size() && same < got[i].size() && got[i][same] == want[same])
      ++same;
    std::printf(
        "[ quantized ] %s %s prompt %zu: max |logit - golden| %.4f, relative L2 %.4f "
        "(golden top-2 margin %.4f), greedy agrees with the golden for %zu of %zu tokens\n",
        c.family.c_str(), quant_method_name(c.method), i, delta, rel, margin, same, want.size());
    rel_sum += rel;
    EXPECT_LT(rel, 0.6) << "prompt " << i;
    if (margin > 2 * delta) {
      ASSERT_FALSE(got[i].empty());
      EXPECT_EQ(got[i][0], want[0]) << "prompt " << i;
    }
  }
  EXPECT_LT(rel_sum / prompts.size(), c.method == QuantMethod::kFp8 ? 0.25 : 0.4);
}

INSTANTIATE_TEST_SUITE_P(Families, QuantizedModelTest,
                         ::testing::Values(QuantCase{"qwen3_moe", QuantMethod::kFp8},
                                           QuantCase{"qwen3_moe", QuantMethod::kMxfp4},
                                           QuantCase{"mixtral", QuantMethod::kFp8},
                                           QuantCase{"mixtral", QuantMethod::kMxfp4},
                                           QuantCase{"olmoe", QuantMethod::kFp8},
                                           QuantCase{"olmoe", QuantMethod::kMxfp4}),
                         [](const auto& info) {
                           return info.param.family + "_" + quant_method_name(info.param.method);
                         });

}  // namespace
}  // namespace sieve::testing
