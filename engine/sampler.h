// The host sampler: one row of logits into a token under a request's SamplingParams (and, when
// asked, log-probabilities). Greedy is temperature 0; ties go to the lower id. The CUDA backend
// draws the same way on the device (kernels/cuda/sampling.h).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/sampling_params.h"

namespace sieve {

struct TokenLogprob {
  int32_t token_id = 0;
  float logprob = 0.f;
  int64_t rank = 0;  // 1 + tokens more likely (ties to the lower id): 1 is the most likely
};

// The log-softmax of the raw logits at `chosen`, followed by the `top_n` most likely other
// tokens (most likely first, ties to the lower id), each with its rank in the vocabulary.
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
