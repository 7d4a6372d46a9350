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

// Loads fixtures/<relative> holding weights as `dtype`; fails the test on error.
LoadedModel load_fixture_model(const std::string& relative, DType dtype, int threads = 2);

nlohmann::json read_json(const std::string& path);

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

}  // namespace sieve::testing
