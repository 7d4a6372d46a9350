// Shared by the model tests: load a fixture model on the CPU backend and run prompts through
// it with hand-built forward batches (no scheduler), so tests can pick exact chunkings.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/backends/cpu_backend.h"
#include "engine/backends/kv_cache.h"
#include "engine/engine.h"
#include "models/registry.h"

namespace sieve::testing {

// The backend the model tests run on: the CPU backend, or the CUDA backend in the GPU build of
// the same tests (compiled with SIEVE_TEST_CUDA).
std::unique_ptr<Backend> make_test_backend(int threads = 2);
bool testing_cuda();

struct LoadedModel {
  std::unique_ptr<Backend> backend;
  ModelDir dir;
  std::unique_ptr<Model> model;
};

// Loads the model directory `path` holding weights as `weights` says; fails the test on error
// (the returned model is then null).
LoadedModel load_model_at(const std::string& path, WeightFormat weights, int threads = 2);
// Loads fixtures/<relative> holding weights as `dtype`; fails the test on error.
LoadedModel load_fixture_model(const std::string& relative, DType dtype, int threads = 2);

nlohmann::json read_json(const std::string& path);

// The checkpoint at `from` written to a new temporary directory (named after `tag`) as
// `method` stores it (models/quantized_checkpoint.h), plain tensors in fp32; with kNone, its
// dequantized copy. fp8 uses 48x48 blocks, smaller than the fixtures' 64-wide matrices, so
// scales vary inside each matrix and the edge blocks are partial. Returns the directory.
std::string write_quantized_copy(const std::string& from, const std::string& tag,
                                 QuantMethod method);

// A sequence to run in one forward step: its tokens from position `start` on, with K/V of
// positions [0, start) already in `kv` from earlier steps.
struct SeqChunk {
  std::vector<int32_t> tokens;  // the new tokens
  int64_t start = 0;
  int64_t first_block = 0;  // the sequence owns blocks first_block, first_block + 1, ...
  bool all_logits = false;  // logits of every new token, else only the last
};

// Runs one step over `chunks` and returns the requested logits rows, in order.
std::vector<std::vector<float>> run_step(Model& model, KvCache& kv,
                                         const std::vector<SeqChunk>& chunks,
                                         ForwardTrace* trace = nullptr);

// Greedy continuations (max_tokens each, EOS ignored) of every prompt, submitted together to
// `engine` and run to completion.
std::vector<std::vector<int32_t>> greedy_on(Engine& engine,
                                            const std::vector<std::vector<int32_t>>& prompts,
                                            int64_t max_tokens = 16);

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);

// How far a sequence's logits may move with what else is in its step and how its prompt was
// chunked, by the backend's promise (engine/README.md, invariants): 0 on the CPU backend (bit
// for bit); on the CUDA backend, which picks kernels per shape and so sums in other orders,
// 1e-3 with fp32 weights and 1e-2 with bf16 ones (a different fp32 sum can move a value across
// a bf16 rounding boundary, one bf16 ulp, 2^-8 relative).
float batch_variation_bound(DType weights);

// Largest minus second-largest of `logits`: how close greedy decoding was to another token.
float top2_margin(const std::vector<float>& logits);

// Greedy continuations of one prompt on one model, held to the backend's promise: `got` (from
// some batch or chunking) must equal `want` (the reference, e.g. the prompt alone), except that
// with a bound > 0 they may part at a step where the reference's top-2 margin is within
// 4 × bound: 2 × for two logit rows each within the bound of the sequence's own, 2 × because the
// margin is measured here in yet another chunking (one step over the prompt and want's tokens
// so far). Past that step the continuations are different texts and are not compared.
class GreedyComparer {
 public:
  GreedyComparer(Model& model, Backend& backend, float bound)
      : model_(model), backend_(backend), bound_(bound) {}
  void expect_same(const std::vector<int32_t>& prompt, const std::vector<int32_t>& got,
                   const std::vector<int32_t>& want, const std::string& what);

 private:
  // Logits after prompt + want[0, step): the ones greedy decoding chose want[step] from.
  std::vector<float> logits_before(const std::vector<int32_t>& prompt,
                                   const std::vector<int32_t>& want, size_t step);

  Model& model_;
  Backend& backend_;
  float bound_;
};

}  // namespace sieve::testing
