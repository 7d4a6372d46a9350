// Generated ids as a stream of text and markers, for output formats whose structure is written
// with marker strings ("<think>", "<tool_call>", "<｜tool▁call▁begin｜>"...).
//
// A marker the tokenizer encodes as one token is found by its id only: that is how the model
// writes it, so text that merely spells it ("<", "think", ">" as separate tokens) stays text and
// no marker is ever cut in half. A marker that is not one token in this tokenizer (DeepSeek-V3's
// vocabulary has no "<think>") can only be written as text, so it is found in the decoded text;
// text that could still be the start of one is held back until it is known not to be.
// Text goes through the tokenizer's IncrementalDetokenizer (special tokens, such as EOS,
// skipped), so no text segment ends inside a UTF-8 character.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/text/tokenizer/tokenizer.h"

namespace sieve {

class MarkerScanner {
 public:
  struct Segment {
    int marker = -1;   // index into the markers given to the constructor; -1: plain text
    std::string text;  // the text, or the marker as written
    bool operator==(const Segment&) const = default;
  };

  MarkerScanner(std::shared_ptr<const Tokenizer> tokenizer, std::vector<std::string> markers);

  // Appends what `id` completes to `out`.
  void push(int32_t id, std::vector<Segment>& out);
  // The output ended: everything still held, as text.
  void finish(std::vector<Segment>& out);

  // True when `marker` is one token of `tokenizer` (found by id rather than in text).
  static bool is_one_token(const Tokenizer& tokenizer, const std::string& marker);

 private:
  void scan(bool final, std::vector<Segment>& out);

  std::shared_ptr<const Tokenizer> tokenizer_;
  std::vector<std::string> markers_;
  std::unordered_map<int32_t, int> id_markers_;
  std::vector<int> text_markers_;  // markers found in text
  std::unique_ptr<IncrementalDetokenizer> detok_;
  int32_t vocab_size_ = 0;
  std::string held_;  // decoded text not yet given out (it may start a text marker)
};

}  // namespace sieve
