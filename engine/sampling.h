// Per-request sampling parameters and the sampler that turns one row of logits into a token
// (and, when asked, log-probabilities). Greedy is temperature 0; ties go to the lower id.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/text/text_stream.h"

namespace sieve {

struct SamplingParams {
  int64_t max_tokens = 16;
  float temperature = 1.0f;  // 0: greedy
  float top_p = 1.0f;        // (0, 1]
  int64_t top_k = 0;         // 0 or -1: all tokens
  float min_p = 0.0f;        // [0, 1]: drop tokens below min_p × the top probability
  // Penalties on tokens already seen, applied to the logits before everything above (as in
  // vLLM and the OpenAI API): repetition divides a positive logit (multiplies a negative one)
  // of every token in the prompt or the output; frequency subtracts its count in the output
  // times the penalty; presence subtracts the penalty once for any token in the output.
  float presence_penalty = 0.0f;    // [-2, 2]
  float frequency_penalty = 0.0f;   // [-2, 2]
  float repetition_penalty = 1.0f;  // > 0; 1 is off
  std::optional<uint64_t> seed;
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  // Text stops (need the engine's tokenizer): the output ends where one first appears, even
  // across token boundaries; the stop string itself is left out unless asked for.
  std::vector<std::string> stop;
  bool include_stop_str_in_output = false;
  bool skip_special_tokens = true;         // in the output text
  std::optional<int64_t> logprobs;         // N: the sampled token and the top-N per token
  std::optional<int64_t> prompt_logprobs;  // N: the same for every prompt token after the first
};

// The part of p that shapes the output text (stop strings, special tokens).
TextStreamOptions text_stream_options(const SamplingParams& p);

// Checks ranges against the model's vocabulary; the message names the field.
Status validate_sampling(const SamplingParams& p, int64_t vocab_size);

struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0.f;
};

// The log-softmax of the raw logits at `chosen`, followed by the `top_n` most likely other
// tokens (most likely first, ties to the lower id).
std::vector<TokenLogprob> token_logprobs(std::span<const float> logits, int32_t chosen,
                                         int64_t top_n);

bool has_penalties(const SamplingParams& p);

// Applies p's penalties to one row of logits in place, given the prompt and the tokens
// generated so far.
void apply_penalties(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> prompt, std::span<const int32_t> output);

// Draws the next token. Greedy ignores `rng`; otherwise the distribution is the softmax of
// logits / temperature, cut to top_k, then to min_p, then to the smallest prefix of
// probability mass ≥ top_p.
int32_t sample_token(std::span<const float> logits, const SamplingParams& p, std::mt19937_64& rng);

}  // namespace sieve
