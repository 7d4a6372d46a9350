// The offline batch format of `sieve run`: one JSON request per input line, one JSON result
// per output line in the same order.
//
// In:  {"id": any,
//       one of "prompt_token_ids": [int, ...] | "prompt": "text" |
//              "messages": [{"role", "content"}, ...] (+ "tools": [...],
//              "add_generation_prompt": true, "chat_template_kwargs": {...}),
//       and any request parameter of the engine's schema (engine/sampling_params.h, the same
//       names, types and ranges as /v1/completions): "max_tokens", "temperature", "top_p",
//       "top_k", "min_p", the penalties, "seed", "stop" (needs a tokenizer),
//       "stop_token_ids", "ignore_eos", "logprobs", "prompt_logprobs", "priority", ...}
//       A chat line may also set "reasoning_effort" ("low" | "medium" | "high"), a template
//       variable as on /v1/chat/completions.
// Out: {"id", "prompt_token_ids", "output_token_ids", "text" (when the model has a tokenizer),
//       "finish_reason" (+ "tool_calls" on a parsed chat line that called tools),
//       on a chat line of a model with a chat-output parser (gpt-oss's harmony, Qwen3's
//       <think> and Hermes calls, DeepSeek's; --reasoning-parser, --tool-call-parser):
//       "content", "reasoning_content",
//       "tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}] as in
//       /v1/chat/completions' message (null content beside tool calls, null reasoning without),
//       "logprobs": [[{"token_id", "logprob"}, ...] per generated token],   (when asked)
//       "prompt_logprobs": [null, [...], ...]}                               (when asked)
//      or {"id", "error": "..."} for a line that could not run.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/text/chat_output/chat_format.h"
#include "engine/text/chat_template/chat_template.h"

namespace sieve {

class PromptEncoder;

struct ParsedLine {
  nlohmann::ordered_json id;  // echoed back; the 1-based line number when the line has none
  GenerationRequest request;  // prompt_token_ids set when the line gave ids
  // Or the prompt still to encode with the model's tokenizer (see encode_prompt):
  std::optional<std::string> prompt_text;
  std::optional<ChatTemplateInput> chat;
};

// Parses and type-checks one line. Errors say which field is wrong and what it should be.
// `default_max_tokens` applies when the line has no max_tokens.
Result<ParsedLine> parse_request_line(const std::string& line, int64_t line_number,
                                      int64_t default_max_tokens);

// Turns a text or chat prompt into request.prompt_token_ids. `encoder` is null when the model
// has no tokenizer; a text line then gets an error that says so.
Status encode_prompt(ParsedLine& line, const PromptEncoder* encoder,
                     const std::string& missing_tokenizer_reason);

// The id a line that failed to parse is reported under: its "id" if one can be read.
nlohmann::ordered_json id_of_line(const std::string& line, int64_t line_number);

// Keys in the documented order (id first). `text` is the decoded output, when there is a
// tokenizer.
nlohmann::ordered_json result_json(const nlohmann::ordered_json& id, const RequestOutput& out,
                                   const std::optional<std::string>& text = std::nullopt);
nlohmann::ordered_json error_json(const nlohmann::ordered_json& id, const std::string& message);

// A chat line for a model with a chat-output format, before encode_prompt: its history
// rewritten for the template and the format's stop tokens added (harmony's <|return|>, <|call|>).
void prepare_chat_line(ParsedLine& line, const ChatFormat& format);
// A parsed chat line's result: the output parsed into "content", "reasoning_content" and
// "tool_calls" beside the raw "text", and finish_reason "tool_calls" when it called tools.
void add_chat_fields(nlohmann::ordered_json& result, const RequestOutput& out,
                     const ChatFormat& format);

}  // namespace sieve
