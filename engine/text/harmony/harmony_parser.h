// A gpt-oss completion, parsed while it is generated: harmony messages (harmony_tokens.h) read
// from the token ids into what the OpenAI chat API returns.
//
//   channel analysis                     -> reasoning (reasoning_content)
//   channel final                        -> content
//   channel commentary, no recipient     -> content: these are the model's preambles, the short
//                                           user-facing notes it writes before calling tools;
//                                           they are meant to be read, not hidden as reasoning
//   recipient to=functions.NAME          -> a tool call {NAME, the body as written}
//
// Ids, not text, are parsed: the markers are single special tokens, so text that merely looks
// like one ("<|end|>" typed as ordinary characters) is text, and no marker is ever cut in half.
// Bodies are detokenized incrementally, so a delta never ends inside a UTF-8 character.
//
// Nothing is lost: a message the parser cannot read (a header without a channel, an unknown
// channel, a recipient that is not a function, a tool call whose body is not a JSON object or
// that never ended, a header still open when the output stopped) becomes content holding its
// raw text, markers included. Text already streamed into reasoning or content stays there; a
// body cut off at max_tokens ends where it was cut.
//
// Feeding ids one at a time or all at once gives the same deltas, concatenated.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/text/chat_output.h"
#include "engine/text/harmony/harmony_tokens.h"

namespace sieve {

class Tokenizer;
class IncrementalDetokenizer;

class HarmonyParser final : public ChatOutputParser {
 public:
  // The output continues a prompt that ends with "<|start|>assistant".
  HarmonyParser(std::shared_ptr<const Tokenizer> tokenizer, const HarmonyTokens& tokens);
  ~HarmonyParser();
  HarmonyParser(HarmonyParser&&) noexcept;
  HarmonyParser& operator=(HarmonyParser&&) noexcept;

  using ChatOutputParser::push;
  ChatDelta push(int32_t id) override;
  // Later pushes start a fresh turn.
  ChatDelta finish() override;
  const ChatDelta& output() const override { return output_; }

  // A header longer than this without <|message|> is not a header: it is streamed as raw text
  // rather than held back indefinitely.
  static constexpr size_t kMaxHeaderTokens = 128;

 private:
  enum class State { kHeader, kBody, kRaw };
  enum class Target { kReasoning, kContent, kToolCall };

  void on_header_token(int32_t id, ChatDelta& d);
  void on_body_token(int32_t id, ChatDelta& d);
  void open_body();
  void end_message(ChatDelta& d);
  void to_raw(ChatDelta& d);
  void flush_raw_ids(ChatDelta& d);
  void reset_message(bool role_written);
  std::string& target_text(ChatDelta& d) const;

  std::shared_ptr<const Tokenizer> tokenizer_;
  HarmonyTokens tokens_;
  int32_t vocab_size_ = 0;

  State state_ = State::kHeader;
  bool role_written_ = false;     // this message began with <|start|>, so its role follows
  std::vector<int32_t> header_;   // header ids so far (after <|start|>)
  std::vector<int32_t> raw_ids_;  // the message as written, while it may still turn out raw
  Target target_ = Target::kContent;
  std::string tool_name_;
  std::string arguments_;
  std::unique_ptr<IncrementalDetokenizer> detok_;  // the body's (or raw text's) decoder
  ChatDelta output_;
};

}  // namespace sieve
