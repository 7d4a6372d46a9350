#include "engine/text/chat_template/jinja_lexer.h"

#include <cstdio>
#include <cstring>

#include "engine/text/chat_template/jinja_value.h"

namespace sieve::jinja {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

[[noreturn]] void syntax_error(const std::string& message, size_t offset) {
  throw Error(ErrorKind::kSyntax, message, offset);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(const std::string& src) : src_(src) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t tag = find_tag(pos_);
      std::string_view text(src_.data() + pos_,
                            (tag == std::string::npos ? src_.size() : tag) - pos_);
      if (tag == std::string::npos) {
        emit_text(text, pos_);
        break;
      }
      const char kind = src_[tag + 1];
      const char sign = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
      if (sign == '-') {
        while (!text.empty() && is_space(text.back()))
          text.remove_suffix(1);
      } else if (sign != '+' && kind != '{') {
        // lstrip_blocks: drop spaces between the start of the line and a block or comment.
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if (l_pos > 0 || line_starting_) {
          bool only_space = l_pos < text.size();
          for (size_t i = l_pos; i < text.size() && only_space; ++i)
            only_space = is_space(text[i]);
          if (only_space) text = text.substr(0, l_pos);
        }
      }
      emit_text(text, pos_);
      pos_ = tag + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (kind == '#') {
        skip_comment(tag);
      } else {
        lex_tag(kind == '%', tag);
      }
    }
    tokens_.push_back(Token{TokenType::kEnd, "", 0, 0, src_.size()});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
        return i;
    }
    return std::string::npos;
  }

  void emit_text(std::string_view text, size_t offset) {
    if (!text.empty()) tokens_.push_back(Token{TokenType::kText, std::string(text), 0, 0, offset});
  }

  // After a closing tag: "-" eats all following whitespace, a plain block or comment end
  // eats one newline (trim_blocks), "+" and variable ends eat nothing.
  void after_tag_end(char sign, bool trim_newline) {
    line_starting_ = false;
    if (sign == '-') {
      while (pos_ < src_.size() && is_space(src_[pos_])) {
        line_starting_ = src_[pos_] == '\n';
        ++pos_;
      }
    } else if (sign != '+' && trim_newline && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
      line_starting_ = true;
    }
  }

  void skip_comment(size_t tag) {
    const size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) syntax_error("unterminated comment", tag);
    const char sign = end > pos_ ? src_[end - 1] : '\0';
    pos_ = end + 2;
    after_tag_end(sign == '-' || sign == '+' ? sign : '\0', true);
  }

  void lex_tag(bool block, size_t tag) {
    tokens_.push_back(Token{block ? TokenType::kBlockBegin : TokenType::kVarBegin, "", 0, 0, tag});
    const char* close = block ? "%}" : "}}";
    int depth = 0;
    for (;;) {
      while (pos_ < src_.size() && is_space(src_[pos_]))
        ++pos_;
      if (pos_ >= src_.size()) {
        syntax_error(std::string("unexpected end of template, expected '") + close + "'", tag);
      }
      if (depth == 0) {
        char sign = '\0';
        size_t p = pos_;
        if ((src_[p] == '-' || src_[p] == '+') && src_.compare(p + 1, 2, close) == 0) {
          sign = src_[p];
          ++p;
        }
        if (src_.compare(p, 2, close) == 0) {
          tokens_.push_back(
              Token{block ? TokenType::kBlockEnd : TokenType::kVarEnd, "", 0, 0, pos_});
          pos_ = p + 2;
          // Jinja2 trims no newline after {% raw %} (trim_blocks skips it).
          const bool raw = block && is_raw_begin();
          after_tag_end(sign, block && !raw);
          if (raw) lex_raw(tag);
          return;
        }
      }
      lex_expression_token(depth);
    }
  }

  // The last three tokens are {% raw %}.
  bool is_raw_begin() const {
    const size_t n = tokens_.size();
    return n >= 3 && tokens_[n - 3].type == TokenType::kBlockBegin &&
           tokens_[n - 2].type == TokenType::kName && tokens_[n - 2].text == "raw" &&
           tokens_[n - 1].type == TokenType::kBlockEnd;
  }

  // {% raw %}text{% endraw %}: the text is emitted as it is (whitespace control still applies
  // at the endraw tag).
  void lex_raw(size_t tag) {
    tokens_.resize(tokens_.size() - 3);
    const bool raw_line_starting = line_starting_;
    for (size_t search = pos_;;) {
      const size_t p = src_.find("{%", search);
      if (p == std::string::npos) syntax_error("unterminated raw block", tag);
      size_t q = p + 2;
      const char sign = (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ? src_[q] : '\0';
      if (sign) ++q;
      while (q < src_.size() && is_space(src_[q]))
        ++q;
      if (src_.compare(q, 6, "endraw") != 0) {
        search = p + 2;
        continue;
      }
      q += 6;
      while (q < src_.size() && is_space(src_[q]))
        ++q;
      char end_sign = '\0';
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) end_sign = src_[q++];
      if (src_.compare(q, 2, "%}") != 0) {
        search = p + 2;
        continue;
      }
      std::string_view text(src_.data() + pos_, p - pos_);
      if (sign == '-') {
        while (!text.empty() && is_space(text.back()))
          text.remove_suffix(1);
      } else if (sign != '+') {
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if (l_pos > 0 || raw_line_starting) {
          bool only_space = l_pos < text.size();
          for (size_t i = l_pos; i < text.size() && only_space; ++i)
            only_space = is_space(text[i]);
          if (only_space) text = text.substr(0, l_pos);
        }
      }
      emit_text(text, pos_);
      pos_ = q + 2;
      after_tag_end(end_sign, true);
      return;
    }
  }

  void lex_expression_token(int& depth) {
    const size_t start = pos_;
    const char c = src_[pos_];
    if (is_name_start(c)) {
      while (pos_ < src_.size() && is_name_char(src_[pos_]))
        ++pos_;
      tokens_.push_back(Token{TokenType::kName, src_.substr(start, pos_ - start), 0, 0, start});
      return;
    }
    if (is_digit(c)) return lex_number();
    if (c == '\'' || c == '"') return lex_string();
    static const char* kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : kTwo) {
      if (src_.compare(pos_, 2, op) == 0) {
        pos_ += 2;
        tokens_.push_back(Token{TokenType::kOperator, op, 0, 0, start});
        return;
      }
    }
    if (std::strchr("+-*/%~<>=()[]{},.:|", c) != nullptr) {
      if (c == '(' || c == '[' || c == '{') ++depth;
      if (c == ')' || c == ']' || c == '}') {
        if (depth == 0) syntax_error(std::string("unexpected '") + c + "'", start);
        --depth;
      }
      ++pos_;
      tokens_.push_back(Token{TokenType::kOperator, std::string(1, c), 0, 0, start});
      return;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", byte);
      syntax_error(std::string("unexpected byte '") + buf + "'", start);
    }
    syntax_error(std::string("unexpected character '") + c + "'", start);
  }

  void lex_number() {
    const size_t start = pos_;
    std::string digits;
    auto read_digits = [&] {
      while (pos_ < src_.size() && (is_digit(src_[pos_]) || src_[pos_] == '_')) {
        if (src_[pos_] != '_') digits += src_[pos_];
        ++pos_;
      }
    };
    read_digits();
    bool is_float = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
      is_float = true;
      digits += '.';
      ++pos_;
      read_digits();
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
      if (p < src_.size() && is_digit(src_[p])) {
        is_float = true;
        digits += 'e';
        digits.append(src_, pos_ + 1, p - pos_ - 1);
        pos_ = p;
        read_digits();
      }
    }
    Token t{is_float ? TokenType::kFloat : TokenType::kInteger, digits, 0, 0, start};
    try {
      if (is_float) {
        t.float_value = std::stod(digits);
      } else {
        t.int_value = std::stoll(digits);
      }
    } catch (const std::exception&) {
      syntax_error("number literal out of range: " + digits, start);
    }
    tokens_.push_back(std::move(t));
  }

  // A string literal with Python's escapes (Jinja2 decodes them with "unicode-escape").
  void lex_string() {
    const size_t start = pos_;
    const char quote = src_[pos_++];
    std::string value;
    for (;;) {
      if (pos_ >= src_.size()) syntax_error("unterminated string", start);
      const char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (pos_ >= src_.size()) syntax_error("unterminated string", start);
      const char e = src_[pos_++];
      switch (e) {
        case '\n':
          break;
        case '\\':
        case '\'':
        case '"':
          value += e;
          break;
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'v':
          value += '\v';
          break;
        case 'a':
          value += '\a';
          break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int i = 0; i < n; ++i) {
            const int h = pos_ < src_.size() ? hex_value(src_[pos_]) : -1;
            if (h < 0) syntax_error(std::string("truncated \\") + e + " escape", pos_);
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++pos_;
          }
          if (cp > 0x10FFFF) syntax_error("escape beyond U+10FFFF", pos_);
          append_utf8(value, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int i = 0; i < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7';
                 ++i)
              cp = cp * 8 + static_cast<uint32_t>(src_[pos_++] - '0');
            append_utf8(value, cp);
          } else {
            value += '\\';  // Python keeps unknown escapes as written
            value += e;
          }
      }
    }
    tokens_.push_back(Token{TokenType::kString, std::move(value), 0, 0, start});
  }

  const std::string& src_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::string normalize_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::vector<Token> tokenize(const std::string& source) {
  return Lexer(source).run();
}

SourcePosition position_of(const std::string& source, size_t offset) {
  SourcePosition p;
  const size_t end = offset < source.size() ? offset : source.size();
  size_t line_start = 0;
  for (size_t i = 0; i < end; ++i) {
    if (source[i] == '\n') {
      ++p.line;
      line_start = i + 1;
    }
  }
  p.column = static_cast<int>(end - line_start) + 1;
  return p;
}

}  // namespace sieve::jinja
