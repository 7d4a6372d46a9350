// Paged causal attention on fp32, two paths:
//  - decode (max_query_len == 1): split-KV ("flash decoding"). One CTA per (partition of the
//    context, kv head, chunk of up to kHeadsPerCta query heads of that kv head, sequence):
//    the GQA heads sharing a kv head are processed together, so each K/V byte is read once
//    per step (for group ≤ kHeadsPerCta). Each CTA writes its unnormalised output with its
//    running max and sum to the workspace; decode_reduce_kernel combines the partitions. A
//    sequence whose visible keys fit one partition is written directly (no reduce).
//  - prefill / mixed: one CTA per (tile of kQueryTile query rows, query head, sequence), an
//    online softmax over key tiles of kKeyTile staged in shared memory, causal mask and
//    sliding window per row; correct for chunked prefill (query_len < context_len).
// Partition boundaries are fixed multiples of the partition size (which depends only on the
// batch shape), key tiles start at positions fixed by the query tile: the arithmetic of a row
// never depends on the bounds, so loose bounds give the same bits as tight ones.
#include "kernels/cuda/attention.h"

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxHeadDim = 256;

constexpr int kDecodeTile = 32;  // keys per shared-memory tile (one per lane)
constexpr int kHeadsPerCta = 8;  // query heads of one kv head handled by a decode CTA
constexpr int kHeadsPerWarp = kHeadsPerCta / kWarps;
constexpr int kQueryTile = 32;  // query rows per prefill CTA
constexpr int kKeyTile = 32;    // keys per prefill tile (one per lane)
constexpr int kRowsPerWarp = kQueryTile / kWarps;

// kD: a compile-time head_dim (64, 128) read with float4, or 0: runtime head_dim ≤ 256,
// scalar reads.
template <int kD>
constexpr bool kVec = kD != 0;

// Shared-memory row stride in floats: +4 keeps float4 rows aligned and the per-lane row reads
// conflict-free; odd strides do the same for scalar reads.
__host__ __device__ inline int smem_stride(int d, bool vec) {
  return vec ? d + 4 : (d | 1);
}

// Derived launch shape of the decode path; a function of the batch shape and bounds only.
struct DecodeShape {
  int part_size = 512;  // keys per partition, a multiple of kDecodeTile
  int num_parts = 1;    // partitions covering max_context_len
  int group = 1;        // query heads per kv head
  int chunks = 1;       // CTAs per kv head along the query heads
};

// Workspace of the decode path: ml [num_seqs, num_heads, num_parts] float2 (max, sum), then
// out [num_seqs, num_heads, num_parts, head_dim].
struct Workspace {
  float2* ml;
  float* out;
};

__device__ inline Workspace workspace_of(const PagedAttentionParams& p, const DecodeShape& sh) {
  float2* ml = static_cast<float2*>(p.workspace);
  return {ml, reinterpret_cast<float*>(ml + p.num_seqs * p.num_heads * sh.num_parts)};
}

__device__ inline float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ inline float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Block-wide reductions over kThreads; `red` is [kWarps] shared scratch.
__device__ inline float block_max(float v, float* red) {
  v = warp_max(v);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  v = red[0];
  for (int w = 1; w < kWarps; ++w)
    v = fmaxf(v, red[w]);
  __syncthreads();
  return v;
}

__device__ inline float block_sum(float v, float* red) {
  v = warp_sum(v);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  v = red[0];
  for (int w = 1; w < kWarps; ++w)
    v += red[w];
  __syncthreads();
  return v;
}

// Stages keys/values [t0, t0 + n) of kv head kvh into ks/vs [kRows][stride]; rows n..kRows-1
// are zero-filled (their probabilities are 0, and 0 · 0 stays finite).
template <int kD, int kRows>
__device__ void load_kv_tile(const PagedAttentionParams& p, const int32_t* table, int kvh,
                             int64_t t0, int n, int hd, int stride, float* ks, float* vs) {
  const int64_t kv_stride = p.num_kv_heads * hd;
  if constexpr (kVec<kD>) {
    constexpr int kVecPerRow = kD / 4;
    for (int e = threadIdx.x; e < kRows * kVecPerRow; e += kThreads) {
      const int r = e / kVecPerRow, c = (e % kVecPerRow) * 4;
      float4 kv = make_float4(0.f, 0.f, 0.f, 0.f), vv = kv;
      if (r < n) {
        const int64_t j = t0 + r;
        const int64_t slot =
            static_cast<int64_t>(table[j / p.block_size]) * p.block_size + j % p.block_size;
        const int64_t off = slot * kv_stride + static_cast<int64_t>(kvh) * kD + c;
        kv = __ldg(reinterpret_cast<const float4*>(p.k_cache + off));
        vv = __ldg(reinterpret_cast<const float4*>(p.v_cache + off));
      }
      *reinterpret_cast<float4*>(ks + r * stride + c) = kv;
      *reinterpret_cast<float4*>(vs + r * stride + c) = vv;
    }
  } else {
    for (int e = threadIdx.x; e < kRows * hd; e += kThreads) {
      const int r = e / hd, c = e % hd;
      float kv = 0.f, vv = 0.f;
      if (r < n) {
        const int64_t j = t0 + r;
        const int64_t slot =
            static_cast<int64_t>(table[j / p.block_size]) * p.block_size + j % p.block_size;
        const int64_t off = slot * kv_stride + static_cast<int64_t>(kvh) * hd + c;
        kv = __ldg(p.k_cache + off);
        vv = __ldg(p.v_cache + off);
      }
      ks[r * stride + c] = kv;
      vs[r * stride + c] = vv;
    }
  }
}

// a · b over head_dim, both in shared memory.
template <int kD>
__device__ inline float dot_smem(const float* a, const float* b, int hd) {
  float acc0 = 0.f, acc1 = 0.f, acc2 = 0.f, acc3 = 0.f;
  if constexpr (kVec<kD>) {
#pragma unroll 8
    for (int d = 0; d < kD; d += 4) {
      const float4 x = *reinterpret_cast<const float4*>(a + d);
      const float4 y = *reinterpret_cast<const float4*>(b + d);
      acc0 = fmaf(x.x, y.x, acc0);
      acc1 = fmaf(x.y, y.y, acc1);
      acc2 = fmaf(x.z, y.z, acc2);
      acc3 = fmaf(x.w, y.w, acc3);
    }
  } else {
    for (int d = 0; d < hd; ++d)
      acc0 = fmaf(a[d], b[d], acc0);
  }
  return (acc0 + acc1) + (acc2 + acc3);
}

// Keys visible to the query at pos: [lo, pos].
__device__ inline int64_t first_visible(const PagedAttentionParams& p, int64_t pos) {
  return p.sliding_window > 0 ? max(int64_t{0}, pos - p.sliding_window + 1) : int64_t{0};
}

// The factor a row's accumulator takes at the end: 1 / l, or with a sink logit in the softmax
// (kernels/paged_attention.h), m and l rebased on max(m, sink) and exp(sink - max) added to l.
__device__ inline float finish_scale(float m, float l, const float* sinks, int64_t h) {
  if (!sinks) return 1.0f / l;
  const float top = fmaxf(m, sinks[h]);
  const float rebase = expf(m - top);
  return rebase / (l * rebase + expf(sinks[h] - top));
}

template <int kD>
__host__ __device__ constexpr int decode_smem_floats(int hd) {
  // qs [kHeadsPerCta][stride], ks, vs [kDecodeTile][stride], ps [kHeadsPerCta][kDecodeTile],
  // corr, fin_m, fin_l [kHeadsPerCta]
  return (kHeadsPerCta + 2 * kDecodeTile) * smem_stride(hd, kVec<kD>) + kHeadsPerCta * kDecodeTile +
         3 * kHeadsPerCta;
}

// grid (num_parts, num_kv_heads * chunks, num_seqs), kThreads threads.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    decode_kernel(const PagedAttentionParams p, const DecodeShape sh) {
  const int part = blockIdx.x;
  const int kvh = blockIdx.y / sh.chunks, chunk = blockIdx.y % sh.chunks;
  const int64_t s = blockIdx.z;
  const int q_begin = p.query_start[s];
  const int qlen = p.query_start[s + 1] - q_begin;
  const int64_t ctx = p.context_lens[s];
  if (qlen <= 0 || ctx <= 0) return;         // padding
  const int64_t q_row = q_begin + qlen - 1;  // qlen == 1 on this path
  const int64_t pos = ctx - 1;
  const int64_t lo = first_visible(p, pos);
  const int first_part = static_cast<int>(lo / sh.part_size);
  const int last_part = static_cast<int>(pos / sh.part_size);
  if (part < first_part || part > last_part) return;
  const bool direct = first_part == last_part;
  const int64_t t_begin = max(lo, static_cast<int64_t>(part) * sh.part_size);
  const int64_t t_end = min(ctx, static_cast<int64_t>(part + 1) * sh.part_size);

  const int hd = kD != 0 ? kD : static_cast<int>(p.head_dim);
  const int stride = smem_stride(hd, kVec<kD>);
  const int h0 = kvh * sh.group + chunk * kHeadsPerCta;
  const int ng = min(kHeadsPerCta, sh.group - chunk * kHeadsPerCta);
  const int32_t* table = p.block_tables + s * p.max_blocks_per_seq;

  extern __shared__ float4 smem4[];
  float* qs = reinterpret_cast<float*>(smem4);    // [kHeadsPerCta][stride]
  float* ks = qs + kHeadsPerCta * stride;         // [kDecodeTile][stride]
  float* vs = ks + kDecodeTile * stride;          // [kDecodeTile][stride]
  float* ps = vs + kDecodeTile * stride;          // [kHeadsPerCta][kDecodeTile]
  float* corr = ps + kHeadsPerCta * kDecodeTile;  // [kHeadsPerCta]
  float* fin_m = corr + kHeadsPerCta;             // [kHeadsPerCta]
  float* fin_l = fin_m + kHeadsPerCta;            // [kHeadsPerCta]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  for (int e = tid; e < kHeadsPerCta * hd; e += kThreads) {
    const int g = e / hd, d = e % hd;
    qs[g * stride + d] = g < ng ? p.q[q_row * p.ld_q + static_cast<int64_t>(h0 + g) * hd + d] : 0.f;
  }

  // Scores and softmax: warp w owns heads w + i * kWarps, lane = key of the tile.
  float m[kHeadsPerWarp], l[kHeadsPerWarp];
#pragma unroll
  for (int i = 0; i < kHeadsPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
  }
  // Values: thread owns dims dl + j * kDimLanes of heads hl + i * kHeadLanes.
  constexpr int kDimLanes = kD == 64 ? 64 : 128;
  constexpr int kHeadLanes = kThreads / kDimLanes;
  constexpr int kHeadsPerThread = kHeadsPerCta / kHeadLanes;
  constexpr int kDimsPerThread = ((kD != 0 ? kD : kMaxHeadDim) + kDimLanes - 1) / kDimLanes;
  const int dl = tid % kDimLanes, hl = tid / kDimLanes;
  float acc[kDimsPerThread][kHeadsPerThread];
#pragma unroll
  for (int j = 0; j < kDimsPerThread; ++j)
#pragma unroll
    for (int i = 0; i < kHeadsPerThread; ++i)
      acc[j][i] = 0.f;

  for (int64_t t0 = t_begin; t0 < t_end; t0 += kDecodeTile) {
    const int n = static_cast<int>(min(static_cast<int64_t>(kDecodeTile), t_end - t0));
    load_kv_tile<kD, kDecodeTile>(p, table, kvh, t0, n, hd, stride, ks, vs);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kHeadsPerWarp; ++i) {
      const int g = warp + i * kWarps;
      if (g < ng) {  // warp-uniform
        const float sc =
            lane < n ? dot_smem<kD>(qs + g * stride, ks + lane * stride, hd) * p.scale : -INFINITY;
        const float nm = fmaxf(m[i], warp_max(sc));  // finite: lane 0 always holds a key
        const float c = expf(m[i] - nm);
        const float pr = lane < n ? expf(sc - nm) : 0.f;
        l[i] = l[i] * c + warp_sum(pr);
        m[i] = nm;
        ps[g * kDecodeTile + lane] = pr;
        if (lane == 0) corr[g] = c;
      } else {
        ps[g * kDecodeTile + lane] = 0.f;
        if (lane == 0) corr[g] = 1.f;
      }
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kHeadsPerThread; ++i) {
      const float c = corr[hl + i * kHeadLanes];
#pragma unroll
      for (int j = 0; j < kDimsPerThread; ++j)
        acc[j][i] *= c;
    }
    for (int t = 0; t < n; ++t) {
#pragma unroll
      for (int j = 0; j < kDimsPerThread; ++j) {
        const int d = dl + j * kDimLanes;
        if (kD == 0 && d >= hd) continue;
        const float v = vs[t * stride + d];
#pragma unroll
        for (int i = 0; i < kHeadsPerThread; ++i)
          acc[j][i] = fmaf(ps[(hl + i * kHeadLanes) * kDecodeTile + t], v, acc[j][i]);
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kHeadsPerWarp; ++i) {
    const int g = warp + i * kWarps;
    if (g < ng && lane == 0) {
      fin_m[g] = m[i];
      fin_l[g] = l[i];
    }
  }
  __syncthreads();
  const Workspace ws = workspace_of(p, sh);
#pragma unroll
  for (int i = 0; i < kHeadsPerThread; ++i) {
    const int g = hl + i * kHeadLanes;
    if (g >= ng) continue;
    const int64_t h = h0 + g;
    const float inv = finish_scale(fin_m[g], fin_l[g], p.sinks, h);
    float* dst = direct ? p.out + q_row * p.ld_out + h * hd
                        : ws.out + ((s * p.num_heads + h) * sh.num_parts + part) * hd;
#pragma unroll
    for (int j = 0; j < kDimsPerThread; ++j) {
      const int d = dl + j * kDimLanes;
      if (kD == 0 && d >= hd) continue;
      dst[d] = direct ? acc[j][i] * inv : acc[j][i];
    }
  }
  if (!direct && tid < ng)
    ws.ml[(s * p.num_heads + h0 + tid) * sh.num_parts + part] = make_float2(fin_m[tid], fin_l[tid]);
}

// Combines the partitions of one (query head, sequence): grid (num_heads, num_seqs),
// kThreads threads, dynamic shared memory num_parts floats.
__global__ void __launch_bounds__(kThreads)
    decode_reduce_kernel(const PagedAttentionParams p, const DecodeShape sh) {
  const int64_t h = blockIdx.x, s = blockIdx.y;
  const int q_begin = p.query_start[s];
  const int qlen = p.query_start[s + 1] - q_begin;
  const int64_t ctx = p.context_lens[s];
  if (qlen <= 0 || ctx <= 0) return;
  const int64_t pos = ctx - 1;
  const int first = static_cast<int>(first_visible(p, pos) / sh.part_size);
  const int last = static_cast<int>(pos / sh.part_size);
  if (first == last) return;  // written directly by decode_kernel
  const int n = last - first + 1;
  const int hd = static_cast<int>(p.head_dim);

  extern __shared__ float w[];  // [num_parts]
  __shared__ float red[kWarps];
  const Workspace ws = workspace_of(p, sh);
  const float2* ml = ws.ml + (s * p.num_heads + h) * sh.num_parts + first;
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < n; i += kThreads)
    mx = fmaxf(mx, ml[i].x);
  mx = block_max(mx, red);
  float sum = 0.f;
  for (int i = threadIdx.x; i < n; i += kThreads) {
    const float wi = expf(ml[i].x - mx);
    w[i] = wi;
    sum += wi * ml[i].y;
  }
  sum = block_sum(sum, red);  // its barrier also publishes w
  const float inv = finish_scale(mx, sum, p.sinks, h);
  const float* po = ws.out + ((s * p.num_heads + h) * sh.num_parts + first) * hd;
  float* dst = p.out + static_cast<int64_t>(q_begin + qlen - 1) * p.ld_out + h * hd;
  for (int d = threadIdx.x; d < hd; d += kThreads) {
    float o = 0.f;
    for (int i = 0; i < n; ++i)
      o = fmaf(w[i], po[static_cast<int64_t>(i) * hd + d], o);
    dst[d] = o * inv;
  }
}

template <int kD>
__host__ __device__ constexpr int prefill_smem_floats(int hd) {
  // qs [kQueryTile][stride], ks, vs [kKeyTile][stride]
  return (kQueryTile + 2 * kKeyTile) * smem_stride(hd, kVec<kD>);
}

// grid (ceil(max_query_len / kQueryTile), num_heads, num_seqs), kThreads threads. Warp w owns
// query rows w + i * kWarps of the tile; lane = key of the current key tile for the scores and
// dims lane + 32 * j for the output.
template <int kD>
__global__ void __launch_bounds__(kThreads) prefill_kernel(const PagedAttentionParams p) {
  const int qt = gridDim.x - 1 - blockIdx.x;  // the costliest (last) query tiles first
  const int h = blockIdx.y;
  const int64_t s = blockIdx.z;
  const int q_begin = p.query_start[s];
  const int qlen = p.query_start[s + 1] - q_begin;
  const int64_t ctx = p.context_lens[s];
  if (qlen <= 0 || ctx <= 0) return;  // padding
  const int q0 = qt * kQueryTile;
  if (q0 >= qlen) return;
  const int nq = min(kQueryTile, qlen - q0);
  const int64_t pos0 = ctx - qlen + q0;  // position of the tile's first row
  const int kvh = static_cast<int>(h / (p.num_heads / p.num_kv_heads));
  const int hd = kD != 0 ? kD : static_cast<int>(p.head_dim);
  const int stride = smem_stride(hd, kVec<kD>);
  const int32_t* table = p.block_tables + s * p.max_blocks_per_seq;

  extern __shared__ float4 smem4[];
  float* qs = reinterpret_cast<float*>(smem4);  // [kQueryTile][stride]
  float* ks = qs + kQueryTile * stride;         // [kKeyTile][stride]
  float* vs = ks + kKeyTile * stride;           // [kKeyTile][stride]

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  for (int e = tid; e < kQueryTile * hd; e += kThreads) {
    const int r = e / hd, d = e % hd;
    qs[r * stride + d] = r < nq ? p.q[static_cast<int64_t>(q_begin + q0 + r) * p.ld_q +
                                      static_cast<int64_t>(h) * hd + d]
                                : 0.f;
  }

  constexpr int kDimsPerLane = (kD != 0 ? kD : kMaxHeadDim) / 32;
  float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][kDimsPerLane];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j)
      o[i][j] = 0.f;
  }

  const int64_t k_lo = first_visible(p, pos0);
  const int64_t k_end = pos0 + nq;  // keys [k_lo, k_end); k_end ≤ ctx
  for (int64_t t0 = k_lo; t0 < k_end; t0 += kKeyTile) {
    const int n = static_cast<int>(min(static_cast<int64_t>(kKeyTile), k_end - t0));
    __syncthreads();  // the previous tile is consumed
    load_kv_tile<kD, kKeyTile>(p, table, kvh, t0, n, hd, stride, ks, vs);
    __syncthreads();
    const int64_t j = t0 + lane;
    float pr[kRowsPerWarp];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      pr[i] = 0.f;
      const int r = warp + i * kWarps;
      if (r >= nq) continue;  // warp-uniform
      const int64_t qp = pos0 + r;
      const bool vis = lane < n && j <= qp && (p.sliding_window <= 0 || j > qp - p.sliding_window);
      const float sc =
          vis ? dot_smem<kD>(qs + r * stride, ks + lane * stride, hd) * p.scale : -INFINITY;
      const float tm = warp_max(sc);
      if (tm == -INFINITY) continue;  // no key of this tile visible to the row (warp-uniform)
      const float nm = fmaxf(m[i], tm);
      const float c = expf(m[i] - nm);
      pr[i] = vis ? expf(sc - nm) : 0.f;
      l[i] = l[i] * c + warp_sum(pr[i]);
      m[i] = nm;
#pragma unroll
      for (int jd = 0; jd < kDimsPerLane; ++jd)
        o[i][jd] *= c;
    }
    for (int k = 0; k < n; ++k) {
      float v[kDimsPerLane];
#pragma unroll
      for (int jd = 0; jd < kDimsPerLane; ++jd) {
        const int d = lane + 32 * jd;
        v[jd] = (kD != 0 || d < hd) ? vs[k * stride + d] : 0.f;
      }
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i) {
        const float pk = __shfl_sync(0xffffffffu, pr[i], k);
#pragma unroll
        for (int jd = 0; jd < kDimsPerLane; ++jd)
          o[i][jd] = fmaf(pk, v[jd], o[i][jd]);
      }
    }
  }

#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int r = warp + i * kWarps;
    if (r >= nq) continue;
    const float inv = l[i] > 0.f ? finish_scale(m[i], l[i], p.sinks, h) : 0.f;
    float* dst =
        p.out + static_cast<int64_t>(q_begin + q0 + r) * p.ld_out + static_cast<int64_t>(h) * hd;
#pragma unroll
    for (int jd = 0; jd < kDimsPerLane; ++jd) {
      const int d = lane + 32 * jd;
      if (kD == 0 && d >= hd) continue;
      dst[d] = o[i][jd] * inv;
    }
  }
}

DecodeShape decode_shape(const PagedAttentionParams& p) {
  DecodeShape sh;
  sh.group = static_cast<int>(p.num_heads / p.num_kv_heads);
  sh.chunks = (sh.group + kHeadsPerCta - 1) / kHeadsPerCta;
  // Shorter partitions when the batch alone gives few CTAs: a function of the batch shape
  // only, so the bounds never change the partition boundaries (nor the results).
  const int64_t ctas_per_part = p.num_seqs * p.num_kv_heads * sh.chunks;
  sh.part_size = ctas_per_part >= 256 ? 512 : ctas_per_part >= 64 ? 256 : 128;
  sh.num_parts = static_cast<int>((p.max_context_len + sh.part_size - 1) / sh.part_size);
  return sh;
}

// Lets a kernel use `bytes` of dynamic shared memory (past the 48 KiB default).
template <class Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  SIEVE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(bytes)));
}

template <int kD>
void launch_decode(const PagedAttentionParams& p, const DecodeShape& sh, cudaStream_t stream) {
  static const bool smem_set =
      (allow_smem(decode_kernel<kD>,
                  sizeof(float) * decode_smem_floats<kD>(kD != 0 ? kD : kMaxHeadDim)),
       true);
  (void)smem_set;
  const dim3 grid(sh.num_parts, static_cast<unsigned>(p.num_kv_heads * sh.chunks),
                  static_cast<unsigned>(p.num_seqs));
  const size_t smem = sizeof(float) * decode_smem_floats<kD>(static_cast<int>(p.head_dim));
  decode_kernel<kD><<<grid, kThreads, smem, stream>>>(p, sh);
  SIEVE_CUDA_CHECK_LAUNCH();
}

template <int kD>
void launch_prefill(const PagedAttentionParams& p, cudaStream_t stream) {
  static const bool smem_set =
      (allow_smem(prefill_kernel<kD>,
                  sizeof(float) * prefill_smem_floats<kD>(kD != 0 ? kD : kMaxHeadDim)),
       true);
  (void)smem_set;
  const dim3 grid(static_cast<unsigned>((p.max_query_len + kQueryTile - 1) / kQueryTile),
                  static_cast<unsigned>(p.num_heads), static_cast<unsigned>(p.num_seqs));
  const size_t smem = sizeof(float) * prefill_smem_floats<kD>(static_cast<int>(p.head_dim));
  prefill_kernel<kD><<<grid, kThreads, smem, stream>>>(p);
  SIEVE_CUDA_CHECK_LAUNCH();
}

// 64 and 128 have float4 instances when the caches are 16-byte aligned; the rest take the
// runtime-head_dim kernel.
int tuned_head_dim(const PagedAttentionParams& p) {
  const bool aligned = reinterpret_cast<uintptr_t>(p.k_cache) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(p.v_cache) % 16 == 0;
  return aligned && (p.head_dim == 64 || p.head_dim == 128) ? static_cast<int>(p.head_dim) : 0;
}

}  // namespace

size_t paged_attention_workspace_bytes(const PagedAttentionParams& p) {
  if (p.max_query_len != 1 || p.num_seqs <= 0 || p.num_kv_heads <= 0) return 0;
  const DecodeShape sh = decode_shape(p);
  if (sh.num_parts <= 1) return 0;  // every sequence fits one partition: written directly
  return static_cast<size_t>(p.num_seqs * p.num_heads * sh.num_parts) *
         (sizeof(float2) + sizeof(float) * static_cast<size_t>(p.head_dim));
}

void paged_attention(const PagedAttentionParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.num_seqs >= 0 && p.num_seqs <= 65535, "num_seqs must be in [0, 65535]");
  SIEVE_CUDA_REQUIRE(p.max_query_len >= 0 && p.max_context_len >= 0, "negative length bound");
  if (p.num_seqs == 0 || p.max_query_len == 0 || p.max_context_len == 0) return;
  SIEVE_CUDA_REQUIRE(p.max_query_len <= p.max_context_len,
                     "max_query_len must not exceed max_context_len");
  SIEVE_CUDA_REQUIRE(p.head_dim >= 1 && p.head_dim <= kMaxHeadDim, "head_dim must be in [1, 256]");
  SIEVE_CUDA_REQUIRE(p.num_kv_heads >= 1 && p.num_heads >= p.num_kv_heads &&
                         p.num_heads % p.num_kv_heads == 0 && p.num_heads <= 65535,
                     "num_heads must be a multiple of num_kv_heads");
  SIEVE_CUDA_REQUIRE(p.block_size >= 1 && p.max_blocks_per_seq >= 1, "empty block tables");
  SIEVE_CUDA_REQUIRE(p.max_context_len <= p.max_blocks_per_seq * p.block_size,
                     "max_context_len exceeds the block table");
  SIEVE_CUDA_REQUIRE(p.ld_q >= p.num_heads * p.head_dim && p.ld_out >= p.num_heads * p.head_dim,
                     "row stride smaller than num_heads * head_dim");
  SIEVE_CUDA_REQUIRE(
      p.q && p.out && p.k_cache && p.v_cache && p.block_tables && p.query_start && p.context_lens,
      "null device pointer");
  const int tuned = tuned_head_dim(p);
  if (p.max_query_len == 1) {
    const DecodeShape sh = decode_shape(p);
    const size_t need = paged_attention_workspace_bytes(p);
    SIEVE_CUDA_REQUIRE(p.workspace_bytes >= need && (need == 0 || p.workspace != nullptr),
                       "workspace smaller than paged_attention_workspace_bytes()");
    SIEVE_CUDA_REQUIRE(static_cast<size_t>(sh.num_parts) * sizeof(float) <= 48 * 1024,
                       "max_context_len too long for the decode reduce");
    switch (tuned) {
      case 64:
        launch_decode<64>(p, sh, stream);
        break;
      case 128:
        launch_decode<128>(p, sh, stream);
        break;
      default:
        launch_decode<0>(p, sh, stream);
        break;
    }
    if (sh.num_parts > 1) {
      const dim3 grid(static_cast<unsigned>(p.num_heads), static_cast<unsigned>(p.num_seqs));
      decode_reduce_kernel<<<grid, kThreads, sizeof(float) * sh.num_parts, stream>>>(p, sh);
      SIEVE_CUDA_CHECK_LAUNCH();
    }
    return;
  }
  switch (tuned) {
    case 64:
      launch_prefill<64>(p, stream);
      break;
    case 128:
      launch_prefill<128>(p, stream);
      break;
    default:
      launch_prefill<0>(p, stream);
      break;
  }
}

}  // namespace sieve::cuda
