#include "models/tests/model_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "models/quantized_checkpoint.h"
#include "tests/support/fixtures.h"

#if defined(SIEVE_TEST_CUDA)
#include "engine/backends/cuda_backend.h"
#endif

namespace sieve::testing {

bool testing_cuda() {
#if defined(SIEVE_TEST_CUDA)
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Backend> make_test_backend(int threads) {
#if defined(SIEVE_TEST_CUDA)
  return std::make_unique<CudaBackend>();
#else
  return std::make_unique<CpuBackend>(threads);
#endif
}

LoadedModel load_fixture_model(const std::string& relative, DType dtype, int threads) {
  return load_model_at(fixture_path(relative), dtype, threads);
}

LoadedModel load_model_at(const std::string& path, WeightFormat weights, int threads) {
  LoadedModel m;
  m.backend = make_test_backend(threads);
  auto dir = open_model_dir(path);
  if (!dir.ok()) {
    ADD_FAILURE() << dir.status().to_string();
    return m;
  }
  m.dir = std::move(dir).value();
  auto model = load_model(m.dir, *m.backend, weights);
  if (!model.ok()) {
    ADD_FAILURE() << model.status().to_string();
    return m;
  }
  m.model = std::move(model).value();
  return m;
}

std::string write_quantized_copy(const std::string& from, const std::string& tag,
                                 QuantMethod method) {
  ConvertCheckpointOptions o;
  o.from = from;
  o.dir = make_temp_dir(tag);
  o.dtype = DType::kF32;
  o.quant.method = method;
  if (method == QuantMethod::kFp8) {
    o.quant.block_n = 48;
    o.quant.block_k = 48;
  }
  Status s = convert_checkpoint(o);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return o.dir;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  return nlohmann::json::parse(in);
}

std::vector<std::vector<float>> run_step(Model& model, KvCache& kv,
                                         const std::vector<SeqChunk>& chunks, ForwardTrace* trace) {
  const int64_t bs = kv.block_size();
  ForwardBatch b;
  b.query_start.push_back(0);
  int64_t max_blocks = 0;
  for (const SeqChunk& c : chunks) {
    const int64_t len = c.start + static_cast<int64_t>(c.tokens.size());
    max_blocks = std::max(max_blocks, (len + bs - 1) / bs);
  }
  b.max_blocks_per_seq = max_blocks;
  for (const SeqChunk& c : chunks) {
    const int64_t row0 = b.num_tokens();
    const int64_t n = static_cast<int64_t>(c.tokens.size());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = c.start + i;
      b.token_ids.push_back(c.tokens[i]);
      b.positions.push_back(static_cast<int32_t>(p));
      b.slots.push_back((c.first_block + p / bs) * bs + p % bs);
      if (c.all_logits || i == n - 1) b.logit_rows.push_back(static_cast<int32_t>(row0 + i));
    }
    b.query_start.push_back(static_cast<int32_t>(b.num_tokens()));
    b.context_lens.push_back(static_cast<int32_t>(c.start + n));
    for (int64_t j = 0; j < max_blocks; ++j) {
      b.block_tables.push_back(static_cast<int32_t>(c.first_block + j));
    }
  }
  const int64_t vocab = model.config().vocab_size;
  std::vector<float> flat(b.logit_rows.size() * vocab);
  model.forward(b, kv, flat.data(), trace);
  std::vector<std::vector<float>> rows;
  for (size_t r = 0; r < b.logit_rows.size(); ++r) {
    rows.emplace_back(flat.begin() + r * vocab, flat.begin() + (r + 1) * vocab);
  }
  return rows;
}

std::vector<std::vector<int32_t>> greedy_on(Engine& engine,
                                            const std::vector<std::vector<int32_t>>& prompts,
                                            int64_t max_tokens) {
  std::vector<std::vector<int32_t>> out(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerationRequest r;
    r.prompt_token_ids = prompts[i];
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    RequestSink sink;
    sink.on_finish = [&out, i](RequestOutput&& o) { out[i] = o.output_token_ids; };
    EXPECT_TRUE(engine.add_request(std::move(r), std::move(sink)).ok());
  }
  while (engine.has_unfinished())
    engine.step();
  return out;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    m = std::max(m, std::abs(a[i] - b[i]));
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
  }
  return m;
}

float batch_variation_bound(DType weights) {
  if (!testing_cuda()) return 0.0f;
  return weights == DType::kBF16 ? 1e-2f : 1e-3f;
}

float top2_margin(const std::vector<float>& logits) {
  float first = -INFINITY, second = -INFINITY;
  for (float v : logits) {
    if (v > first) {
      second = first;
      first = v;
    } else if (v > second) {
      second = v;
    }
  }
  return first - second;
}

std::vector<float> GreedyComparer::logits_before(const std::vector<int32_t>& prompt,
                                                 const std::vector<int32_t>& want, size_t step) {
  std::vector<int32_t> tokens = prompt;
  tokens.insert(tokens.end(), want.begin(), want.begin() + static_cast<std::ptrdiff_t>(step));
  const int64_t block_size = 16;
  KvCache kv(backend_, model_.kv_layout(), block_size,
             static_cast<int64_t>(tokens.size()) / block_size + 1);
  return run_step(model_, kv, {{tokens, 0, 0, false}})[0];
}

void GreedyComparer::expect_same(const std::vector<int32_t>& prompt,
                                 const std::vector<int32_t>& got, const std::vector<int32_t>& want,
                                 const std::string& what) {
  if (bound_ == 0.0f || got == want) {
    EXPECT_EQ(got, want) << what;
    return;
  }
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t step = 0;
  while (got[step] == want[step])
    ++step;
  const float margin = top2_margin(logits_before(prompt, want, step));
  std::printf(
      "%s: parts from the reference at step %zu (%d instead of %d), where the "
      "reference's top-2 margin is %.5f (allowed below %.5f)\n",
      what.c_str(), step, got[step], want[step], margin, 4 * bound_);
  EXPECT_LT(margin, 4 * bound_) << what << ": greedy tokens part at step " << step
                                << " although the reference's top-2 margin there is " << margin;
}

}  // namespace sieve::testing
