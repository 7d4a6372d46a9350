// A request as the engine runs it: its tokens, how many of them have K/V in the cache, the KV
// pages that hold them, its random stream and the output built so far. The Scheduler owns every
// Sequence; only the thread that owns the Engine touches one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "engine/request.h"
#include "engine/text/text_stream.h"

namespace sieve {

struct Sequence {
  std::shared_ptr<Request> request;
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int64_t prompt_len = 0;
  int64_t num_computed = 0;     // tokens whose K/V are in the cache
  int64_t max_len = 0;          // prompt_len + max_tokens, capped at max_model_len
  std::vector<int32_t> blocks;  // KV pages covering the tokens computed or scheduled
  int64_t num_registered = 0;   // leading pages registered in the prefix cache
  bool admitted_once = false;
  std::optional<TextStream> text;  // with a tokenizer
  std::mt19937_64 rng;
  uint64_t seed = 0;  // of rng, and of the Philox stream when the backend samples
  RequestOutput out;

  uint64_t id() const { return request->id; }
  const SamplingParams& params() const { return request->input.params; }
  int64_t priority() const { return request->input.priority; }
  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  // Tokens known but not yet computed: 1 while decoding, more while (re)filling the prompt.
  int64_t num_uncomputed() const { return num_tokens() - num_computed; }
};

// The part of a request's parameters that shapes its text (stop strings, special tokens).
inline TextStreamOptions text_stream_options(const SamplingParams& p) {
  TextStreamOptions o;
  o.stop = p.stop;
  o.include_stop_str_in_output = p.include_stop_str_in_output;
  o.skip_special_tokens = p.skip_special_tokens;
  return o;
}

// Service order: lower priority value first, then earlier arrival.
inline bool served_before(const Sequence& a, const Sequence& b) {
  if (a.priority() != b.priority()) return a.priority() < b.priority();
  return a.id() < b.id();
}

}  // namespace sieve
