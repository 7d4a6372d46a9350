#include "tools/sieve/chat_parser_flags.h"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

namespace sieve {

void add_chat_parser_flags(CLI::App* cmd, ChatParserFlags& flags) {
  cmd->add_option("--reasoning-parser", flags.reasoning_parser,
                  "How chat output's reasoning is read into reasoning_content: qwen3 "
                  "(<think>…</think>, opened by the model), deepseek_r1 (reasoning until "
                  "</think>), harmony (gpt-oss), none; auto detects it from the tokenizer and chat "
                  "template")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "none", "qwen3", "deepseek_r1", "harmony"}));
  cmd->add_option("--tool-call-parser", flags.tool_call_parser,
                  "How chat output's tool calls are read into tool_calls: hermes "
                  "(<tool_call>{\"name\", \"arguments\"}</tool_call>, Qwen3), deepseek_v3 "
                  "(<｜tool▁calls▁begin｜>…), harmony (gpt-oss), none; auto detects it from the "
                  "tokenizer and chat template")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "none", "hermes", "deepseek_v3", "harmony"}));
}

Result<ChatFormat> select_chat_format(const PromptEncoder* encoder, const ChatParserFlags& flags) {
  SIEVE_RETURN_IF_ERROR(validate_chat_parser_flags(flags));
  if (!encoder) return ChatFormat();
  SIEVE_ASSIGN_OR_RETURN(ChatFormat format, ChatFormat::select(*encoder, flags));
  spdlog::info("{}", format.describe());
  return format;
}

}  // namespace sieve
