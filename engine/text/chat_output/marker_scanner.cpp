#include "engine/text/chat_output/marker_scanner.h"

#include <algorithm>

namespace sieve {

namespace {

void add_text(std::vector<MarkerScanner::Segment>& out, std::string text) {
  if (text.empty()) return;
  if (!out.empty() && out.back().marker < 0) {
    out.back().text += text;
  } else {
    out.push_back({-1, std::move(text)});
  }
}

}  // namespace

bool MarkerScanner::is_one_token(const Tokenizer& tokenizer, const std::string& marker) {
  const Result<std::vector<int32_t>> ids = tokenizer.encode(marker, /*add_special_tokens=*/false);
  if (!ids.ok() || ids->size() != 1) return false;
  const Result<std::string> back = tokenizer.decode(*ids, /*skip_special_tokens=*/false);
  return back.ok() && *back == marker;
}

MarkerScanner::MarkerScanner(std::shared_ptr<const Tokenizer> tokenizer,
                             std::vector<std::string> markers)
    : tokenizer_(std::move(tokenizer)),
      markers_(std::move(markers)),
      detok_(std::make_unique<IncrementalDetokenizer>(tokenizer_, /*skip_special_tokens=*/true)),
      vocab_size_(tokenizer_->vocab_size()) {
  for (size_t i = 0; i < markers_.size(); ++i) {
    if (is_one_token(*tokenizer_, markers_[i])) {
      const auto ids = tokenizer_->encode(markers_[i], /*add_special_tokens=*/false);
      id_markers_[(*ids)[0]] = static_cast<int>(i);
    } else {
      text_markers_.push_back(static_cast<int>(i));
    }
  }
}

void MarkerScanner::push(int32_t id, std::vector<Segment>& out) {
  if (id < 0 || id >= vocab_size_) return;
  const auto marker = id_markers_.find(id);
  if (marker == id_markers_.end()) {
    Result<std::string> piece = detok_->push(id);
    if (piece.ok()) held_ += *piece;
    scan(/*final=*/false, out);
    return;
  }
  // The text before the marker is complete: its decoder gives up what it held back, and the
  // text after the marker starts a fresh one (as decode would, the marker being a whole token).
  held_ += detok_->finish();
  detok_ = std::make_unique<IncrementalDetokenizer>(tokenizer_, /*skip_special_tokens=*/true);
  scan(/*final=*/true, out);
  out.push_back({marker->second, markers_[marker->second]});
}

void MarkerScanner::finish(std::vector<Segment>& out) {
  held_ += detok_->finish();
  detok_ = std::make_unique<IncrementalDetokenizer>(tokenizer_, /*skip_special_tokens=*/true);
  scan(/*final=*/true, out);
}

void MarkerScanner::scan(bool final, std::vector<Segment>& out) {
  for (;;) {
    size_t best = std::string::npos;
    int which = -1;
    for (int m : text_markers_) {
      const size_t at = held_.find(markers_[m]);
      if (at < best) {
        best = at;
        which = m;
      }
    }
    if (which < 0) break;
    add_text(out, held_.substr(0, best));
    out.push_back({which, markers_[which]});
    held_.erase(0, best + markers_[which].size());
  }
  // Keep the longest tail that some text marker starts with; give out the rest. Markers begin
  // with an ASCII character, so the cut never falls inside a UTF-8 character.
  size_t keep = 0;
  if (!final) {
    for (int m : text_markers_) {
      const std::string& mk = markers_[m];
      for (size_t n = std::min(mk.size() - 1, held_.size()); n > keep; --n) {
        if (held_.compare(held_.size() - n, n, mk, 0, n) == 0) {
          keep = n;
          break;
        }
      }
    }
  }
  add_text(out, held_.substr(0, held_.size() - keep));
  held_.erase(0, held_.size() - keep);
}

}  // namespace sieve
