// Decoders: turn the token strings of an id sequence back into text. Supported: ByteLevel,
// Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/status.h"

namespace sieve::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token list in place (the reference's decode_chain); the caller joins the
  // result with "".
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a JSON null (tokens are then joined with spaces).
Result<std::unique_ptr<Decoder>> parse_decoder(const nlohmann::json& j, std::string_view origin);

}  // namespace sieve::tok
