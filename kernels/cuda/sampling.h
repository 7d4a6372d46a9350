// Token sampling on the device: penalties, greedy, temperature / top-k / min-p / top-p and a
// reproducible draw, for a batch of rows of logits; plus argmax alone (the greedy fast path) and
// the log-softmax at chosen ids (logprobs). Semantics are engine/sampler.cpp's; the differences
// (all at rounding level) are listed at `sample`.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/host_device.h"
#include "kernels/sampling_row.h"

namespace sieve::cuda {

// One row's sampling parameters, as the engine fills them (kernels/sampling_row.h).
using kernels::RowSampling;

// A batch of rows of logits in device memory.
struct Logits {
  const float* data = nullptr;  // [rows, vocab] fp32, device
  int64_t rows = 0;
  int64_t vocab = 0;
};

struct SampleParams {
  float* logits = nullptr;  // [rows, vocab] fp32, device; penalties are applied IN PLACE
  int64_t rows = 0;
  int64_t vocab = 0;                        // 1 ≤ vocab < 2^23
  const RowSampling* row_params = nullptr;  // [rows], device
  // Tokens seen per row, CSR (device). Either all four set or all four null (no row has
  // penalties). Ids outside [0, vocab) are ignored, as on the host.
  const int32_t* prompt_tokens = nullptr;   // [prompt_offsets[rows]]
  const int32_t* prompt_offsets = nullptr;  // [rows + 1]
  const int32_t* output_tokens = nullptr;   // [output_offsets[rows]]
  const int32_t* output_offsets = nullptr;  // [rows + 1]
  int32_t* sampled = nullptr;               // [rows] out, device
  void* workspace = nullptr;                // device, ≥ sample_workspace_bytes(rows, vocab)
  size_t workspace_bytes = 0;
};

// Scratch `sample` needs (a per-row bit set over the vocabulary for the repetition penalty).
size_t sample_workspace_bytes(int64_t rows, int64_t vocab);

// Per row, in this order (engine/sampler.cpp): penalties on the logits (rows whose three
// penalties are off return at once); greedy (temperature ≤ 0 or top_k == 1: the argmax, ties to
// the lower id); else weights w = exp((logit - max) / temperature), cut to the top_k most likely
// (logit descending, id ascending), tokens with w < min_p given weight 0, then the smallest
// prefix of that order whose mass reaches top_p of the remaining mass, and an inverse-CDF draw
// over the kept tokens in increasing id order. The draw's 64 random bits are
// sample_draw_bits(seed, offset): the result depends only on (seed, offset, logits, params).
// Differences from the host, all at rounding level: w is fp32 expf (the host: fp32 in its plain
// path, double in its sorted path), so a token whose w is within an ulp of min_p may fall on the
// other side; masses are fixed point (w × 2^40, rounded: tokens with w < 2^-41 are never drawn)
// and summed exactly, so the top_p cut is exact for those masses where the host accumulates
// rounded double fractions; ties at every cut go to the lower id, as on the host.
void sample(const SampleParams& p, cudaStream_t stream);

// out[r] = the id of the largest logit of row r, ties to the lower id (NaNs are skipped).
void argmax(const Logits& logits, int32_t* out /* [rows], device */, cudaStream_t stream);

// out[r] = log_softmax(logits[r])[ids[r]] (max subtracted, the sum accumulated per thread in fp32
// and across threads in double); NaN where ids[r] is outside [0, vocab). Call it before `sample`
// for the raw logits' logprobs: `sample` applies penalties in place.
void log_softmax_at(const Logits& logits, const int32_t* ids /* [rows], device */,
                    float* out /* [rows], device */, cudaStream_t stream);

// Philox4x32-10 (Salmon et al., SC'11; the generator of curand's Philox4_32_10): ten rounds over
// a 128-bit counter under a 64-bit key.
struct Philox4 {
  uint32_t v[4];
};
SIEVE_HOST_DEVICE inline Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * ctr.v[0];
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * ctr.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
  }
  return ctr;
}

// The 64 random bits of a request's draw number `offset`: key = seed, counter = (offset, 0).
SIEVE_HOST_DEVICE inline uint64_t sample_draw_bits(uint64_t seed, uint64_t offset) {
  const Philox4 r = philox4x32_10(
      Philox4{{static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32), 0u, 0u}},
      static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return static_cast<uint64_t>(r.v[0]) | (static_cast<uint64_t>(r.v[1]) << 32);
}

}  // namespace sieve::cuda
