// The paged KV cache: per layer, K and V pages of `block_size` tokens each, allocated on the
// backend (which pages are free and shared is engine/block_manager.h's job). A sequence's
// block table lists its pages in order; page 0 is as good as any other (no reserved page).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/checkpoint/model_config.h"

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

}  // namespace sieve
