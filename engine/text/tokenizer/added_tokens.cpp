#include "engine/text/tokenizer/added_tokens.h"

#include <algorithm>

#include "engine/text/tokenizer/utf8.h"

namespace sieve::tok {
namespace {

// The character that ends text[..pos] / starts text[pos..]; 0 when there is none.
char32_t char_before(std::string_view s, size_t pos) {
  if (pos == 0) return 0;
  size_t b = pos - 1;
  while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80)
    --b;
  return next_char(s, b);
}

char32_t char_at(std::string_view s, size_t pos) {
  if (pos >= s.size()) return 0;
  return next_char(s, pos);
}

bool is_word_char(char32_t c) {
  return c != 0 && (is_alphanumeric(c) || c == '_');
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  root_.fill(-1);
  nodes_.emplace_back();
  for (size_t t = 0; t < tokens_.size(); ++t) {
    const std::string& s = tokens_[t].content;
    if (s.empty()) continue;
    int32_t node = 0;
    for (unsigned char b : s) {
      int32_t c = child(node, b);
      if (c < 0) {
        c = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        auto& ch = nodes_[node].children;
        ch.insert(std::lower_bound(ch.begin(), ch.end(), std::make_pair(b, int32_t{-1})), {b, c});
        if (node == 0) root_[b] = c;
      }
      node = c;
    }
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<int32_t>(t);
  }
}

int32_t AddedTokenMatcher::child(int32_t node, uint8_t b) const {
  if (node == 0) return root_[b];
  const auto& ch = nodes_[node].children;
  auto it = std::lower_bound(ch.begin(), ch.end(), std::make_pair(b, int32_t{-1}));
  return it != ch.end() && it->first == b ? it->second : -1;
}

int32_t AddedTokenMatcher::longest_at(std::string_view text, size_t pos, size_t* end) const {
  int32_t node = 0, best = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    node = child(node, static_cast<uint8_t>(text[i]));
    if (node < 0) break;
    if (nodes_[node].token >= 0) {
      best = nodes_[node].token;
      *end = i + 1;
    }
  }
  return best;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Segment>& out) const {
  size_t start = 0;  // start of the pending text segment
  size_t pos = 0;
  while (pos < text.size()) {
    if (root_[static_cast<uint8_t>(text[pos])] < 0) {
      ++pos;
      continue;
    }
    size_t stop = 0;
    const int32_t t = longest_at(text, pos, &stop);
    if (t < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[t];
    if (tok.single_word &&
        (is_word_char(char_before(text, pos)) || is_word_char(char_at(text, stop)))) {
      pos = stop;  // as the reference: the match is consumed but not used
      continue;
    }
    size_t b = pos, e = stop;
    if (tok.lstrip) {
      while (b > start) {
        size_t cb = b - 1;
        while (cb > start && (static_cast<unsigned char>(text[cb]) & 0xC0) == 0x80)
          --cb;
        size_t i = cb;
        if (!is_whitespace(next_char(text, i))) break;
        b = cb;
      }
    }
    if (tok.rstrip) {
      while (e < text.size()) {
        size_t i = e;
        if (!is_whitespace(next_char(text, i))) break;
        e = i;
      }
    }
    if (start < b) out.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(b), -1});
    out.push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(e), tok.id});
    start = pos = e;
  }
  if (start < text.size()) {
    out.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(text.size()), -1});
  }
}

}  // namespace sieve::tok
