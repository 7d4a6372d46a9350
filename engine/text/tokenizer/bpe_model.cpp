#include "engine/text/tokenizer/bpe_model.h"

#include <algorithm>
#include <atomic>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "engine/text/tokenizer/byte_level.h"
#include "engine/text/tokenizer/utf8.h"

namespace sieve::tok {

using nlohmann::json;

// (left id, right id) -> (rank, merged id), open addressing with linear probing.
struct BpeModel::MergeTable {
  struct Slot {
    uint64_t key = ~uint64_t{0};
    int32_t rank = 0;
    int32_t merged = 0;
  };
  std::vector<Slot> slots;
  uint64_t mask = 0;

  static uint64_t key_of(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static uint64_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
  }
  explicit MergeTable(size_t n) {
    size_t cap = 16;
    while (cap < n * 2)
      cap <<= 1;
    slots.resize(cap);
    mask = cap - 1;
  }
  // Keeps the first (best-ranked) entry for a pair, as the reference does.
  void insert(int32_t a, int32_t b, int32_t rank, int32_t merged) {
    const uint64_t k = key_of(a, b);
    for (uint64_t i = hash(k) & mask;; i = (i + 1) & mask) {
      if (slots[i].key == k) return;
      if (slots[i].key == ~uint64_t{0}) {
        slots[i] = {k, rank, merged};
        return;
      }
    }
  }
  const Slot* find(int32_t a, int32_t b) const {
    const uint64_t k = key_of(a, b);
    for (uint64_t i = hash(k) & mask;; i = (i + 1) & mask) {
      if (slots[i].key == k) return &slots[i];
      if (slots[i].key == ~uint64_t{0}) return nullptr;
    }
  }
};

namespace {

std::atomic<uint64_t> g_next_cache_key{1};

// Per-thread cache of encoded words, one per model: word -> ids in a flat array. Bounded by
// entries and ids; when full it starts again empty.
struct WordCache {
  static constexpr size_t kMaxEntries = 1 << 18;
  static constexpr size_t kMaxIds = 1 << 22;
  static constexpr size_t kMaxWordBytes = 4096;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, StringHash, std::equal_to<>> map;
  std::vector<int32_t> ids;
};

WordCache& word_cache(uint64_t key) {
  // Models are few; a thread that has seen too many (old ones unloaded) drops them all.
  constexpr size_t kMaxModels = 8;
  thread_local std::unordered_map<uint64_t, WordCache> caches;
  auto it = caches.find(key);
  if (it == caches.end()) {
    if (caches.size() >= kMaxModels) caches.clear();
    it = caches.emplace(key, WordCache{}).first;
  }
  WordCache& cache = it->second;
  if (cache.map.size() >= WordCache::kMaxEntries || cache.ids.size() >= WordCache::kMaxIds) {
    cache.map.clear();
    cache.ids.clear();
  }
  return cache;
}

}  // namespace

Result<std::unique_ptr<BpeModel>> BpeModel::from_json(const json& m, std::string_view origin) {
  const std::string where(origin);
  const std::string type = m.value("type", std::string("BPE"));
  if (type != "BPE") {
    return unimplemented(where + ": model type \"" + type + "\" is not supported");
  }
  if (m.contains("dropout") && !m.at("dropout").is_null() && m.at("dropout").get<double>() != 0) {
    return unimplemented(where + ": BPE dropout is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (m.contains(key) && !m.at(key).is_null() && !m.at(key).get<std::string>().empty()) {
      return unimplemented(where + ": BPE " + key + " is not supported");
    }
  }
  auto bpe = std::unique_ptr<BpeModel>(new BpeModel);
  bpe->cache_key_ = g_next_cache_key.fetch_add(1);
  std::fill(std::begin(bpe->byte_ids_), std::end(bpe->byte_ids_), -1);
  const json& vocab = m.at("vocab");
  bpe->vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id > (1 << 30)) {
      return invalid_argument(where + ": vocab id " + std::to_string(id) + " for \"" + it.key() +
                              "\" is out of range");
    }
    if (static_cast<size_t>(id) >= bpe->tokens_.size()) bpe->tokens_.resize(id + 1);
    bpe->tokens_[id] = it.key();
    bpe->vocab_.emplace(it.key(), static_cast<int32_t>(id));
  }
  const json& merges = m.at("merges");
  auto table = std::make_shared<MergeTable>(merges.size());
  int32_t rank = 0;
  std::string a, b;
  for (const json& mj : merges) {
    if (mj.is_array()) {
      a = mj.at(0).get<std::string>();
      b = mj.at(1).get<std::string>();
    } else {
      const std::string s = mj.get<std::string>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) {
        return invalid_argument(where + ": merge \"" + s + "\" is not two tokens");
      }
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    }
    auto ia = bpe->vocab_.find(a), ib = bpe->vocab_.find(b), im = bpe->vocab_.find(a + b);
    if (ia == bpe->vocab_.end() || ib == bpe->vocab_.end() || im == bpe->vocab_.end()) {
      return invalid_argument(where + ": merge \"" + a + " " + b + "\" uses a token not in vocab");
    }
    table->insert(ia->second, ib->second, rank++, im->second);
  }
  bpe->merges_ = std::move(table);
  if (m.contains("unk_token") && !m.at("unk_token").is_null()) {
    const std::string unk = m.at("unk_token").get<std::string>();
    auto it = bpe->vocab_.find(unk);
    if (it == bpe->vocab_.end()) {
      return invalid_argument(where + ": unk_token \"" + unk + "\" is not in vocab");
    }
    bpe->unk_id_ = it->second;
  }
  bpe->fuse_unk_ = m.value("fuse_unk", false);
  bpe->byte_fallback_ = m.value("byte_fallback", false);
  std::fill(std::begin(bpe->fallback_byte_ids_), std::end(bpe->fallback_byte_ids_), -1);
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    auto it = bpe->vocab_.find(std::string_view(name));
    if (it != bpe->vocab_.end()) bpe->fallback_byte_ids_[byte] = it->second;
  }
  bpe->ignore_merges_ = m.value("ignore_merges", false);
  return bpe;
}

void BpeModel::use_raw_bytes() {
  raw_bytes_ = true;
  raw_vocab_.reserve(vocab_.size());
  std::string bytes;
  for (const auto& [token, id] : vocab_) {
    bytes.clear();
    if (!chars_to_bytes(token, bytes)) continue;  // not reachable from byte-level input
    raw_vocab_.emplace(bytes, id);
    if (bytes.size() == 1) byte_ids_[static_cast<unsigned char>(bytes[0])] = id;
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return nullptr;
  const std::string& t = tokens_[id];
  if (t.empty()) return nullptr;
  return &t;
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int32_t>& symbols) const {
  const StringIdMap& map = raw_bytes_ ? raw_vocab_ : vocab_;
  bool last_unk = false;
  size_t i = 0;
  while (i < word.size()) {
    const size_t b = i;
    if (raw_bytes_) {
      const int32_t id = byte_ids_[static_cast<unsigned char>(word[i++])];
      if (id >= 0) {
        symbols.push_back(id);
        last_unk = false;
        continue;
      }
    } else {
      i += utf8_len(static_cast<unsigned char>(word[i]));
      auto it = map.find(word.substr(b, i - b));
      if (it != map.end()) {
        symbols.push_back(it->second);
        last_unk = false;
        continue;
      }
    }
    // A character outside the vocabulary becomes one byte token per UTF-8 byte, "<0x41>" style
    // (byte_fallback, when all of them exist), else unk_token; with neither, it is dropped —
    // the reference does the same (tests: MetaspaceBpe.CharactersWithoutUnkAreDropped).
    if (byte_fallback_) {
      bool all = true;
      for (size_t k = b; k < i && all; ++k)
        all = fallback_byte_ids_[static_cast<unsigned char>(word[k])] >= 0;
      if (all) {
        for (size_t k = b; k < i; ++k)
          symbols.push_back(fallback_byte_ids_[static_cast<unsigned char>(word[k])]);
        last_unk = false;
        continue;
      }
    }
    if (unk_id_) {
      if (!(fuse_unk_ && last_unk)) symbols.push_back(*unk_id_);
      last_unk = true;
    }
  }
}

void BpeModel::merge_word(std::vector<int32_t>& sym) const {
  const MergeTable& table = *merges_;
  const size_t n = sym.size();
  if (n < 2) return;
  if (n <= 16) {
    // Short words: repeatedly merge the best pair; quadratic but tiny and cache friendly.
    size_t len = n;
    while (len > 1) {
      int32_t best_rank = INT32_MAX, best_merged = 0;
      size_t best = 0;
      for (size_t i = 0; i + 1 < len; ++i) {
        const MergeTable::Slot* s = table.find(sym[i], sym[i + 1]);
        if (s != nullptr && s->rank < best_rank) {
          best_rank = s->rank;
          best_merged = s->merged;
          best = i;
        }
      }
      if (best_rank == INT32_MAX) break;
      sym[best] = best_merged;
      std::copy(sym.begin() + best + 2, sym.begin() + len, sym.begin() + best + 1);
      --len;
    }
    sym.resize(len);
    return;
  }
  // Long words: linked list of symbols and a min-heap of candidate merges keyed by
  // (rank, position) packed in one word; a candidate is re-checked when popped.
  std::vector<int32_t> prev(n), next(n);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  constexpr int32_t kDead = -2;
  auto key = [](int32_t rank, int32_t pos) {
    return (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(pos);
  };
  std::vector<uint64_t> heap;
  heap.reserve(n);
  for (size_t i = 0; i + 1 < n; ++i) {
    const MergeTable::Slot* s = table.find(sym[i], sym[i + 1]);
    if (s != nullptr) heap.push_back(key(s->rank, static_cast<int32_t>(i)));
  }
  std::make_heap(heap.begin(), heap.end(), std::greater<>());
  auto push = [&](int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    const MergeTable::Slot* s = table.find(sym[pos], sym[next[pos]]);
    if (s == nullptr) return;
    heap.push_back(key(s->rank, pos));
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const uint64_t top = heap.back();
    heap.pop_back();
    const auto rank = static_cast<int32_t>(top >> 32);
    const auto pos = static_cast<int32_t>(top & 0xFFFFFFFFu);
    if (next[pos] < 0) continue;  // dead, or last symbol
    const MergeTable::Slot* s = table.find(sym[pos], sym[next[pos]]);
    if (s == nullptr || s->rank != rank) continue;  // the pair changed since it was queued
    const int32_t r = next[pos];
    sym[pos] = s->merged;
    next[pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = pos;
    next[r] = kDead;
    push(prev[pos]);
    push(pos);
  }
  size_t out = 0;
  for (int32_t i = 0; i >= 0; i = next[i])
    sym[out++] = sym[i];
  sym.resize(out);
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  const StringIdMap& map = raw_bytes_ ? raw_vocab_ : vocab_;
  if (ignore_merges_) {
    auto it = map.find(word);
    if (it != map.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= WordCache::kMaxWordBytes;
  if (cacheable) {
    WordCache& cache = word_cache(cache_key_);
    auto it = cache.map.find(word);
    if (it != cache.map.end()) {
      const int32_t* p = cache.ids.data() + it->second.first;
      out.insert(out.end(), p, p + it->second.second);
      return;
    }
  }
  thread_local std::vector<int32_t> sym;
  sym.clear();
  initial_symbols(word, sym);
  merge_word(sym);
  out.insert(out.end(), sym.begin(), sym.end());
  if (cacheable) {
    WordCache& cache = word_cache(cache_key_);
    cache.map.emplace(std::string(word), std::make_pair(static_cast<uint32_t>(cache.ids.size()),
                                                        static_cast<uint32_t>(sym.size())));
    cache.ids.insert(cache.ids.end(), sym.begin(), sym.end());
  }
}

}  // namespace sieve::tok
