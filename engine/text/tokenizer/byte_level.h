// GPT-2's byte-level alphabet: every byte maps to one printable character, so any byte string
// is a string of "characters" a BPE vocabulary can hold.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sieve::tok {

// The character (as UTF-8) that stands for byte `b`.
std::string_view byte_to_char(uint8_t b);
// The byte a character stands for, or -1 when it is not in the alphabet.
int char_to_byte(char32_t c);
// Maps every byte of `bytes` to its character, appending to `out`.
void bytes_to_chars(std::string_view bytes, std::string& out);
// Inverse of bytes_to_chars; false when some character is outside the alphabet (then `out`
// is left as it was).
bool chars_to_bytes(std::string_view chars, std::string& out);

}  // namespace sieve::tok
