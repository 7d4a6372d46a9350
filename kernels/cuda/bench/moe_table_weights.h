// One shape's expert weights on the device for sieve-moe-table: random bf16 (never constants:
// they hide wrong indexing and can time differently), scaled so every stage stays O(1):
// x ~ U[-1, 1], gate/up ~ U[-3/√hidden, 3/√hidden] (unit-variance pre-activations), down ~
// U[-3/√inter, 3/√inter]. Held for all of the shape's cases and freed before the next shape
// (gpt-oss's are 6.4 GB).
#pragma once

#include <cstdint>

#include "kernels/cuda/bench/moe_table_cases.h"
#include "kernels/cuda/tests/device_buffer.h"

namespace sieve::cuda::moe_table {

struct ExpertWeights {
  const ModelShape& shape;
  test::DeviceBuffer<uint16_t> gate_up;          // [experts, 2 * inter, hidden] bf16
  test::DeviceBuffer<uint16_t> down;             // [experts, hidden, inter] bf16
  test::DeviceBuffer<const void*> gate_up_ptrs;  // [experts] into gate_up
  test::DeviceBuffer<const void*> down_ptrs;     // [experts] into down

  ExpertWeights(const ModelShape& s, uint64_t seed);
};

// x ~ U[-1, 1] in fp32, from the counter hash of kernels/random_fill.h (on the device).
void fill_activations(float* x, int64_t n, uint64_t key);

}  // namespace sieve::cuda::moe_table
