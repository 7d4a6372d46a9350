// What the API side owns of a generation: what the client asked for, where the results go, and
// whether it was cancelled. The engine's own state for it is a Sequence (sequence.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampler.h"
#include "engine/sampling_params.h"

namespace sieve {

struct RequestOutput {
  uint64_t request_id = 0;
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> output_token_ids;
  std::string finish_reason;  // "stop" (EOS, a stop token or string), "length", "abort"
  std::string stop_string;    // the stop string that ended it, if one did
  // The output as text (with a tokenizer): all of it, up to a stop string. Whatever the
  // TokenEvents did not carry yet comes only here.
  std::string text;
  int64_t num_cached_tokens = 0;  // prompt tokens taken from the prefix cache at admission
  // Per generated token: the sampled token first, then the top-N others (when asked).
  std::vector<std::vector<TokenLogprob>> logprobs;
  // Per prompt token (when asked): the first has none (empty), then the prompt token's own
  // logprob first and the top-N others.
  std::vector<std::vector<TokenLogprob>> prompt_logprobs;
};

// One generated token, as streamed.
struct TokenEvent {
  uint64_t request_id = 0;
  int32_t token = 0;
  // Text this token made final (with a tokenizer): may be empty while a character is
  // incomplete or the text could still be the start of a stop string.
  std::string_view text;
  const std::vector<TokenLogprob>* logprobs = nullptr;  // when asked: sampled token, top-N
};

struct RequestSink {
  // Called for every generated token as soon as it is sampled (streaming); may be empty.
  std::function<void(const TokenEvent&)> on_token;
  // Called once when the request ends.
  std::function<void(RequestOutput&&)> on_finish;
};

// A request as the engine holds it from add_request until it finishes.
struct Request {
  uint64_t id = 0;  // also the arrival order
  GenerationRequest input;
  RequestSink sink;
  bool cancelled = false;  // Engine::abort: it ends ("abort") at the next step
};

}  // namespace sieve
