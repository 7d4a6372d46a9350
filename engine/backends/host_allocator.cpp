#include "engine/backends/host_allocator.h"

#include <sys/mman.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "engine/base/status.h"

namespace sieve {
namespace {

// Parked bytes above this are given back to the system instead of cached.
constexpr size_t kMaxCachedBytes = size_t{4} << 30;
constexpr size_t kHugePage = size_t{2} << 20;

// Size classes: multiples of 4 KiB up to 64 KiB, then four classes per power of two (at most
// 25% slack).
size_t size_class(size_t bytes) {
  if (bytes <= 65536) return (bytes + 4095) / 4096 * 4096;
  size_t p = 65536;
  while (p * 2 < bytes)
    p *= 2;
  const size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // size class → block
  size_t parked = 0;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: blocks may be released during exit
  return *c;
}

void release(void* p, size_t cls) {
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.parked + cls <= kMaxCachedBytes) {
      c.free_blocks.emplace(cls, p);
      c.parked += cls;
      return;
    }
  }
  std::free(p);
}

}  // namespace

std::shared_ptr<void> cached_host_alloc(size_t bytes) {
  const size_t cls = size_class(bytes == 0 ? 1 : bytes);
  Cache& c = cache();
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(cls);
    if (it != c.free_blocks.end()) {
      p = it->second;
      c.free_blocks.erase(it);
      c.parked -= cls;
    }
  }
  if (!p) {
    const size_t align = cls >= kHugePage ? kHugePage : 64;
    p = std::aligned_alloc(align, (cls + align - 1) / align * align);
    SIEVE_CHECK_MSG(p != nullptr, "out of host memory allocating " << cls << " bytes");
    if (cls >= kHugePage) (void)madvise(p, cls, MADV_HUGEPAGE);
  }
  return std::shared_ptr<void>(p, [cls](void* q) { release(q, cls); });
}

size_t cached_host_bytes() {
  std::lock_guard<std::mutex> lock(cache().mu);
  return cache().parked;
}

}  // namespace sieve
