#include "server/chat_output_json.h"

#include <random>

namespace sieve::server {

std::string new_tool_call_id() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<size_t> pick(0, sizeof(kAlphabet) - 2);
  std::string id = "call_";
  for (int i = 0; i < 24; ++i)
    id += kAlphabet[pick(rng)];
  return id;
}

std::string chat_finish_reason(const std::string& engine_reason, const ChatDelta& output) {
  if (engine_reason == "stop" && !output.tool_calls.empty()) return "tool_calls";
  return engine_reason;
}

namespace {

json tool_call_json(const ChatToolCall& c) {
  return {{"id", new_tool_call_id()},
          {"type", "function"},
          {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
}

}  // namespace

json chat_message_json(const ChatDelta& output) {
  json m = {{"role", "assistant"}};
  const bool calls = !output.tool_calls.empty();
  m["content"] = output.content.empty() && calls ? json(nullptr) : json(output.content);
  m["reasoning_content"] = output.reasoning.empty() ? json(nullptr) : json(output.reasoning);
  if (calls) {
    json list = json::array();
    for (const ChatToolCall& c : output.tool_calls)
      list.push_back(tool_call_json(c));
    m["tool_calls"] = std::move(list);
  }
  return m;
}

ChatStream::ChatStream(std::unique_ptr<ChatOutputParser> parser) : parser_(std::move(parser)) {}

std::vector<json> ChatStream::push(int32_t token) {
  return deltas(parser_->push(token));
}

std::vector<json> ChatStream::finish() {
  return deltas(parser_->finish());
}

std::vector<json> ChatStream::deltas(const ChatDelta& d) {
  std::vector<json> out;
  if (!d.reasoning.empty() || !d.content.empty()) {
    json text = json::object();
    if (!d.reasoning.empty()) text["reasoning_content"] = d.reasoning;
    if (!d.content.empty()) text["content"] = d.content;
    out.push_back(std::move(text));
  }
  for (const ChatToolCall& c : d.tool_calls) {
    const size_t index = calls_++;
    out.push_back(
        {{"tool_calls", json::array({{{"index", index},
                                      {"id", new_tool_call_id()},
                                      {"type", "function"},
                                      {"function", {{"name", c.name}, {"arguments", ""}}}}})}});
    out.push_back({{"tool_calls", json::array({{{"index", index},
                                                {"function", {{"arguments", c.arguments}}}}})}});
  }
  return out;
}

}  // namespace sieve::server
