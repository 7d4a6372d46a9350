#include "engine/backends/kv_cache.h"

#include "engine/base/status.h"

namespace sieve {

int64_t KvLayerLayout::values_per_token() const {
  int64_t n = 0;
  for (const std::vector<int64_t>& shape : per_token) {
    int64_t values = 1;
    for (int64_t d : shape)
      values *= d;
    n += values;
  }
  return n;
}

int64_t KvLayout::bytes_per_token(DType dtype) const {
  int64_t values = 0;
  for (const KvLayerLayout& l : layers)
    values += l.values_per_token();
  return values * static_cast<int64_t>(dtype_size(dtype));
}

KvLayout default_kv_layout(const ModelConfig& config) {
  const std::vector<int64_t> heads = {config.num_kv_heads, config.head_dim};
  KvLayout layout;
  layout.layers.assign(config.num_layers, KvLayerLayout{{heads, heads}});
  return layout;
}

KvCache::KvCache(Backend& backend, const KvLayout& layout, int64_t block_size, int64_t num_blocks)
    : block_size_(block_size), num_blocks_(num_blocks) {
  SIEVE_CHECK_GT(block_size, 0);
  SIEVE_CHECK_GT(num_blocks, 0);
  for (const KvLayerLayout& l : layout.layers) {
    std::vector<Tensor>& layer = pages_.emplace_back();
    for (const std::vector<int64_t>& per_token : l.per_token) {
      std::vector<int64_t> shape = {num_blocks, block_size};
      shape.insert(shape.end(), per_token.begin(), per_token.end());
      layer.push_back(backend.alloc(shape, DType::kF32));
    }
  }
}

KvCache::KvCache(Backend& backend, const ModelConfig& config, int64_t block_size,
                 int64_t num_blocks)
    : KvCache(backend, default_kv_layout(config), block_size, num_blocks) {}

int64_t KvCache::page_bytes(const KvLayout& layout, int64_t block_size) {
  return layout.bytes_per_token(DType::kF32) * block_size;
}

}  // namespace sieve
