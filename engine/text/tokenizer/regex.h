// A compiled PCRE2 pattern (UTF + UCP, JIT when available). Subjects must be valid UTF-8: the
// caller validates once, and matching skips PCRE2's per-call check (which would make scanning
// a long input quadratic).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/base/status.h"

namespace sieve::tok {

using Span = std::pair<uint32_t, uint32_t>;  // [begin, end) byte offsets

class Regex {
 public:
  // literal: match `pattern` as plain text. `what` names the pattern in error messages.
  static Result<Regex> compile(std::string_view pattern, bool literal, std::string_view what);

  // Appends every non-overlapping match in `s` (leftmost first, as onig's find_iter), offsets
  // relative to s. After an empty match the search resumes one character later.
  void find_all(std::string_view s, std::vector<Span>& out) const;

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
};

}  // namespace sieve::tok
