#include "engine/kv_cache.h"

#include "engine/status.h"

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

BlockAllocator::BlockAllocator(int64_t num_blocks) : refs_(num_blocks, 0) {
  free_.reserve(num_blocks);
  for (int64_t b = num_blocks - 1; b >= 0; --b)
    free_.push_back(static_cast<int32_t>(b));
}

std::optional<int32_t> BlockAllocator::allocate() {
  if (free_.empty()) return std::nullopt;
  int32_t b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  return b;
}

void BlockAllocator::add_ref(int32_t block) {
  SIEVE_CHECK_GT(refs_[block], 0);
  ++refs_[block];
}

void BlockAllocator::release(int32_t block) {
  SIEVE_CHECK_GT(refs_[block], 0);
  if (--refs_[block] == 0) free_.push_back(block);
}

}  // namespace sieve
