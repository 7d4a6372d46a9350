#include "engine/text/harmony/harmony_parser.h"

#include <nlohmann/json.hpp>

#include "engine/text/harmony/harmony_header.h"
#include "engine/text/tokenizer/tokenizer.h"

namespace sieve {

namespace {

constexpr std::string_view kFunctions = "functions.";

// The OpenAI API hands `arguments` to clients that parse it as an object of named arguments.
bool is_json_object(const std::string& text) {
  const auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return !parsed.is_discarded() && parsed.is_object();
}

}  // namespace

HarmonyParser::HarmonyParser(std::shared_ptr<const Tokenizer> tokenizer,
                             const HarmonyTokens& tokens)
    : tokenizer_(std::move(tokenizer)), tokens_(tokens), vocab_size_(tokenizer_->vocab_size()) {}

HarmonyParser::~HarmonyParser() = default;
HarmonyParser::HarmonyParser(HarmonyParser&&) noexcept = default;
HarmonyParser& HarmonyParser::operator=(HarmonyParser&&) noexcept = default;

ChatDelta HarmonyParser::push(int32_t id) {
  ChatDelta d;
  if (id < 0 || id >= vocab_size_) return d;
  switch (state_) {
    case State::kHeader:
      on_header_token(id, d);
      break;
    case State::kBody:
    case State::kRaw:
      on_body_token(id, d);
      break;
  }
  output_.append(d);
  return d;
}

ChatDelta HarmonyParser::finish() {
  ChatDelta d;
  if (state_ == State::kHeader) {
    flush_raw_ids(d);  // a header the output never finished
  } else {
    end_message(d);
  }
  if (state_ == State::kBody && target_ == Target::kToolCall) flush_raw_ids(d);
  reset_message(/*role_written=*/false);
  output_.append(d);
  return d;
}

void HarmonyParser::reset_message(bool role_written) {
  state_ = State::kHeader;
  role_written_ = role_written;
  header_.clear();
  raw_ids_.clear();
  tool_name_.clear();
  arguments_.clear();
  detok_.reset();
}

void HarmonyParser::on_header_token(int32_t id, ChatDelta& d) {
  if (id == tokens_.start) {
    // A <|start|> inside a header ends that header unread.
    if (!raw_ids_.empty()) flush_raw_ids(d);
    reset_message(/*role_written=*/true);
    raw_ids_.push_back(id);
    return;
  }
  if (tokens_.ends_message(id)) {
    flush_raw_ids(d);  // a message that ended before its body began
    reset_message(/*role_written=*/false);
    return;
  }
  raw_ids_.push_back(id);
  if (id != tokens_.message) {
    header_.push_back(id);
    if (header_.size() > kMaxHeaderTokens) to_raw(d);
    return;
  }
  const std::optional<HarmonyHeader> h =
      parse_harmony_header(header_, role_written_, *tokenizer_, tokens_);
  if (!h) return to_raw(d);
  if (h->recipient.empty()) {
    target_ = h->channel == "analysis" ? Target::kReasoning : Target::kContent;
    raw_ids_.clear();  // a text body streams as it comes and is never taken back
  } else if (h->recipient.starts_with(kFunctions) && h->recipient.size() > kFunctions.size()) {
    target_ = Target::kToolCall;
    tool_name_ = h->recipient.substr(kFunctions.size());
  } else {
    // A built-in tool (browser, python) or anything else the request could not have offered:
    // not a call a chat client can answer, so it is shown as written.
    return to_raw(d);
  }
  state_ = State::kBody;
  open_body();
}

void HarmonyParser::open_body() {
  detok_ = std::make_unique<IncrementalDetokenizer>(tokenizer_, /*skip_special_tokens=*/false);
}

std::string& HarmonyParser::target_text(ChatDelta& d) const {
  return target_ == Target::kReasoning ? d.reasoning : d.content;
}

void HarmonyParser::on_body_token(int32_t id, ChatDelta& d) {
  if (tokens_.ends_message(id) || id == tokens_.start) {
    const bool tool_call = state_ == State::kBody && target_ == Target::kToolCall;
    // A call is made only by its end marker; a body that runs into the next <|start|> is
    // unfinished.
    const bool call_ended = tool_call && tokens_.ends_message(id);
    end_message(d);
    if (tool_call) {
      if (call_ended && is_json_object(arguments_)) {
        d.tool_calls.push_back({tool_name_, arguments_});
      } else {
        flush_raw_ids(d);
      }
    }
    reset_message(/*role_written=*/false);
    if (id == tokens_.start) on_header_token(id, d);
    return;
  }
  if (state_ == State::kBody && target_ == Target::kToolCall) raw_ids_.push_back(id);
  Result<std::string> piece = detok_->push(id);
  if (!piece.ok()) return;
  if (state_ == State::kRaw) {
    d.content += *piece;
  } else if (target_ == Target::kToolCall) {
    arguments_ += *piece;
  } else {
    target_text(d) += *piece;
  }
}

// The body's decoder gives up what it still holds (the last bytes of an unfinished character).
void HarmonyParser::end_message(ChatDelta& d) {
  if (!detok_) return;
  std::string rest = detok_->finish();
  detok_.reset();
  if (state_ == State::kRaw) {
    d.content += rest;
  } else if (target_ == Target::kToolCall) {
    arguments_ += rest;
  } else {
    target_text(d) += rest;
  }
}

// The message so far is not harmony the parser can read: its ids go out as text, and the rest
// of it streams as text until it ends.
void HarmonyParser::to_raw(ChatDelta& d) {
  state_ = State::kRaw;
  open_body();
  for (int32_t id : raw_ids_) {
    Result<std::string> piece = detok_->push(id);
    if (piece.ok()) d.content += *piece;
  }
  raw_ids_.clear();
  header_.clear();
}

void HarmonyParser::flush_raw_ids(ChatDelta& d) {
  if (raw_ids_.empty()) return;
  Result<std::string> text = tokenizer_->decode(raw_ids_, /*skip_special_tokens=*/false);
  if (text.ok()) d.content += *text;
  raw_ids_.clear();
}

}  // namespace sieve
