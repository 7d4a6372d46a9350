// KV page bookkeeping: which pages are free, who holds each page (reference counts), and the
// prefix cache.
//
// Prefix caching: once a page is full and its K/V computed, it is registered under a hash of
// the whole token prefix up to its end (the parent page's hash chained with this page's
// tokens). A new sequence whose prompt starts with the same tokens takes those pages (one
// more reference each) instead of recomputing them. A page whose last reference goes keeps its
// contents and its hash, and becomes "cached free": it is reused for a match until it is
// evicted, least recently freed first, when a plain free page is not available.
//
// Each cached page keeps its tokens and its parent's hash, and a match compares both, so two
// different prefixes never share a page even if their 64-bit hashes collide page by page.
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace sieve {

class BlockManager {
 public:
  BlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching);

  int64_t num_blocks() const { return static_cast<int64_t>(pages_.size()); }
  int64_t block_size() const { return block_size_; }
  // Pages that can be handed out now: plain free plus cached free (evictable).
  int64_t num_free() const { return static_cast<int64_t>(free_.size() + evictable_.size()); }
  // Pages holding a registered prefix (in use or cached free).
  int64_t num_cached() const { return static_cast<int64_t>(by_hash_.size()); }
  bool prefix_caching() const { return prefix_caching_; }

  // The longest run of cached full pages that `tokens` starts with, leaving at least one
  // token uncovered (its logits are needed). Appends the pages to `blocks` (each one more
  // reference) and returns how many tokens they cover. `blocks` must be empty.
  int64_t match_prefix(std::span<const int32_t> tokens, std::vector<int32_t>& blocks);

  // Appends pages so that `blocks` covers `num_tokens`. All or nothing: false, with nothing
  // changed, when there are too few free pages.
  bool grow(std::vector<int32_t>& blocks, int64_t num_tokens);

  // Registers the pages of `blocks` that are full within the first `num_computed` tokens.
  // `num_registered` counts this sequence's pages already registered (or matched) and is
  // advanced.
  void register_full_pages(std::span<const int32_t> tokens, const std::vector<int32_t>& blocks,
                           int64_t num_computed, int64_t& num_registered);

  // Drops one reference to each page (in reverse, so a sequence's tail is evicted before its
  // head) and clears `blocks`.
  void release(std::vector<int32_t>& blocks);

 private:
  struct Page {
    int32_t refs = 0;
    bool registered = false;
    uint64_t hash = 0;         // chain hash of the prefix ending with this page
    uint64_t parent_hash = 0;  // the previous page's (0 for the first)
    std::vector<int32_t> tokens;
    std::list<int32_t>::iterator lru;  // position in evictable_ while refs == 0
  };
  static uint64_t chain_hash(uint64_t parent, std::span<const int32_t> tokens);
  int32_t take_free_page();
  void unregister(int32_t block);

  int64_t block_size_;
  bool prefix_caching_;
  std::vector<Page> pages_;
  std::vector<int32_t> free_;     // never-registered free pages (a stack, low ids first)
  std::list<int32_t> evictable_;  // registered pages with no reference, oldest first
  std::unordered_map<uint64_t, int32_t> by_hash_;
};

}  // namespace sieve
