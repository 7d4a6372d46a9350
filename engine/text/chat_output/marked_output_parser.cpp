#include "engine/text/chat_output/marked_output_parser.h"

#include <algorithm>

namespace sieve {

namespace {

bool all_space(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; });
}

}  // namespace

std::string MarkedOutputParser::EdgeNewlines::push(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      if (!at_edge_) held_ += c;
      continue;
    }
    out += held_;
    held_.clear();
    out += c;
    at_edge_ = false;
  }
  return out;
}

std::string MarkedOutputParser::EdgeNewlines::finish() {
  std::string rest = std::move(held_);
  held_.clear();
  at_edge_ = true;
  return rest;
}

namespace {

// The markers the options use, in a fixed order; `roles` (when given) gets each one's Role.
std::vector<std::string> marker_texts(const MarkedOutputParser::Options& o,
                                      std::vector<int>* roles) {
  std::vector<std::string> texts;
  auto add = [&](const std::string& text, int role) {
    if (text.empty()) return;
    texts.push_back(text);
    if (roles) roles->push_back(role);
  };
  if (o.reasoning) {
    add(o.reasoning->open, 0);
    add(o.reasoning->close, 1);
  }
  if (o.tools) {
    add(o.tools->section_open, 2);
    add(o.tools->section_close, 3);
    add(o.tools->call_open, 4);
    add(o.tools->call_close, 5);
  }
  return texts;
}

}  // namespace

MarkedOutputParser::MarkedOutputParser(std::shared_ptr<const Tokenizer> tokenizer, Options options)
    : options_(std::move(options)),
      scanner_(std::move(tokenizer), marker_texts(options_, nullptr)) {
  std::vector<int> roles;
  marker_texts(options_, &roles);
  for (int r : roles)
    roles_.push_back(static_cast<Role>(r));
  start();
}

void MarkedOutputParser::start() {
  state_ =
      options_.reasoning && options_.reasoning->starts_inside ? State::kReasoning : State::kContent;
  reasoning_.edge();
  content_.edge();
  reasoning_written_ = false;
  content_written_ = false;
  raw_.clear();
  body_.clear();
  section_has_call_ = section_has_text_ = false;
}

ChatDelta MarkedOutputParser::push(int32_t id) {
  std::vector<MarkerScanner::Segment> segments;
  scanner_.push(id, segments);
  ChatDelta d;
  for (const auto& s : segments)
    on_segment(s, d);
  output_.append(d);
  return d;
}

ChatDelta MarkedOutputParser::finish() {
  std::vector<MarkerScanner::Segment> segments;
  scanner_.finish(segments);
  ChatDelta d;
  for (const auto& s : segments)
    on_segment(s, d);
  switch (state_) {
    case State::kReasoning:
      d.reasoning += reasoning_.finish();
      break;
    case State::kContent:
      d.content += content_.finish();
      break;
    case State::kSection:
    case State::kCall:
      // The block never closed (max_tokens, or the model stopped): what is unresolved is shown
      // as written, unless it is only the whitespace after calls already made.
      if (state_ == State::kCall || !section_has_call_ || section_has_text_ || !all_space(raw_))
        flush_raw(d);
      d.content += content_.finish();
      break;
  }
  start();
  output_.append(d);
  return d;
}

void MarkedOutputParser::on_segment(const MarkerScanner::Segment& s, ChatDelta& d) {
  if (s.marker < 0) return on_text(s.text, d);
  on_marker(roles_[s.marker], s.text, d);
}

void MarkedOutputParser::content_text(std::string_view text, ChatDelta& d) {
  const std::string out = content_.push(text);
  if (!out.empty()) content_written_ = true;
  d.content += out;
}

void MarkedOutputParser::on_text(const std::string& text, ChatDelta& d) {
  switch (state_) {
    case State::kContent:
      content_text(text, d);
      break;
    case State::kReasoning: {
      const std::string out = reasoning_.push(text);
      if (!out.empty()) reasoning_written_ = true;
      d.reasoning += out;
      break;
    }
    case State::kSection:
      raw_ += text;
      if (!all_space(text)) section_has_text_ = true;
      break;
    case State::kCall:
      raw_ += text;
      body_ += text;
      break;
  }
}

void MarkedOutputParser::to_content() {
  state_ = State::kContent;
  content_.edge();
}

void MarkedOutputParser::flush_raw(ChatDelta& d) {
  if (raw_.empty()) return;
  content_text(raw_, d);
  raw_.clear();
}

void MarkedOutputParser::end_call(ChatDelta& d) {
  std::optional<ChatToolCall> call = options_.tools->parse_call(body_);
  body_.clear();
  if (call) {
    d.tool_calls.push_back(std::move(*call));
    content_written_ = true;
    section_has_call_ = true;
    raw_.clear();
  } else {
    flush_raw(d);
  }
  if (options_.tools->section_open.empty()) {
    to_content();
  } else {
    state_ = State::kSection;
  }
}

void MarkedOutputParser::on_marker(Role role, const std::string& text, ChatDelta& d) {
  const bool sections = options_.tools && !options_.tools->section_open.empty();
  switch (state_) {
    case State::kContent:
      if (role == kThinkOpen && !content_written_) {
        content_.edge();
        reasoning_.edge();
        reasoning_written_ = false;
        state_ = State::kReasoning;
      } else if ((role == kSectionOpen && sections) || (role == kCallOpen && !sections)) {
        content_.edge();  // the newlines before the block are the template's
        content_written_ = true;
        raw_ = text;
        body_.clear();
        section_has_call_ = section_has_text_ = false;
        state_ = role == kCallOpen ? State::kCall : State::kSection;
      } else {
        content_text(text, d);  // a marker out of place is text
      }
      return;
    case State::kReasoning:
      if (role == kThinkClose) {
        reasoning_.edge();
        to_content();
      } else if (role == kThinkOpen && !reasoning_written_) {
        reasoning_.edge();  // the model opened the block the prompt had already opened
      } else {
        const std::string out = reasoning_.push(text);
        if (!out.empty()) reasoning_written_ = true;
        d.reasoning += out;
      }
      return;
    case State::kSection:
      raw_ += text;
      if (role == kCallOpen) {
        body_.clear();
        state_ = State::kCall;
      } else if (role == kSectionClose) {
        if (!section_has_call_ || section_has_text_) flush_raw(d);
        raw_.clear();
        to_content();
      } else {
        section_has_text_ = true;
      }
      return;
    case State::kCall:
      if (role == kCallClose) {
        raw_ += text;
        end_call(d);
      } else if (role == kCallOpen) {
        // The previous call never closed: it is text, and a new one starts.
        flush_raw(d);
        raw_ = text;
        body_.clear();
      } else {
        raw_ += text;
        body_ += text;
      }
      return;
  }
}

}  // namespace sieve
