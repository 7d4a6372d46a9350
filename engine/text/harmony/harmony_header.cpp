#include "engine/text/harmony/harmony_header.h"

#include <sstream>
#include <vector>

#include "engine/text/tokenizer/tokenizer.h"

namespace sieve {

namespace {

std::vector<std::string> words_of(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

// "to=NAME": sets the recipient once; false for a second one or an empty name.
bool take_recipient(const std::string& word, HarmonyHeader& h) {
  if (!h.recipient.empty() || word.size() <= 3) return false;
  h.recipient = word.substr(3);
  return true;
}

bool is_recipient(const std::string& word) {
  return word.rfind("to=", 0) == 0;
}

}  // namespace

std::optional<HarmonyHeader> parse_harmony_header(std::span<const int32_t> ids, bool role_written,
                                                  const Tokenizer& tokenizer,
                                                  const HarmonyTokens& tokens) {
  // Three stretches of text, split at the two markers a header may hold: before <|channel|>
  // (role, recipient), after it (channel, recipient, content type), after <|constrain|>.
  enum Part { kRole, kChannel, kConstrain };
  std::vector<int32_t> part_ids[3];
  Part part = kRole;
  for (int32_t id : ids) {
    if (id == tokens.channel) {
      if (part != kRole) return std::nullopt;
      part = kChannel;
    } else if (id == tokens.constrain) {
      if (part != kChannel) return std::nullopt;
      part = kConstrain;
    } else {
      part_ids[part].push_back(id);
    }
  }
  if (part == kRole) return std::nullopt;  // every message names its channel
  std::vector<std::string> words[3];
  for (int p = 0; p < 3; ++p) {
    Result<std::string> text = tokenizer.decode(part_ids[p], /*skip_special_tokens=*/false);
    if (!text.ok()) return std::nullopt;
    words[p] = words_of(*text);
  }

  HarmonyHeader h;
  for (size_t i = 0; i < words[kRole].size(); ++i) {
    const std::string& w = words[kRole][i];
    if (i == 0 && role_written) {
      // The assistant writes only its own messages; a tool's or the user's is not output.
      if (w != "assistant") return std::nullopt;
      h.role = w;
    } else if (!is_recipient(w) || !take_recipient(w, h)) {
      return std::nullopt;
    }
  }
  if (role_written && h.role.empty()) return std::nullopt;

  if (words[kChannel].empty()) return std::nullopt;
  h.channel = words[kChannel][0];
  if (h.channel != "analysis" && h.channel != "commentary" && h.channel != "final")
    return std::nullopt;
  for (size_t i = 1; i < words[kChannel].size(); ++i) {
    const std::string& w = words[kChannel][i];
    if (is_recipient(w)) {
      if (!take_recipient(w, h)) return std::nullopt;
    } else if (h.content_type.empty()) {
      h.content_type = w;
    } else {
      return std::nullopt;
    }
  }
  if (part == kConstrain) {
    if (words[kConstrain].size() != 1 || !h.content_type.empty()) return std::nullopt;
    h.content_type = words[kConstrain][0];
  }
  return h;
}

}  // namespace sieve
