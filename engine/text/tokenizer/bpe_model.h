// The BPE model: a vocabulary and ranked merges. Options: byte_fallback, unk_token, fuse_unk,
// ignore_merges. Refused: dropout, continuing_subword_prefix and end_of_word_suffix.
//
// Encoding a word is O(n log n) in its length (a heap of candidate merges over a linked list of
// symbols), and results for short words are cached per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/status.h"

namespace sieve::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  static Result<std::unique_ptr<BpeModel>> from_json(const nlohmann::json& model,
                                                     std::string_view origin);

  // Words will arrive as raw bytes rather than byte-level characters (the pre-tokenizer ends
  // with ByteLevel): re-keys the vocabulary once so no per-word mapping is needed.
  void use_raw_bytes();

  // Appends the ids of one word.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;
  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }

 private:
  struct MergeTable;
  void merge_word(std::vector<int32_t>& symbols) const;
  void initial_symbols(std::string_view word, std::vector<int32_t>& symbols) const;

  std::vector<std::string> tokens_;  // id -> vocabulary string ("" for holes)
  StringIdMap vocab_;                // vocabulary string -> id
  StringIdMap raw_vocab_;            // raw bytes -> id, when raw_bytes_
  bool raw_bytes_ = false;
  int32_t byte_ids_[256];           // raw mode: id of each single byte, -1 when absent
  int32_t fallback_byte_ids_[256];  // byte_fallback: id of the byte's token ("<0x41>" for 'A'), -1
                                    // when absent
  std::shared_ptr<const MergeTable> merges_;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  uint64_t cache_key_;  // identifies this model in the per-thread word cache
};

}  // namespace sieve::tok
