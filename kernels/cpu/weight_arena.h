// Where packed weights live. A model's weights are thousands of multi-megabyte matrices read
// once per step; allocated one by one, only the 2 MiB-aligned middle of each can be backed by
// huge pages (about half of an MoE model, measured), and every other 4 KiB page costs a TLB
// miss in a bandwidth-bound decode. The arena carves them out of large 2 MiB-aligned chunks
// advised to transparent huge pages, so the whole model is.
#pragma once

#include <cstddef>
#include <memory>

namespace sieve::kernels {

// Zeroed, 64-byte aligned (4 KiB for blocks of 64 KiB and more). The block's chunk is freed
// when the last block carved from it is released. Thread-safe.
std::shared_ptr<void> arena_alloc(size_t bytes);

}  // namespace sieve::kernels
