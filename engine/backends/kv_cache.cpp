#include "engine/backends/kv_cache.h"

#include "engine/base/status.h"

namespace sieve {

KvCache::KvCache(Backend& backend, const ModelConfig& config, int64_t block_size,
                 int64_t num_blocks)
    : block_size_(block_size), num_blocks_(num_blocks) {
  SIEVE_CHECK_GT(block_size, 0);
  SIEVE_CHECK_GT(num_blocks, 0);
  for (int64_t l = 0; l < config.num_layers; ++l) {
    std::vector<int64_t> shape = {num_blocks, block_size, config.num_kv_heads, config.head_dim};
    k_.push_back(backend.alloc(shape, DType::kF32));
    v_.push_back(backend.alloc(shape, DType::kF32));
  }
}

int64_t KvCache::page_bytes(const ModelConfig& config, int64_t block_size) {
  return config.kv_bytes_per_token(DType::kF32) * block_size;
}

}  // namespace sieve
