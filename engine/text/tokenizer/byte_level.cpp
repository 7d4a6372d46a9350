#include "engine/text/tokenizer/byte_level.h"

#include <array>

#include "engine/text/tokenizer/utf8.h"

namespace sieve::tok {
namespace {

struct Tables {
  std::array<char32_t, 256> byte_char{};
  std::array<std::string, 256> byte_utf8;
  std::array<int16_t, 324> char_byte{};  // every mapped character is below U+0144

  Tables() {
    char_byte.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      byte_char[b] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(next++);
      char_byte[byte_char[b]] = static_cast<int16_t>(b);
      append_utf8(byte_utf8[b], byte_char[b]);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

std::string_view byte_to_char(uint8_t b) {
  return tables().byte_utf8[b];
}

int char_to_byte(char32_t c) {
  return c < 324 ? tables().char_byte[c] : -1;
}

void bytes_to_chars(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  for (unsigned char b : bytes)
    out.append(t.byte_utf8[b]);
}

bool chars_to_bytes(std::string_view chars, std::string& out) {
  const size_t keep = out.size();
  size_t i = 0;
  while (i < chars.size()) {
    const int b = char_to_byte(next_char(chars, i));
    if (b < 0) {
      out.resize(keep);
      return false;
    }
    out.push_back(static_cast<char>(b));
  }
  return true;
}

}  // namespace sieve::tok
