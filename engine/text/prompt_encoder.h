// A model's text front end: its tokenizer.json and chat template, and the two ways a prompt
// becomes token ids (after the front end has validated the request, before it is queued).
//
//  - Text prompts (/v1/completions, `sieve run` "prompt") are encoded with special tokens, so
//    a tokenizer whose post-processor prepends BOS gets it.
//  - Chat messages are rendered with the chat template, which writes its own BOS and turn
//    markers, and encoded without special tokens (as vLLM and transformers'
//    apply_chat_template(tokenize=True) do), so BOS is never doubled.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/text/chat_template/chat_template.h"
#include "engine/text/tokenizer/tokenizer.h"

namespace sieve {

// Checks what a chat template may rely on: `messages` is a non-empty array of objects, each
// with a string `role`, and `content` (when present) a string, null, or a list of parts.
// `tools` is null or an array.
Status validate_chat_input(const ChatTemplateInput& input);

class PromptEncoder {
 public:
  // The tokenizer from `tokenizer_path` (a tokenizer.json or a directory holding one), else
  // from `model_dir`; the chat template from the same directory as the tokenizer. A missing
  // tokenizer.json is an error; a missing chat template is not (chat requests then fail with
  // a clear message).
  static Result<PromptEncoder> load(const std::filesystem::path& model_dir,
                                    const std::filesystem::path& tokenizer_path = {},
                                    ChatTemplateOptions template_options = {});

  Result<std::vector<int32_t>> encode_text(std::string_view text) const;
  // The tokenizer's encode plus what tokenizer_config.json adds on top, as transformers does
  // for Llama-style tokenizers: `add_bos_token` / `add_eos_token` put BOS / EOS around the ids
  // when special tokens are asked for and tokenizer.json's post-processor did not.
  Result<std::vector<int32_t>> encode(std::string_view text, bool add_special_tokens) const;
  Result<std::vector<int32_t>> encode_chat(const ChatTemplateInput& input) const;
  Result<std::string> render_chat(const ChatTemplateInput& input) const;

  const std::shared_ptr<const Tokenizer>& tokenizer() const { return tokenizer_; }
  bool has_chat_template() const { return chat_template_.has_value(); }
  // Where the tokenizer was read from (for log lines and errors).
  const std::filesystem::path& tokenizer_dir() const { return tokenizer_dir_; }

 private:
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::optional<ChatTemplate> chat_template_;
  std::string chat_template_error_;  // why there is none, for chat requests
  std::optional<int32_t> add_bos_id_, add_eos_id_;
  std::filesystem::path tokenizer_dir_;
};

}  // namespace sieve
