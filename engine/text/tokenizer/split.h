// Splitting a piece at pattern matches, with the Hugging Face delimiter behaviours.
#pragma once

#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/text/tokenizer/pre_tokenizers.h"
#include "engine/text/tokenizer/regex.h"

namespace sieve::tok {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Result<SplitBehavior> parse_split_behavior(std::string_view name, std::string_view origin);

// Replaces every piece of `p` by its parts. `matches` must append the match spans of a piece
// (offsets relative to the piece) in order; invert swaps matches and the text between them.
template <class Matcher>
void split_pieces(PreTokens& p, SplitBehavior behavior, bool invert, const Matcher& matches);

// Implementation detail of split_pieces: turns one piece's matches into pieces.
void split_one(const Piece& piece, const std::vector<Span>& matches, SplitBehavior behavior,
               bool invert, std::vector<Piece>& out);

template <class Matcher>
void split_pieces(PreTokens& p, SplitBehavior behavior, bool invert, const Matcher& matches) {
  std::vector<Piece> out;
  out.reserve(p.pieces.size() * 2);
  std::vector<Span> spans;
  for (const Piece& piece : p.pieces) {
    spans.clear();
    matches(p.view(piece), spans);
    split_one(piece, spans, behavior, invert, out);
  }
  p.pieces.swap(out);
}

}  // namespace sieve::tok
