#include "kernels/cpu/weight_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>

namespace sieve::kernels {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kChunk = size_t{512} << 20;  // one chunk holds ~80 expert matrices

struct Chunk {
  char* base = nullptr;
  size_t size = 0;
  ~Chunk() { munmap(base, size); }
};

struct Arena {
  std::mutex mu;
  std::shared_ptr<Chunk> current;
  size_t used = 0;
};

Arena& arena() {
  static Arena* a = new Arena;  // never destroyed: weights may outlive static destruction
  return *a;
}

std::shared_ptr<Chunk> new_chunk(size_t at_least) {
  const size_t size = std::max(kChunk, (at_least + kHugePage - 1) / kHugePage * kHugePage);
  // Over-map by one huge page so the chunk can start on a 2 MiB boundary.
  void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) std::abort();
  char* p = static_cast<char*>(raw);
  char* aligned =
      reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(p) + kHugePage - 1) & ~(kHugePage - 1));
  // Give back the unaligned head and tail.
  if (aligned > p) munmap(p, static_cast<size_t>(aligned - p));
  const size_t tail = static_cast<size_t>(p + size + kHugePage - (aligned + size));
  if (tail > 0) munmap(aligned + size, tail);
  (void)madvise(aligned, size, MADV_HUGEPAGE);
  auto c = std::make_shared<Chunk>();
  c->base = aligned;
  c->size = size;
  return c;
}

}  // namespace

std::shared_ptr<void> arena_alloc(size_t bytes) {
  const size_t align = bytes >= (64u << 10) ? 4096 : 64;
  const size_t size = std::max<size_t>((bytes + align - 1) / align * align, align);
  Arena& a = arena();
  std::shared_ptr<Chunk> chunk;
  char* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(a.mu);
    size_t offset = (a.used + align - 1) / align * align;
    if (!a.current || offset + size > a.current->size) {
      a.current = new_chunk(size);
      offset = 0;
    }
    p = a.current->base + offset;
    a.used = offset + size;
    chunk = a.current;
  }
  // Anonymous mappings are zero-filled, so the block needs no memset. The block holds its
  // chunk alive.
  return std::shared_ptr<void>(p, [chunk](void*) mutable { chunk.reset(); });
}

}  // namespace sieve::kernels
