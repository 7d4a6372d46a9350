// Per-request generation parameters, and the one schema every front end reads them with: the
// OpenAI front end, gRPC, `sieve run`'s JSONL lines and the distributed step protocol all go
// through the table in sampling_params.cpp — the same names, types, defaults and ranges — so a
// field added there is accepted, validated, documented and carried between ranks everywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/status.h"

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

struct GenerationRequest {
  std::vector<int32_t> prompt_token_ids;
  SamplingParams params;
  int64_t priority = 0;  // lower runs first (as in vLLM); equal priorities in arrival order
};

// A field of the schema, as --help and error messages show it.
struct RequestParamInfo {
  std::string_view name;
  std::string_view type;  // "integer", "number", "boolean", "token ids", "string or strings"
  std::string_view help;  // what it does, with its default and range
};
// Every field of the schema, in the order the documentation lists them: the sampling
// parameters and `priority`. The prompt is not among them (each front end has its own forms).
std::span<const RequestParamInfo> request_param_fields();
bool is_request_param(std::string_view name);

// A value the schema refuses, with the field it belongs to (OpenAI's `error.param`).
struct ParamError {
  std::string field;
  std::string message;  // names the field: "'top_p' must be in (0, 1], got 0"
};

// Reads field `name` (is_request_param) from a JSON value into `request`. A null value keeps
// the default, as in the OpenAI API; a value of the wrong type is an error. Ranges are not
// checked here but by check_request_params, once, after all fields are read.
std::optional<ParamError> read_request_param(std::string_view name,
                                             const nlohmann::ordered_json& value,
                                             GenerationRequest& request);
std::optional<ParamError> read_request_param(std::string_view name, const nlohmann::json& value,
                                             GenerationRequest& request);

// The ranges of every field (max_tokens ≥ 1, top_p in (0, 1], at most 16 stop strings, ...):
// the first field out of range, or nothing.
std::optional<ParamError> check_request_params(const GenerationRequest& request);
// The same for the sampling fields alone, plus stop_token_ids inside [0, vocab_size): what the
// engine checks before it queues a request. The message names the field.
Status validate_sampling(const SamplingParams& p, int64_t vocab_size);

// Every field, exact (floats keep their bits through MessagePack), for the step protocol.
nlohmann::json write_request_params(const GenerationRequest& request);
// The inverse: every field must be present. The prompt is left as it is.
Status read_all_request_params(const nlohmann::json& fields, GenerationRequest& request);

}  // namespace sieve
