// Python str methods on UTF-8 text (code points, not bytes), for the Jinja builtins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sieve::jinja {

// The code points of UTF-8 text, each as its own UTF-8 substring.
std::vector<std::string> code_points(const std::string& s);

enum class StripSide { kLeft, kRight, kBoth };
// str.strip / lstrip / rstrip; `chars` nullopt strips Unicode whitespace.
std::string py_strip(const std::string& s, const std::optional<std::string>& chars, StripSide side);
// str.split(sep, maxsplit); sep nullopt splits on runs of whitespace. Empty sep is an error.
std::vector<std::string> py_split(const std::string& s, const std::optional<std::string>& sep,
                                  int64_t maxsplit);
// str.replace(old, new, count); count < 0 replaces all.
std::string py_replace(const std::string& s, const std::string& old_s, const std::string& new_s,
                       int64_t count);
std::string py_upper(const std::string& s);
std::string py_lower(const std::string& s);
std::string py_title(const std::string& s);
std::string py_capitalize(const std::string& s);
// Jinja's `title` filter (not str.title()): words start after whitespace or one of -({[<.
std::string jinja_title(const std::string& s);
bool py_isspace(uint32_t cp);

}  // namespace sieve::jinja
