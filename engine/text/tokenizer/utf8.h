// UTF-8 helpers shared by the tokenizer stages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sieve::tok {

// Length of the sequence a lead byte starts (1 for ASCII and for invalid bytes).
inline size_t utf8_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Decodes the character at s[i] (s must be valid UTF-8) and advances i past it.
char32_t next_char(std::string_view s, size_t& i);
void append_utf8(std::string& out, char32_t c);

bool is_valid_utf8(std::string_view s);
// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);
// True when `s` ends in U+FFFD (the mark of a character still incomplete).
bool ends_with_replacement(std::string_view s);

// Rust's char::is_whitespace (the Unicode White_Space property).
bool is_whitespace(char32_t c);
// Rust's char::is_numeric (general categories Nd, Nl, No).
bool is_numeric(char32_t c);
// Rust's char::is_alphanumeric.
bool is_alphanumeric(char32_t c);

}  // namespace sieve::tok
