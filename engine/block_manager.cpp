#include "engine/block_manager.h"

#include <algorithm>

#include "engine/base/status.h"

namespace sieve {

BlockManager::BlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching)
    : block_size_(block_size), prefix_caching_(enable_prefix_caching), pages_(num_blocks) {
  SIEVE_CHECK_GT(block_size, 0);
  free_.reserve(num_blocks);
  for (int64_t b = num_blocks - 1; b >= 0; --b)
    free_.push_back(static_cast<int32_t>(b));
}

uint64_t BlockManager::chain_hash(uint64_t parent, std::span<const int32_t> tokens) {
  // splitmix64 steps over the parent hash and each token: cheap, well mixed, deterministic
  // across runs (std::hash is neither specified nor mixed).
  auto mix = [](uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  uint64_t h = mix(parent ^ 0x5151515151515151ull);
  for (int32_t t : tokens)
    h = mix(h ^ static_cast<uint32_t>(t));
  return h == 0 ? 1 : h;  // 0 means "no parent"
}

int64_t BlockManager::match_prefix(std::span<const int32_t> tokens, std::vector<int32_t>& blocks) {
  SIEVE_CHECK(blocks.empty());
  if (!prefix_caching_) return 0;
  // Full pages only, and never the last token: its logits must be computed.
  const int64_t max_pages = (static_cast<int64_t>(tokens.size()) - 1) / block_size_;
  uint64_t parent = 0;
  for (int64_t i = 0; i < max_pages; ++i) {
    auto page_tokens = tokens.subspan(i * block_size_, block_size_);
    const uint64_t h = chain_hash(parent, page_tokens);
    auto it = by_hash_.find(h);
    if (it == by_hash_.end()) break;
    Page& p = pages_[it->second];
    if (p.parent_hash != parent ||
        !std::equal(p.tokens.begin(), p.tokens.end(), page_tokens.begin(), page_tokens.end())) {
      break;  // a hash collision: treat as a miss
    }
    if (p.refs == 0) evictable_.erase(p.lru);
    ++p.refs;
    blocks.push_back(it->second);
    parent = h;
  }
  return static_cast<int64_t>(blocks.size()) * block_size_;
}

int32_t BlockManager::take_free_page() {
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else {
    SIEVE_CHECK(!evictable_.empty());
    b = evictable_.front();
    evictable_.pop_front();
    unregister(b);
  }
  pages_[b].refs = 1;
  return b;
}

void BlockManager::unregister(int32_t block) {
  Page& p = pages_[block];
  if (!p.registered) return;
  auto it = by_hash_.find(p.hash);
  if (it != by_hash_.end() && it->second == block) by_hash_.erase(it);
  p.registered = false;
  p.tokens.clear();
}

bool BlockManager::grow(std::vector<int32_t>& blocks, int64_t num_tokens) {
  const int64_t need = (num_tokens + block_size_ - 1) / block_size_;
  const int64_t extra = need - static_cast<int64_t>(blocks.size());
  if (extra <= 0) return true;
  if (extra > num_free()) return false;
  for (int64_t i = 0; i < extra; ++i)
    blocks.push_back(take_free_page());
  return true;
}

void BlockManager::register_full_pages(std::span<const int32_t> tokens,
                                       const std::vector<int32_t>& blocks, int64_t num_computed,
                                       int64_t& num_registered) {
  if (!prefix_caching_) return;
  const int64_t full = std::min<int64_t>(num_computed / block_size_, blocks.size());
  for (int64_t i = num_registered; i < full; ++i) {
    const uint64_t parent = i == 0 ? 0 : pages_[blocks[i - 1]].hash;
    auto page_tokens = tokens.subspan(i * block_size_, block_size_);
    const uint64_t h = chain_hash(parent, page_tokens);
    Page& p = pages_[blocks[i]];
    if (!p.registered) {
      p.registered = true;
      p.hash = h;
      p.parent_hash = parent;
      p.tokens.assign(page_tokens.begin(), page_tokens.end());
      // The first page computed for a prefix owns the hash; a duplicate computed meanwhile by
      // another sequence stays private and is freed normally.
      by_hash_.try_emplace(h, blocks[i]);
    }
  }
  num_registered = std::max(num_registered, full);
}

void BlockManager::release(std::vector<int32_t>& blocks) {
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    Page& p = pages_[*it];
    SIEVE_CHECK_GT(p.refs, 0);
    if (--p.refs > 0) continue;
    auto owner = p.registered ? by_hash_.find(p.hash) : by_hash_.end();
    if (owner != by_hash_.end() && owner->second == *it) {
      p.lru = evictable_.insert(evictable_.end(), *it);
    } else {
      p.registered = false;
      p.tokens.clear();
      free_.push_back(*it);
    }
  }
  blocks.clear();
}

}  // namespace sieve
