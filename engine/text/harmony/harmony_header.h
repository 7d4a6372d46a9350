// A harmony message header — the tokens between <|start|> (or the start of the output, which
// continues the prompt's "<|start|>assistant") and <|message|> — read into its fields.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "engine/text/harmony/harmony_tokens.h"

namespace sieve {

class Tokenizer;

struct HarmonyHeader {
  std::string role;          // "assistant"; empty when the prompt wrote it
  std::string channel;       // "analysis", "commentary" or "final"
  std::string recipient;     // "functions.get_weather", or empty
  std::string content_type;  // "json" (from "commentary json" or "<|constrain|>json"), or empty
};

// Both orders the model writes a recipient in are read:
//   [assistant] to=functions.f<|channel|>commentary json
//   [assistant]<|channel|>commentary to=functions.f <|constrain|>json
// `role_written`: the header starts with its role (it followed a <|start|> of the output);
// otherwise the role is the prompt's and the header starts at " to=" or <|channel|>.
// nullopt for anything else: no channel or two, a channel outside the three, a role other than
// assistant, two recipients or content types, words that fit nowhere. The caller keeps such a
// message as raw text.
std::optional<HarmonyHeader> parse_harmony_header(std::span<const int32_t> ids, bool role_written,
                                                  const Tokenizer& tokenizer,
                                                  const HarmonyTokens& tokens);

}  // namespace sieve
