// Splits a Jinja template into tokens the way Jinja2's lexer does with the options
// transformers uses: trim_blocks and lstrip_blocks on, keep_trailing_newline off, newlines
// normalised to "\n". Whitespace control ({%- -%} {{- -}} {#- -#}, {%+ +%}) is applied here,
// so the parser sees text that is already trimmed; comments are dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sieve::jinja {

enum class TokenType {
  kText,        // literal template text
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,        // identifiers and keywords (and, or, not, in, is, if, else, ...)
  kString,      // a string literal, escapes already resolved
  kInteger,
  kFloat,
  kOperator,  // + - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |
  kEnd,       // end of the template
};

struct Token {
  TokenType type;
  std::string text;  // text, name, operator or the string literal's value
  int64_t int_value = 0;
  double float_value = 0;
  size_t offset = 0;  // byte offset in the normalised source
};

// The source as the lexer reads it: "\r\n" and "\r" become "\n", one trailing newline dropped.
std::string normalize_source(std::string_view source);

// Tokens of a normalised source. Throws jinja::Error (kSyntax) on an unterminated tag,
// comment or string, or a character that starts no token.
std::vector<Token> tokenize(const std::string& source);

// 1-based line and column of a byte offset.
struct SourcePosition {
  int line = 1;
  int column = 1;
};
SourcePosition position_of(const std::string& source, size_t offset);

}  // namespace sieve::jinja
