// Timed engine runs shared by the engine benchmarks (sieve-cpu-bench, sieve-gpu-bench): random
// prompts through a real Engine, greedy, EOS ignored, so every step has the full batch.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/engine.h"
#include "tools/bench/bench_util.h"

namespace sieve::bench {

// Seconds per decode step of each of `blocks` blocks of `steps_per_block` steps: `batch`
// sequences of `prompt_len` tokens prefilled (several steps when they exceed the token budget:
// each sequence's first token comes with its last prefill chunk), two decode steps as warm-up
// (the first captures a CUDA graph bucket), then the blocks. `between` runs before the first
// block and after every block, outside the timing: sieve-cpu-bench samples the memory bandwidth
// there, so each block has a reference taken at the same moment.
inline std::vector<double> decode_block_seconds(Model& model, Backend& backend,
                                                const EngineOptions& base, int64_t batch,
                                                int64_t prompt_len, int64_t blocks,
                                                int64_t steps_per_block,
                                                const std::function<void()>& between) {
  EngineOptions o = base;
  o.max_num_seqs = batch;
  o.max_num_batched_tokens = std::max(base.max_num_batched_tokens, prompt_len);
  Engine engine(model, backend, o);
  for (int64_t i = 0; i < batch; ++i) {
    GenerationRequest r;
    r.prompt_token_ids = random_prompt(prompt_len, model.config().vocab_size, 100 + i);
    r.params.temperature = 0;
    r.params.ignore_eos = true;
    r.params.max_tokens = blocks * steps_per_block + 3;
    (void)engine.add_request(std::move(r), {});
  }
  while (engine.stats().generated_tokens < batch)
    engine.step();
  engine.step();
  engine.step();
  std::vector<double> seconds;
  if (between) between();
  for (int64_t b = 0; b < blocks; ++b) {
    const auto t0 = Clock::now();
    for (int64_t s = 0; s < steps_per_block; ++s)
      engine.step();
    seconds.push_back(seconds_since(t0) / static_cast<double>(steps_per_block));
    if (between) between();
  }
  return seconds;
}

// Seconds per decode step over `steps` timed steps (one block of decode_block_seconds).
inline double decode_step_seconds(Model& model, Backend& backend, const EngineOptions& base,
                                  int64_t batch, int64_t prompt_len, int64_t steps) {
  return decode_block_seconds(model, backend, base, batch, prompt_len, 1, steps, nullptr)[0];
}

// Seconds of the fastest of `reps` single-step prefills of one `len`-token prompt.
inline double best_prefill_seconds(Model& model, Backend& backend, const EngineOptions& base,
                                   int64_t len, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    EngineOptions o = base;
    o.max_num_seqs = 1;
    o.max_num_batched_tokens = len;
    Engine engine(model, backend, o);
    GenerationRequest req;
    req.prompt_token_ids = random_prompt(len, model.config().vocab_size, 7 + r);
    req.params.max_tokens = 1;
    (void)engine.add_request(std::move(req), {});
    const auto t0 = Clock::now();
    engine.step();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

}  // namespace sieve::bench
