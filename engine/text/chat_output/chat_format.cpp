#include "engine/text/chat_output/chat_format.h"

#include <set>

#include "engine/text/chat_output/deepseek_v3_tool_calls.h"
#include "engine/text/chat_output/hermes_tool_calls.h"
#include "engine/text/chat_output/marked_output_parser.h"
#include "engine/text/chat_output/marker_scanner.h"
#include "engine/text/chat_output/think_reasoning.h"
#include "engine/text/harmony/harmony_messages.h"
#include "engine/text/harmony/harmony_parser.h"

namespace sieve {

namespace {

const std::set<std::string> kReasoningNames = {"auto", "none", "qwen3", "deepseek_r1", "harmony"};
const std::set<std::string> kToolNames = {"auto", "none", "hermes", "deepseek_v3", "harmony"};

bool has_tokens(const Tokenizer& t, std::initializer_list<const char*> markers) {
  for (const char* m : markers) {
    if (!MarkerScanner::is_one_token(t, m)) return false;
  }
  return true;
}

bool has_deepseek_tool_tokens(const Tokenizer& t) {
  return has_tokens(t, {"<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>",
                        "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"});
}

// The template's generation prompt for a one-message chat, or "" when it cannot render one.
std::string generation_prompt(const PromptEncoder& encoder) {
  if (!encoder.has_chat_template()) return "";
  ChatTemplateInput probe;
  probe.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hi"}}});
  probe.add_generation_prompt = true;
  Result<std::string> r = encoder.render_chat(probe);
  return r.ok() ? *r : "";
}

// Whether the template writes Hermes calls: it tells the model the syntax when tools are given.
bool template_writes_hermes(const PromptEncoder& encoder) {
  if (!encoder.has_chat_template()) return false;
  ChatTemplateInput probe;
  probe.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "Hi"}}});
  probe.tools = nlohmann::ordered_json::array(
      {{{"type", "function"},
        {"function", {{"name", "f"}, {"parameters", {{"type", "object"}}}}}}});
  probe.add_generation_prompt = true;
  Result<std::string> r = encoder.render_chat(probe);
  return r.ok() && r->find("<tool_call>") != std::string::npos;
}

std::string detect_reasoning(const PromptEncoder& encoder) {
  const Tokenizer& t = *encoder.tokenizer();
  if (has_tokens(t, {"<think>", "</think>"}))
    return has_deepseek_tool_tokens(t) ? "deepseek_r1" : "qwen3";
  std::string prompt = generation_prompt(encoder);
  while (!prompt.empty() && (prompt.back() == '\n' || prompt.back() == ' '))
    prompt.pop_back();
  return prompt.ends_with("<think>") ? "deepseek_r1" : "";
}

std::string detect_tools(const PromptEncoder& encoder) {
  const Tokenizer& t = *encoder.tokenizer();
  if (has_deepseek_tool_tokens(t)) return "deepseek_v3";
  if (has_tokens(t, {"<tool_call>", "</tool_call>"}) && template_writes_hermes(encoder))
    return "hermes";
  return "";
}

}  // namespace

Status validate_chat_parser_flags(const ChatParserFlags& flags) {
  if (!kReasoningNames.count(flags.reasoning_parser))
    return invalid_argument(
        "--reasoning-parser must be one of qwen3, deepseek_r1, harmony, "
        "none, auto; got '" +
        flags.reasoning_parser + "'");
  if (!kToolNames.count(flags.tool_call_parser))
    return invalid_argument(
        "--tool-call-parser must be one of hermes, deepseek_v3, harmony, "
        "none, auto; got '" +
        flags.tool_call_parser + "'");
  const bool rh = flags.reasoning_parser == "harmony", th = flags.tool_call_parser == "harmony";
  const auto free = [](const std::string& n) { return n == "auto" || n == "harmony"; };
  if ((rh && !free(flags.tool_call_parser)) || (th && !free(flags.reasoning_parser)))
    return invalid_argument(
        "harmony is one format for reasoning and tool calls alike: --reasoning-parser and "
        "--tool-call-parser must both be harmony (or one of them auto)");
  return Status::Ok();
}

Result<ChatFormat> ChatFormat::select(const PromptEncoder& encoder, const ChatParserFlags& flags) {
  SIEVE_RETURN_IF_ERROR(validate_chat_parser_flags(flags));
  ChatFormat f;
  f.tokenizer_ = encoder.tokenizer();
  const bool auto_r = flags.reasoning_parser == "auto", auto_t = flags.tool_call_parser == "auto";
  const bool want_harmony =
      flags.reasoning_parser == "harmony" || flags.tool_call_parser == "harmony";
  if (want_harmony || (auto_r && auto_t)) {
    f.harmony_ = detect_harmony(encoder);
    if (want_harmony && !f.harmony_) {
      f.harmony_ = HarmonyTokens::find(*f.tokenizer_);
      if (!f.harmony_)
        return invalid_argument(
            "the harmony parser needs harmony's special tokens (<|start|>, "
            "<|channel|>, <|message|>, ...), which this tokenizer lacks");
    }
    if (f.harmony_) {
      f.reasoning_ = f.tools_ = "harmony";
      f.detected_ = !want_harmony;
      return f;
    }
  }
  f.reasoning_ = auto_r                             ? detect_reasoning(encoder)
                 : flags.reasoning_parser == "none" ? ""
                                                    : flags.reasoning_parser;
  f.tools_ = auto_t                             ? detect_tools(encoder)
             : flags.tool_call_parser == "none" ? ""
                                                : flags.tool_call_parser;
  f.detected_ = auto_r || auto_t;
  return f;
}

std::string ChatFormat::describe() const {
  if (!active()) return "chat output: no reasoning or tool-call parser; content as generated";
  auto name = [](const std::string& n) { return n.empty() ? std::string("none") : n; };
  return "chat output: reasoning parser " + name(reasoning_) + ", tool-call parser " +
         name(tools_) +
         (detected_ ? " (detected from the tokenizer and chat template; "
                      "--reasoning-parser/--tool-call-parser choose)"
                    : " (as the flags say)");
}

void ChatFormat::prepare_messages(nlohmann::ordered_json& messages) const {
  if (harmony_) return prepare_harmony_messages(messages);
  if (tools_ == "hermes") prepare_hermes_messages(messages);
  if (tools_ == "deepseek_v3") prepare_deepseek_v3_messages(messages);
}

void ChatFormat::add_stop_tokens(std::vector<int32_t>& stop_token_ids) const {
  if (harmony_) add_harmony_stop_tokens(*harmony_, stop_token_ids);
}

std::unique_ptr<ChatOutputParser> ChatFormat::make_parser(std::span<const int32_t> prompt) const {
  if (!active()) return nullptr;
  if (harmony_) return std::make_unique<HarmonyParser>(tokenizer_, *harmony_);
  MarkedOutputParser::Options o;
  if (!reasoning_.empty()) {
    const ThinkStyle style = reasoning_ == "qwen3" ? ThinkStyle::kQwen3 : ThinkStyle::kDeepSeekR1;
    o.reasoning = think_reasoning(style, *tokenizer_, prompt);
  }
  if (tools_ == "hermes") o.tools = hermes_tool_calls();
  if (tools_ == "deepseek_v3") o.tools = deepseek_v3_tool_calls();
  return std::make_unique<MarkedOutputParser>(tokenizer_, std::move(o));
}

}  // namespace sieve
