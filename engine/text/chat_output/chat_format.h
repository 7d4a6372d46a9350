// Which parser reads a model's chat output, chosen once at start-up: from --reasoning-parser and
// --tool-call-parser (vLLM's flags and names), else detected from the tokenizer and chat
// template where that is unambiguous, never from a model name.
//
//   reasoning parser   qwen3 | deepseek_r1 | harmony | none
//   tool-call parser   hermes | deepseek_v3 | harmony | none
//
// Detection ("auto", the default): a harmony model (detect_harmony) gets harmony for both; a
// tokenizer with "<think>" and "</think>" as tokens gets qwen3 reasoning (deepseek_r1 when it
// also has DeepSeek's tool-call tokens), as does — deepseek_r1 — a template whose generation
// prompt ends inside "<think>"; a tokenizer with "<tool_call>"/"</tool_call>" tokens and a
// template that writes them gets hermes; one with DeepSeek-V3's tool-call tokens gets
// deepseek_v3.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"
#include "engine/text/chat_output.h"
#include "engine/text/harmony/harmony_tokens.h"
#include "engine/text/prompt_encoder.h"

namespace sieve {

struct ChatParserFlags {
  std::string reasoning_parser = "auto";
  std::string tool_call_parser = "auto";
};

// Checks the names (before anything heavy loads).
Status validate_chat_parser_flags(const ChatParserFlags& flags);

class ChatFormat {
 public:
  // No parser: chat output is content as generated.
  ChatFormat() = default;

  static Result<ChatFormat> select(const PromptEncoder& encoder, const ChatParserFlags& flags);

  bool active() const { return !reasoning_.empty() || !tools_.empty(); }
  const std::string& reasoning_parser() const { return reasoning_; }  // "" for none
  const std::string& tool_call_parser() const { return tools_; }      // "" for none
  // One line for the start-up log: which parsers read chat output, and why.
  std::string describe() const;

  // A request's history rewritten into the fields the model's template reads.
  void prepare_messages(nlohmann::ordered_json& messages) const;
  // Ids that must end a chat generation besides EOS (harmony's <|call|> and <|return|>).
  void add_stop_tokens(std::vector<int32_t>& stop_token_ids) const;
  // A parser for one choice of a chat request whose prompt ids are `prompt`; null when
  // inactive.
  std::unique_ptr<ChatOutputParser> make_parser(std::span<const int32_t> prompt) const;

 private:
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::optional<HarmonyTokens> harmony_;
  std::string reasoning_, tools_;
  bool detected_ = false;  // chosen by detection rather than by flags
};

}  // namespace sieve
