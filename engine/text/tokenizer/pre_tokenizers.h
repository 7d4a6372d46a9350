// Pre-tokenizers: cut normalised text into pieces (words) that the model encodes one by one.
// Supported: Sequence, Split, ByteLevel, Digits, Metaspace, Whitespace, WhitespaceSplit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/status.h"

namespace sieve::tok {

struct Piece {
  uint32_t begin = 0, end = 0;  // byte range in PreTokens::text
  bool at_origin = false;       // starts at offset 0 of the original input
};

// The text being pre-tokenised and its current pieces (in order, non-empty).
struct PreTokens {
  std::string text;
  std::vector<Piece> pieces;
  std::string_view view(const Piece& p) const {
    return std::string_view(text).substr(p.begin, p.end - p.begin);
  }
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokens& p) const = 0;
};

struct PreTokenizerConfig {
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  // The last step is ByteLevel: the model may take raw bytes (its vocabulary re-keyed from the
  // byte-level alphabet) and the final byte-to-character mapping is skipped.
  bool byte_level_last = false;
};

// `origin` names the file in error messages.
Result<PreTokenizerConfig> parse_pre_tokenizer(const nlohmann::json& j, std::string_view origin);

}  // namespace sieve::tok
