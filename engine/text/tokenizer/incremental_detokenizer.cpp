// Streaming decode (the vLLM / TGI scheme). The text of ids_[prefix_offset_, read_offset_) is
// context that was already emitted; decoding ids_[prefix_offset_, end) and dropping that
// context gives the new text, which is released only when it does not end in U+FFFD (a
// character still incomplete). Keeping one visible token of context means decoders that treat
// the first token specially (Metaspace, Strip) see the same first token in both decodes.
#include "engine/text/tokenizer/tokenizer.h"

#include "engine/text/tokenizer/utf8.h"

namespace sieve {

IncrementalDetokenizer::IncrementalDetokenizer(std::shared_ptr<const Tokenizer> tokenizer,
                                               bool skip_special_tokens)
    : tokenizer_(std::move(tokenizer)), skip_special_tokens_(skip_special_tokens) {}

Result<std::string> IncrementalDetokenizer::push(int32_t id) {
  if (id < 0 || id >= tokenizer_->vocab_size()) {
    return invalid_argument("detokenizer: id " + std::to_string(id) +
                            " is outside the vocabulary [0, " +
                            std::to_string(tokenizer_->vocab_size()) + ")");
  }
  ids_.push_back(id);
  const std::span<const int32_t> all(ids_);
  SIEVE_ASSIGN_OR_RETURN(
      std::string prefix_text,
      tokenizer_->decode(all.subspan(prefix_offset_, read_offset_ - prefix_offset_),
                         skip_special_tokens_));
  SIEVE_ASSIGN_OR_RETURN(std::string new_text,
                         tokenizer_->decode(all.subspan(prefix_offset_), skip_special_tokens_));
  if (new_text.size() <= prefix_text.size() || tok::ends_with_replacement(new_text) ||
      !std::string_view(new_text).starts_with(prefix_text)) {
    return std::string();
  }
  // The next context starts at the first token just released that survives skipping, so the
  // context always holds a token the decoders see.
  size_t next_prefix = read_offset_;
  while (next_prefix < ids_.size() && skip_special_tokens_ &&
         tokenizer_->is_special(ids_[next_prefix]))
    ++next_prefix;
  if (next_prefix < ids_.size()) prefix_offset_ = next_prefix;
  read_offset_ = ids_.size();
  return new_text.substr(prefix_text.size());
}

std::string IncrementalDetokenizer::finish() {
  const std::span<const int32_t> all(ids_);
  auto prefix_text = tokenizer_->decode(all.subspan(prefix_offset_, read_offset_ - prefix_offset_),
                                        skip_special_tokens_);
  auto new_text = tokenizer_->decode(all.subspan(prefix_offset_), skip_special_tokens_);
  std::string out;
  if (prefix_text.ok() && new_text.ok() && new_text->size() > prefix_text->size()) {
    out = new_text->substr(prefix_text->size());
  }
  prefix_offset_ = read_offset_ = ids_.size();
  return out;
}

}  // namespace sieve
