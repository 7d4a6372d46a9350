#include "engine/text/text_stream.h"

#include <algorithm>

namespace sieve {

TextStream::TextStream(std::shared_ptr<const Tokenizer> tokenizer, const TextStreamOptions& options)
    : detok_(tokenizer, options.skip_special_tokens),
      vocab_size_(tokenizer->vocab_size()),
      stops_(options.stop),
      include_stop_(options.include_stop_str_in_output) {
  for (const std::string& s : stops_)
    hold_back_ = std::max(hold_back_, s.size() - 1);
}

TextStream::Delta TextStream::push(int32_t token) {
  Delta d;
  if (done_) return d;
  if (token >= 0 && token < vocab_size_) {
    auto piece = detok_.push(token);
    if (piece.ok()) text_ += *piece;
  }
  if (!stops_.empty()) {
    // A stop string can only end in the new text, so it starts at most hold_back_ bytes
    // before it; everything before streamed_ was already searched.
    const size_t from = streamed_;
    size_t best = std::string::npos;
    const std::string* which = nullptr;
    for (const std::string& s : stops_) {
      const size_t at = text_.find(s, from);
      if (at != std::string::npos && at < best) {
        best = at;
        which = &s;
      }
    }
    if (which) {
      text_.resize(include_stop_ ? best + which->size() : best);
      d.stopped = true;
      d.matched = *which;
      d.text = text_.substr(std::min(streamed_, text_.size()));
      streamed_ = text_.size();
      done_ = true;
      return d;
    }
  }
  size_t safe = text_.size() > hold_back_ ? text_.size() - hold_back_ : 0;
  // Never split a UTF-8 character when holding bytes back.
  while (safe > streamed_ && safe < text_.size() &&
         (static_cast<unsigned char>(text_[safe]) & 0xC0) == 0x80) {
    --safe;
  }
  if (safe > streamed_) {
    d.text = text_.substr(streamed_, safe - streamed_);
    streamed_ = safe;
  }
  return d;
}

std::string TextStream::finish() {
  if (!done_) {
    text_ += detok_.finish();
    done_ = true;
  }
  std::string rest = text_.substr(std::min(streamed_, text_.size()));
  streamed_ = text_.size();
  return rest;
}

}  // namespace sieve
