// A model's chat template (Jinja, from tokenizer_config.json or chat_template.jinja) rendered
// as transformers renders it: trim_blocks and lstrip_blocks on, Python semantics for values,
// `tojson` like json.dumps(ensure_ascii=False).
//
// Rendering is sandboxed: templates see only the variables passed in, cannot touch files or
// processes, and recursion depth and output size are bounded.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"

namespace sieve {

struct ChatTemplateOptions {
  // What strftime_now() formats; the system clock when empty. Tests inject a fixed date.
  std::function<std::chrono::system_clock::time_point()> clock;
  size_t max_output_bytes = 16u << 20;
  int max_call_depth = 64;                // nested macro calls (recursion)
  int64_t max_loop_iterations = 1 << 20;  // all loop iterations of one render; range() length
};

// What one render sees: the conversation and any extra keyword arguments.
struct ChatTemplateInput {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // role, content, ...
  nlohmann::ordered_json tools;  // null when the request has none
  bool add_generation_prompt = false;
  // Extra template variables (enable_thinking, reasoning_effort, builtin_tools, ...). They
  // may not override messages, tools or add_generation_prompt.
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  // Reads `chat_template` from DIR/tokenizer_config.json (a string, or a list of
  // {"name", "template"} from which `name` is chosen; "default" when there is one) or, when
  // the config has none, DIR/chat_template.jinja. bos_token/eos_token/pad_token (strings or
  // {"content": ...} objects) come from the same config.
  static Result<ChatTemplate> load(const std::filesystem::path& model_dir,
                                   std::string_view name = "default",
                                   ChatTemplateOptions options = {});
  // A template from source. `special_tokens` is an object such as
  // {"bos_token": "<s>", "eos_token": "</s>"}, passed to every render.
  static Result<ChatTemplate> from_source(std::string source, nlohmann::ordered_json special_tokens,
                                          ChatTemplateOptions options = {});

  // Errors name the template line and column (syntax, a failed raise_exception, a type
  // error) or the construct the interpreter lacks.
  Result<std::string> render(const ChatTemplateInput& input) const;

  const nlohmann::ordered_json& special_tokens() const { return special_tokens_; }

  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

 private:
  struct Compiled;  // the parsed template (jinja internals)
  ChatTemplate(std::unique_ptr<Compiled> compiled, nlohmann::ordered_json special_tokens,
               ChatTemplateOptions options);

  std::unique_ptr<Compiled> compiled_;
  nlohmann::ordered_json special_tokens_;
  ChatTemplateOptions options_;
};

}  // namespace sieve
