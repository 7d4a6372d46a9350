// The paged KV cache: per layer, pages of `block_size` tokens each, allocated on the backend
// (which pages are free and shared is engine/block_manager.h's job). A sequence's block table
// lists its pages in order; page 0 is as good as any other (no reserved page).
//
// What a layer keeps per token is the model's to say (Model::kv_layout, declared by its
// attention blocks): K and V of [kv_heads, head_dim] for grouped-query attention, one latent
// vector for attention that caches a compressed KV. The cache allocates what the layout lists.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/checkpoint/model_config.h"

namespace sieve {

// What one token leaves in one layer's cache: the shapes of its per-token tensors, each of which
// becomes one paged tensor [num_blocks, block_size, shape...] (fp32).
struct KvLayerLayout {
  std::vector<std::vector<int64_t>> per_token;
  int64_t values_per_token() const;
};

struct KvLayout {
  std::vector<KvLayerLayout> layers;  // [num_layers]
  // Bytes one token takes across all layers, stored at `dtype`.
  int64_t bytes_per_token(DType dtype) const;
};

// K and V of [num_kv_heads, head_dim] on every layer: grouped-query attention's cache, and the
// default of a Model that declares nothing else.
KvLayout default_kv_layout(const ModelConfig& config);

class KvCache {
 public:
  KvCache(Backend& backend, const KvLayout& layout, int64_t block_size, int64_t num_blocks);
  // default_kv_layout(config).
  KvCache(Backend& backend, const ModelConfig& config, int64_t block_size, int64_t num_blocks);

  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  // The layer's paged tensor number `i` of its layout: [num_blocks, block_size, shape...].
  Tensor& pages(int64_t layer, size_t i) { return pages_[layer][i]; }
  // Grouped-query attention's two: K and V, [num_blocks, block_size, kv_heads, head_dim].
  Tensor& k(int64_t layer) { return pages(layer, 0); }
  Tensor& v(int64_t layer) { return pages(layer, 1); }
  // Bytes one page takes across all layers.
  static int64_t page_bytes(const KvLayout& layout, int64_t block_size);

 private:
  int64_t block_size_;
  int64_t num_blocks_;
  std::vector<std::vector<Tensor>> pages_;  // [layer][i]
};

}  // namespace sieve
