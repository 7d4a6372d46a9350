// Normalizers: rewrite text before pre-tokenisation. Supported: NFC, NFD, NFKC, NFKD (through
// utf8proc), Lowercase, Sequence, Prepend, Replace, Strip.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/status.h"

namespace sieve::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `s` is valid UTF-8 and stays so.
  virtual void normalize(std::string& s) const = 0;
};

// nullptr for a JSON null (no normaliser). `origin` names the file in error messages.
Result<std::unique_ptr<Normalizer>> parse_normalizer(const nlohmann::json& j,
                                                     std::string_view origin);

}  // namespace sieve::tok
