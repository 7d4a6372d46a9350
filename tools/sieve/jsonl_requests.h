// The offline batch format of `sieve run`: one JSON request per input line, one JSON result
// per output line in the same order.
//
// In:  {"id": any, "prompt_token_ids": [int, ...], "max_tokens": 16, "temperature": 1.0,
//       "top_p": 1.0, "top_k": 0, "min_p": 0.0, "seed": int, "ignore_eos": false,
//       "stop_token_ids": [int, ...], "logprobs": N, "prompt_logprobs": N}
// Out: {"id", "prompt_token_ids", "output_token_ids", "finish_reason",
//       "logprobs": [[{"token_id", "logprob"}, ...] per generated token],   (when asked)
//       "prompt_logprobs": [null, [...], ...]}                               (when asked)
//      or {"id", "error": "..."} for a line that could not run.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "engine/engine.h"

namespace sieve {

struct ParsedLine {
  nlohmann::json id;  // echoed back; the 1-based line number when the line has none
  GenerationRequest request;
};

// Parses and type-checks one line. Errors say which field is wrong and what it should be.
// `default_max_tokens` applies when the line has no max_tokens.
Result<ParsedLine> parse_request_line(const std::string& line, int64_t line_number,
                                      int64_t default_max_tokens);

// The id a line that failed to parse is reported under: its "id" if one can be read.
nlohmann::json id_of_line(const std::string& line, int64_t line_number);

// Keys in the documented order (id first).
nlohmann::ordered_json result_json(const nlohmann::json& id, const RequestOutput& out);
nlohmann::ordered_json error_json(const nlohmann::json& id, const std::string& message);

}  // namespace sieve
