#include "engine/text/chat_template/chat_template.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "engine/text/chat_template/jinja_interpreter.h"
#include "engine/text/chat_template/jinja_lexer.h"
#include "engine/text/chat_template/jinja_parser.h"

namespace sieve {

struct ChatTemplate::Compiled {
  std::string source;  // newline-normalised, for line/column in errors
  jinja::Template tmpl;
};

namespace {

namespace fs = std::filesystem;

Result<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "jinja: <message> (line L, column C)", with the code that fits the kind of error.
Status to_status(const jinja::Error& e, const std::string& source) {
  std::string message = "jinja: ";
  if (e.kind() == jinja::ErrorKind::kRaised) message += "template raised an error: ";
  message += e.what();
  if (e.offset() != jinja::Error::kNoOffset) {
    const jinja::SourcePosition p = jinja::position_of(source, e.offset());
    message += " (line " + std::to_string(p.line) + ", column " + std::to_string(p.column) + ")";
  }
  switch (e.kind()) {
    case jinja::ErrorKind::kUnsupported:
      return unimplemented(std::move(message));
    case jinja::ErrorKind::kLimit:
      return resource_exhausted(std::move(message));
    default:
      return invalid_argument(std::move(message));
  }
}

// The template named `name` from a list of {"name", "template"} entries.
Result<std::string> pick_named(const nlohmann::ordered_json& list, std::string_view name,
                               const fs::path& config_path) {
  std::string names;
  for (const auto& entry : list) {
    if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") ||
        !entry["name"].is_string() || !entry["template"].is_string()) {
      return invalid_argument(config_path.string() +
                              ": chat_template list entries must be {\"name\", \"template\"}");
    }
    if (entry["name"].get<std::string>() == name) return entry["template"].get<std::string>();
    names += (names.empty() ? "" : ", ") + entry["name"].get<std::string>();
  }
  return not_found(config_path.string() + " has no chat template named '" + std::string(name) +
                   "' (it has: " + names + ")");
}

}  // namespace

ChatTemplate::ChatTemplate(std::unique_ptr<Compiled> compiled,
                           nlohmann::ordered_json special_tokens, ChatTemplateOptions options)
    : compiled_(std::move(compiled)),
      special_tokens_(std::move(special_tokens)),
      options_(std::move(options)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

Result<ChatTemplate> ChatTemplate::load(const std::filesystem::path& model_dir,
                                        std::string_view name, ChatTemplateOptions options) {
  const fs::path config_path = model_dir / "tokenizer_config.json";
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  if (fs::exists(config_path)) {
    SIEVE_ASSIGN_OR_RETURN(std::string text, read_file(config_path));
    config = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object())
      return data_loss(config_path.string() + " is not a JSON object");
  }

  std::string source;
  const auto it = config.find("chat_template");
  if (it != config.end() && !it->is_null()) {
    if (it->is_string()) {
      source = it->get<std::string>();
    } else if (it->is_array()) {
      SIEVE_ASSIGN_OR_RETURN(source, pick_named(*it, name, config_path));
    } else {
      return invalid_argument(config_path.string() +
                              ": chat_template must be a string or a list of named templates");
    }
  } else {
    const fs::path jinja_path = model_dir / "chat_template.jinja";
    if (!fs::exists(jinja_path)) {
      return not_found("no chat template: " + config_path.string() +
                       " has no chat_template and there is no " + jinja_path.string());
    }
    SIEVE_ASSIGN_OR_RETURN(source, read_file(jinja_path));
  }

  // bos/eos/pad as plain strings or AddedToken objects {"content": ...}; absent or null ones
  // are not passed.
  nlohmann::ordered_json special = nlohmann::ordered_json::object();
  for (const char* key : {"bos_token", "eos_token", "pad_token"}) {
    const auto tok = config.find(key);
    if (tok == config.end()) continue;
    if (tok->is_string()) {
      special[key] = *tok;
    } else if (tok->is_object() && tok->contains("content") && (*tok)["content"].is_string()) {
      special[key] = (*tok)["content"];
    }
  }
  return from_source(std::move(source), std::move(special), std::move(options));
}

Result<ChatTemplate> ChatTemplate::from_source(std::string source,
                                               nlohmann::ordered_json special_tokens,
                                               ChatTemplateOptions options) {
  if (options.max_call_depth < 1 || options.max_output_bytes == 0 ||
      options.max_loop_iterations < 1) {
    return invalid_argument(
        "chat template options: max_call_depth, max_output_bytes and max_loop_iterations must "
        "be positive");
  }
  if (!special_tokens.is_object()) special_tokens = nlohmann::ordered_json::object();
  auto compiled = std::make_unique<Compiled>();
  compiled->source = jinja::normalize_source(source);
  try {
    compiled->tmpl = jinja::parse(jinja::tokenize(compiled->source));
  } catch (const jinja::Error& e) {
    return to_status(e, compiled->source);
  }
  return ChatTemplate(std::move(compiled), std::move(special_tokens), std::move(options));
}

Result<std::string> ChatTemplate::render(const ChatTemplateInput& input) const {
  if (!input.kwargs.is_object() && !input.kwargs.is_null())
    return invalid_argument("chat template kwargs must be an object");
  jinja::Dict vars;
  try {
    for (const auto& [k, v] : special_tokens_.items())
      vars.set(k, jinja::Value::from_json(v));
    if (input.kwargs.is_object()) {
      for (const auto& [k, v] : input.kwargs.items()) {
        if (k == "messages" || k == "tools" || k == "add_generation_prompt") {
          return invalid_argument("chat template kwargs may not set '" + k + "'");
        }
        vars.set(k, jinja::Value::from_json(v));
      }
    }
    vars.set("messages", jinja::Value::from_json(input.messages));
    vars.set("tools", jinja::Value::from_json(input.tools));
    vars.set("add_generation_prompt", jinja::Value::boolean(input.add_generation_prompt));

    jinja::Limits limits;
    limits.max_output_bytes = options_.max_output_bytes;
    limits.max_call_depth = options_.max_call_depth;
    limits.max_loop_iterations = options_.max_loop_iterations;
    return jinja::render(compiled_->tmpl, vars, limits, options_.clock);
  } catch (const jinja::Error& e) {
    return to_status(e, compiled_->source);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("jinja: out of memory while rendering the chat template");
  }
}

}  // namespace sieve
