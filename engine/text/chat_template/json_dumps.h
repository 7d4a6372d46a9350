// Python's json.dumps for Jinja values, as transformers' `tojson` filter calls it:
// json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
#pragma once

#include <optional>
#include <string>

#include "engine/text/chat_template/jinja_value.h"

namespace sieve::jinja {

struct JsonDumpsOptions {
  bool ensure_ascii = false;
  // Python's indent: nullopt is None (one line); a number n is n spaces; a string is used as is.
  std::optional<std::string> indent;
  // Python's separators; defaults (", ", ": ") or, with an indent, (",", ": ").
  std::optional<std::string> item_separator;
  std::optional<std::string> key_separator;
  bool sort_keys = false;
};

// Fails (type error) on Undefined and callables, as json.dumps does on objects it cannot
// serialise. Floats print as Python's repr (NaN, Infinity, -Infinity as json.dumps writes them).
std::string json_dumps(const Value& value, const JsonDumpsOptions& options = {});

}  // namespace sieve::jinja
