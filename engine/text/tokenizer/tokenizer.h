// Text to token ids and back, from a Hugging Face `tokenizers` file (tokenizer.json).
//
// The pipeline is the one the file describes: added tokens are split out first, the rest is
// normalised, pre-tokenised, run through the model (BPE), then the post-processor adds special
// tokens. Anything the file asks for that sieve does not implement is refused at load time
// with an error that names it, never silently approximated.
//
// A Tokenizer is immutable after load and safe to share between threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"

namespace sieve {

class Tokenizer {
 public:
  // `path` is a tokenizer.json file or a directory that holds one.
  static Result<std::shared_ptr<const Tokenizer>> load(const std::filesystem::path& path);
  // The contents of a tokenizer.json; `origin` names it in error messages.
  static Result<std::shared_ptr<const Tokenizer>> from_json(std::string_view json,
                                                            std::string_view origin);
  virtual ~Tokenizer() = default;

  // add_special_tokens: run the post-processor (e.g. prepend BOS), as transformers does.
  virtual Result<std::vector<int32_t>> encode(std::string_view text,
                                              bool add_special_tokens) const = 0;
  // Errors on an id outside [0, vocab_size()). Invalid UTF-8 in the result is replaced by
  // U+FFFD, as the reference does.
  virtual Result<std::string> decode(std::span<const int32_t> ids,
                                     bool skip_special_tokens) const = 0;

  // One past the largest id (model vocabulary and added tokens together).
  virtual int32_t vocab_size() const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  // The vocabulary string of an id (byte-level form, e.g. "Ġworld"); nullopt if unknown.
  virtual std::optional<std::string> id_to_token(int32_t id) const = 0;
  // True for added tokens marked special (dropped by skip_special_tokens).
  virtual bool is_special(int32_t id) const = 0;
};

// Streaming decode: ids arrive one at a time; each push returns the text that is now final.
// The concatenation of everything returned (pushes, then finish) equals
// tokenizer.decode(all ids). A delta never ends inside a UTF-8 sequence: bytes of a character
// split across tokens are held back until it is complete.
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(std::shared_ptr<const Tokenizer> tokenizer, bool skip_special_tokens);

  // Errors only on an id outside the vocabulary (and then changes nothing).
  Result<std::string> push(int32_t id);
  // Whatever is still held back (an incomplete character becomes U+FFFD, as decode does).
  std::string finish();

 private:
  std::shared_ptr<const Tokenizer> tokenizer_;
  bool skip_special_tokens_;
  std::vector<int32_t> ids_;
  size_t prefix_offset_ = 0;  // ids_[prefix_offset_, read_offset_) give context for decoding
  size_t read_offset_ = 0;    // text of ids_ before here has been emitted
};

}  // namespace sieve
