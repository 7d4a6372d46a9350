// Model output whose structure is written with marker strings around plain text — reasoning in
// a block ("<think>…</think>") and tool calls in blocks of a format's own syntax (Hermes'
// "<tool_call>…</tool_call>", DeepSeek-V3's "<｜tool▁calls▁begin｜>…") — read while it is
// generated into reasoning, content and whole tool calls. Markers and text come from a
// MarkerScanner, so the parser is a state machine over ids, never a pattern over finished text.
//
//   reasoning block          -> reasoning
//   a call that parses       -> a tool call, emitted when its closing marker arrives
//   everything else          -> content
//
// Newlines that touch a marker are the format's, not the text's: the templates write them
// ("<think>\n", "\n</think>\n\n", "\n<tool_call>") and strip them when they render a turn back
// (Qwen3's reasoning_content.strip('\n')), so they are dropped; the reasoning and content that
// come back render to the same bytes. A trailing newline is held until the next text shows it
// is not before a marker.
//
// Nothing else is lost: a call that does not parse (bad JSON arguments, no name), a call still
// open when the output stopped, and anything of unknown structure inside a tool-call block
// become content with their raw text, markers included. Streamed text is never taken back.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text/chat_output.h"
#include "engine/text/chat_output/marker_scanner.h"

namespace sieve {

// A reasoning block, and whether the output starts inside one (the prompt opened it).
struct ReasoningSyntax {
  std::string open = "<think>";
  std::string close = "</think>";
  bool starts_inside = false;
};

// A tool-call syntax: calls between call_open and call_close, optionally grouped in a section
// (section_open … section_close) with only whitespace between its calls.
struct ToolCallSyntax {
  std::string section_open, section_close;  // both empty: calls stand alone in the content
  std::string call_open, call_close;
  // The call written between call_open and call_close; nullopt when it is not a valid call.
  std::optional<ChatToolCall> (*parse_call)(std::string_view body) = nullptr;
};

class MarkedOutputParser final : public ChatOutputParser {
 public:
  struct Options {
    std::optional<ReasoningSyntax> reasoning;
    std::optional<ToolCallSyntax> tools;
  };
  MarkedOutputParser(std::shared_ptr<const Tokenizer> tokenizer, Options options);

  using ChatOutputParser::push;
  ChatDelta push(int32_t id) override;
  // Later pushes start a fresh turn, as the output began.
  ChatDelta finish() override;
  const ChatDelta& output() const override { return output_; }

 private:
  enum class State { kContent, kReasoning, kSection, kCall };
  enum Role { kThinkOpen, kThinkClose, kSectionOpen, kSectionClose, kCallOpen, kCallClose };

  // Newlines at the edges of a text run (see the file comment).
  class EdgeNewlines {
   public:
    std::string push(std::string_view text);
    void edge() {
      held_.clear();
      at_edge_ = true;
    }
    std::string finish();

   private:
    bool at_edge_ = true;
    std::string held_;
  };

  void on_segment(const MarkerScanner::Segment& s, ChatDelta& d);
  void on_text(const std::string& text, ChatDelta& d);
  void on_marker(Role role, const std::string& text, ChatDelta& d);
  void to_content();
  void content_text(std::string_view text, ChatDelta& d);
  void end_call(ChatDelta& d);
  void flush_raw(ChatDelta& d);
  void start();

  Options options_;
  MarkerScanner scanner_;
  std::vector<Role> roles_;  // a scanner marker index -> its role
  State state_ = State::kContent;
  EdgeNewlines reasoning_, content_;
  bool reasoning_written_ = false;  // any reasoning text in this block yet
  bool content_written_ = false;    // content or a call: a <think> after it is just text
  std::string raw_;                 // a tool-call block as written, until it is resolved
  std::string body_;                // the current call's text between its markers
  bool section_has_call_ = false;
  bool section_has_text_ = false;  // more than whitespace between calls: not a clean section
  ChatDelta output_;
};

}  // namespace sieve
