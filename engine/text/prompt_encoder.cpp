#include "engine/text/prompt_encoder.h"

#include <fstream>
#include <system_error>

#include <nlohmann/json.hpp>

namespace sieve {

Status validate_chat_input(const ChatTemplateInput& input) {
  const auto& messages = input.messages;
  if (!messages.is_array() || messages.empty()) {
    return invalid_argument(
        "'messages' must be a non-empty list of {\"role\", \"content\"} objects");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return invalid_argument(where + " must be an object, got " + m.dump());
    if (!m.contains("role") || !m["role"].is_string()) {
      return invalid_argument(where + " needs a string 'role'");
    }
    if (m.contains("content")) {
      const auto& c = m["content"];
      if (!c.is_string() && !c.is_null() && !c.is_array()) {
        return invalid_argument(where + ".content must be a string, null or a list of parts, got " +
                                c.dump());
      }
      if (c.is_array()) {
        for (const auto& part : c) {
          if (!part.is_object() || !part.contains("type")) {
            return invalid_argument(where + ".content parts must be objects with a 'type', got " +
                                    part.dump());
          }
        }
      }
    }
  }
  if (!input.tools.is_null() && !input.tools.is_array()) {
    return invalid_argument("'tools' must be a list, got " + input.tools.dump());
  }
  return Status::Ok();
}

namespace {

// tokenizer_config.json's `flag` (e.g. add_bos_token) is true: the id of its `token`
// (a string or an AddedToken object).
std::optional<int32_t> added_special(const nlohmann::json& config, const char* flag,
                                     const char* token, const Tokenizer& tok) {
  if (!config.is_object() || !config.contains(flag) || config[flag] != true) return std::nullopt;
  if (!config.contains(token)) return std::nullopt;
  const auto& t = config[token];
  std::string content;
  if (t.is_string()) content = t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string())
    content = t["content"].get<std::string>();
  return content.empty() ? std::nullopt : tok.token_to_id(content);
}

}  // namespace

Result<PromptEncoder> PromptEncoder::load(const std::filesystem::path& model_dir,
                                          const std::filesystem::path& tokenizer_path,
                                          ChatTemplateOptions template_options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = tokenizer_path.empty() ? model_dir : tokenizer_path;
  if (!fs::is_directory(dir, ec)) dir = dir.parent_path();
  if (!fs::exists(tokenizer_path.empty() ? dir / "tokenizer.json" : tokenizer_path, ec)) {
    return not_found("no tokenizer.json in " + dir.string() +
                     (tokenizer_path.empty() ? "; pass --tokenizer PATH" : ""));
  }
  PromptEncoder out;
  out.tokenizer_dir_ = dir;
  SIEVE_ASSIGN_OR_RETURN(out.tokenizer_,
                         Tokenizer::load(tokenizer_path.empty() ? dir : tokenizer_path));
  {
    std::ifstream in(dir / "tokenizer_config.json");
    const auto config =
        in ? nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false) : nlohmann::json();
    out.add_bos_id_ = added_special(config, "add_bos_token", "bos_token", *out.tokenizer_);
    out.add_eos_id_ = added_special(config, "add_eos_token", "eos_token", *out.tokenizer_);
  }
  auto tmpl = ChatTemplate::load(dir, "default", std::move(template_options));
  if (tmpl.ok()) {
    out.chat_template_.emplace(std::move(*tmpl));
  } else if (tmpl.status().code() == StatusCode::kNotFound) {
    out.chat_template_error_ = tmpl.status().message();
  } else {
    return tmpl.status();  // a template that is there but broken is the user's to fix now
  }
  return out;
}

Result<std::vector<int32_t>> PromptEncoder::encode(std::string_view text,
                                                   bool add_special_tokens) const {
  SIEVE_ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer_->encode(text, add_special_tokens));
  if (add_special_tokens) {
    if (add_bos_id_ && (ids.empty() || ids.front() != *add_bos_id_))
      ids.insert(ids.begin(), *add_bos_id_);
    if (add_eos_id_ && (ids.empty() || ids.back() != *add_eos_id_)) ids.push_back(*add_eos_id_);
  }
  return ids;
}

Result<std::vector<int32_t>> PromptEncoder::encode_text(std::string_view text) const {
  return encode(text, /*add_special_tokens=*/true);
}

Result<std::string> PromptEncoder::render_chat(const ChatTemplateInput& input) const {
  SIEVE_RETURN_IF_ERROR(validate_chat_input(input));
  if (!chat_template_) {
    return invalid_argument("this model has no chat template (" + chat_template_error_ +
                            "); send a text prompt instead of messages");
  }
  return chat_template_->render(input);
}

Result<std::vector<int32_t>> PromptEncoder::encode_chat(const ChatTemplateInput& input) const {
  SIEVE_ASSIGN_OR_RETURN(std::string prompt, render_chat(input));
  return tokenizer_->encode(prompt, /*add_special_tokens=*/false);
}

}  // namespace sieve
