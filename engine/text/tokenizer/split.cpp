#include "engine/text/tokenizer/split.h"

#include <algorithm>
#include <string>

namespace sieve::tok {

Result<SplitBehavior> parse_split_behavior(std::string_view name, std::string_view origin) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return unimplemented(std::string(origin) + ": split behavior \"" + std::string(name) +
                       "\" is not supported");
}

void split_one(const Piece& piece, const std::vector<Span>& matches, SplitBehavior behavior,
               bool invert, std::vector<Piece>& out) {
  const uint32_t len = piece.end - piece.begin;
  // Segments covering the piece, each flagged as match or not (after `invert`).
  struct Seg {
    uint32_t b, e;
    bool match;
  };
  thread_local std::vector<Seg> segs;
  segs.clear();
  uint32_t prev = 0;
  for (const Span& m : matches) {
    if (prev != m.first) segs.push_back({prev, m.first, invert});
    segs.push_back({m.first, m.second, !invert});
    prev = m.second;
  }
  if (prev != len) segs.push_back({prev, len, invert});

  thread_local std::vector<Seg> merged;
  merged.clear();
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Seg& s : segs)
        if (!s.match) merged.push_back(s);
      break;
    case SplitBehavior::kIsolated:
      merged = segs;
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Seg& s : segs) {
        if (s.match && !previous_match && !merged.empty()) {
          merged.back().e = s.e;
        } else {
          merged.push_back(s);
        }
        previous_match = s.match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (size_t i = segs.size(); i-- > 0;) {
        const Seg& s = segs[i];
        if (s.match && !previous_match && !merged.empty()) {
          merged.back().b = s.b;
        } else {
          merged.push_back(s);
        }
        previous_match = s.match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    case SplitBehavior::kContiguous:
      for (const Seg& s : segs) {
        if (s.match == previous_match && !merged.empty()) {
          merged.back().e = s.e;
        } else {
          merged.push_back(s);
        }
        previous_match = s.match;
      }
      break;
  }
  for (const Seg& s : merged) {
    if (s.e == s.b) continue;
    out.push_back({piece.begin + s.b, piece.begin + s.e, piece.at_origin && s.b == 0});
  }
}

}  // namespace sieve::tok
