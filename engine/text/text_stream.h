// A request's output as text while it is generated: incremental detokenization, stop strings
// found across token boundaries, and how much text is safe to stream.
//
// Text that could still turn out to be the start of a stop string (its last
// max(len(stop)) - 1 bytes) is held back from the stream, so a client never sees part of a
// stop string that is then taken back. A stop string ends the text where it starts (or after
// it, with include_stop_str_in_output).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/text/tokenizer/tokenizer.h"

namespace sieve {

// What a request asks of its text (the engine fills it from the request's sampling parameters).
struct TextStreamOptions {
  std::vector<std::string> stop;            // stop strings
  bool include_stop_str_in_output = false;  // keep the stop string that ended the text
  bool skip_special_tokens = true;
};

class TextStream {
 public:
  TextStream(std::shared_ptr<const Tokenizer> tokenizer, const TextStreamOptions& options);

  struct Delta {
    std::string text;      // newly safe to stream (may be empty)
    bool stopped = false;  // a stop string was found; the text now ends there
    std::string matched;   // that stop string
  };
  // Adds one generated token. Ids the tokenizer does not know (a model vocabulary padded past
  // the tokenizer's) add no text, as in transformers.
  Delta push(int32_t token);
  // The request ended another way (length, EOS, stop token, abort): everything not streamed.
  std::string finish();

  const std::string& text() const { return text_; }

 private:
  IncrementalDetokenizer detok_;
  int32_t vocab_size_;
  std::vector<std::string> stops_;
  bool include_stop_;
  size_t hold_back_ = 0;  // longest stop string - 1
  std::string text_;
  size_t streamed_ = 0;
  bool done_ = false;
};

}  // namespace sieve
