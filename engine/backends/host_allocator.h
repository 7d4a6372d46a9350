// A caching allocator for the CPU backend's activations. A decode step allocates a few dozen
// buffers and frees them again; fresh large allocations come from mmap and every first touch
// of their pages faults and zero-fills (a fifth of a decode step when measured). Freed blocks
// are kept per size class and handed out again, so steady-state steps touch only warm memory.
#pragma once

#include <cstddef>
#include <memory>

namespace sieve {

// 64-byte aligned, at least `bytes` long; returned to the cache when the last owner drops it.
// Thread-safe. Blocks of 2 MiB and more are advised to use transparent huge pages.
std::shared_ptr<void> cached_host_alloc(size_t bytes);

// Bytes currently parked in the cache (for tests and logs).
size_t cached_host_bytes();

}  // namespace sieve
