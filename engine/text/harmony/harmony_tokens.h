// The special tokens of harmony, the chat format gpt-oss models are trained on, found in a
// tokenizer by name. A model "speaks harmony" when its tokenizer has all of them and its chat
// template opens an assistant message with them (see detect_harmony).
//
//   <|start|>{header}<|message|>{body}<|end|>       one message; the header is the role, an
//                                                   optional " to={recipient}", then
//                                                   "<|channel|>{channel}" and an optional
//                                                   content type ("json" or
//                                                   "<|constrain|>json")
//   <|return|>, <|call|>                            end the assistant's turn: done, or waiting
//                                                   for a tool's answer
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace sieve {

class Tokenizer;
class PromptEncoder;

struct HarmonyTokens {
  int32_t start = -1;      // <|start|>: a message begins; its header follows
  int32_t channel = -1;    // <|channel|>: the channel name follows, inside a header
  int32_t constrain = -1;  // <|constrain|>: the body's content type follows ("json")
  int32_t message = -1;    // <|message|>: the header ends, the body follows
  int32_t end = -1;        // <|end|>: the message ends, the turn goes on
  int32_t call = -1;       // <|call|>: the message is a tool call; the turn stops for its answer
  int32_t ret = -1;        // <|return|>: the turn is over

  // All seven looked up by their names; nullopt when any is missing.
  static std::optional<HarmonyTokens> find(const Tokenizer& tokenizer);

  // Ids that end a message (and, for call and ret, the whole completion).
  bool ends_message(int32_t id) const { return id == end || id == call || id == ret; }
};

// The harmony tokens when the encoder's model speaks harmony: its tokenizer has them and its
// chat template's generation prompt ends with "<|start|>assistant", so the model's output
// continues an assistant message's header. Decided from the files, never from a model name.
std::optional<HarmonyTokens> detect_harmony(const PromptEncoder& encoder);

// Adds <|return|> and <|call|> to a request's stop token ids (once). A harmony turn ends at
// either, but config.json names only <|return|> as EOS (generation_config.json lists both, and
// that file is not read), and a turn that ran past <|call|> would invent the tool's answer.
void add_harmony_stop_tokens(const HarmonyTokens& tokens, std::vector<int32_t>& stop_token_ids);

}  // namespace sieve
