// Post-processors: add special tokens around an encoded sequence (only when the caller asks
// for special tokens). Supported for a single sequence: TemplateProcessing, BertProcessing,
// RobertaProcessing, ByteLevel (changes offsets only, so nothing here) and Sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/status.h"

namespace sieve::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<int32_t>& ids) const = 0;
};

// nullptr for a JSON null.
Result<std::unique_ptr<PostProcessor>> parse_post_processor(const nlohmann::json& j,
                                                            std::string_view origin);

}  // namespace sieve::tok
