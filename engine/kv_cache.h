// The paged KV cache: per layer, K and V pages of `block_size` tokens each, allocated on the
// backend, and the allocator that hands out page ids. A sequence's block table lists its pages
// in order; page 0 is as good as any other (no reserved page).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/backend.h"
#include "engine/model_config.h"

namespace sieve {

class KvCache {
 public:
  KvCache(Backend& backend, const ModelConfig& config, int64_t block_size, int64_t num_blocks);

  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  Tensor& k(int64_t layer) { return k_[layer]; }  // [num_blocks, block_size, kv_heads, head_dim]
  Tensor& v(int64_t layer) { return v_[layer]; }
  // Bytes one page takes across all layers (K and V).
  static int64_t page_bytes(const ModelConfig& config, int64_t block_size);

 private:
  int64_t block_size_;
  int64_t num_blocks_;
  std::vector<Tensor> k_;
  std::vector<Tensor> v_;
};

// Free list of page ids with reference counts (pages shared between sequences stay until the
// last reference goes).
class BlockAllocator {
 public:
  explicit BlockAllocator(int64_t num_blocks);
  std::optional<int32_t> allocate();
  void add_ref(int32_t block);
  void release(int32_t block);
  int64_t num_free() const { return static_cast<int64_t>(free_.size()); }
  int64_t num_blocks() const { return static_cast<int64_t>(refs_.size()); }

 private:
  std::vector<int32_t> free_;  // used as a stack: lowest ids are handed out first
  std::vector<int32_t> refs_;
};

}  // namespace sieve
