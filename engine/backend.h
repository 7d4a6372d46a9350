// The backend interface: where tensors live and how each op of the model runs. The model code
// in models/ calls only this, so the same model runs on the CPU backend and the CUDA backend,
// and tests compare them op by op.
//
// Activations are fp32 [rows, features], row-major and contiguous. Weight matrices are
// [n, k] = [out_features, in_features] as torch stores them, held in whatever layout the
// backend prefers (Matrix).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/dtype.h"
#include "engine/forward_batch.h"
#include "engine/model_config.h"
#include "engine/tensor.h"
#include "kernels/random_fill.h"

namespace sieve {

class Matrix {
 public:
  virtual ~Matrix() = default;
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  DType dtype() const { return dtype_; }
  virtual size_t bytes() const = 0;

 protected:
  Matrix(int64_t n, int64_t k, DType dtype) : n_(n), k_(k), dtype_(dtype) {}
  int64_t n_, k_;
  DType dtype_;
};

// The experts of one MoE layer.
struct ExpertWeights {
  std::vector<std::shared_ptr<Matrix>> gate_up;  // [num_experts] of [2 * inter, hidden]: gate
                                                 // rows first, then up rows
  std::vector<std::shared_ptr<Matrix>> down;     // [num_experts] of [hidden, inter]
};

// Rows [row_begin, row_begin + rows) of a filled matrix come from `fill`, element indices counted
// from that block's first element (so gate and up, stacked, keep their own tensors' values).
struct RowBlockFill {
  int64_t rows = 0;
  kernels::FillSpec fill;
};

struct LinearCall {
  const Tensor* x = nullptr;  // [m, k]
  const Matrix* w = nullptr;  // [n, k]
  Tensor* y = nullptr;        // [m, n]
};

struct MoeArgs {
  const Tensor* x = nullptr;             // [tokens, hidden]
  const Tensor* topk_ids = nullptr;      // [tokens, top_k] int32
  const Tensor* topk_weights = nullptr;  // [tokens, top_k] fp32
  const ExpertWeights* experts = nullptr;
  Tensor* out = nullptr;  // [tokens, hidden]: Σ_j weight_j · down_e(silu(gate_e x) · up_e x)
};

struct AttentionArgs {
  const Tensor* q = nullptr;        // [tokens, num_heads * head_dim], RoPE applied
  Tensor* out = nullptr;            // [tokens, num_heads * head_dim]
  const Tensor* k_cache = nullptr;  // [num_blocks, block_size, num_kv_heads, head_dim]
  const Tensor* v_cache = nullptr;
  const ForwardBatch* batch = nullptr;
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  float scale = 1.0f;
  int64_t sliding_window = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Device device() const = 0;

  // --- memory
  virtual Tensor alloc(std::vector<int64_t> shape, DType dtype) = 0;  // contents undefined
  // A weight matrix from host memory `src` [n, k] of `src_dtype`, stored as `dtype`.
  virtual std::shared_ptr<Matrix> make_matrix(const void* src, DType src_dtype, int64_t n,
                                              int64_t k, DType dtype) = 0;
  // A tensor from host memory of `src_dtype`, stored as `dtype` (norm weights: kF32;
  // embedding tables: the weight dtype).
  virtual Tensor upload(const void* src, DType src_dtype, std::vector<int64_t> shape,
                        DType dtype) = 0;
  // --load-format dummy: weights made on the backend from kernels/random_fill.h's counter hash,
  // equal to what a random checkpoint with the same fills holds, with nothing read from disk.
  // `blocks` cover the n rows in order.
  virtual std::shared_ptr<Matrix> make_filled_matrix(int64_t n, int64_t k,
                                                     std::span<const RowBlockFill> blocks,
                                                     DType dtype) = 0;
  virtual Tensor make_filled(std::vector<int64_t> shape, const kernels::FillSpec& fill,
                             DType dtype) = 0;
  virtual void fill_zero(Tensor& t) = 0;
  // Copies an fp32 tensor's rows [begin, end) to host memory.
  virtual void copy_rows_to_host(const Tensor& src, int64_t begin, int64_t end, float* dst) = 0;
  // Copies a whole tensor of any dtype to host memory (src.nbytes() bytes).
  virtual void copy_to_host(const Tensor& src, void* dst) = 0;

  // --- ops
  // out[t] = table[ids[t]] widened to fp32.
  virtual void embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out) = 0;
  // out[i] = src[rows[i]].
  virtual void gather_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& out) = 0;
  virtual void linear(const LinearCall& call) = 0;
  // Independent products in one go (q, k and v of a layer).
  virtual void linear_many(std::span<const LinearCall> calls) = 0;
  // y = rms_norm(x) · w over the last `w.numel()` features of each row.
  virtual void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) = 0;
  // residual += x; y = rms_norm(residual) · w.
  virtual void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                            Tensor& y) = 0;
  // x: [tokens, heads * head_dim], rotated in place at each token's position.
  virtual void rope(Tensor& x, int64_t heads, int64_t head_dim, std::span<const int32_t> positions,
                    const RopeConfig& rope) = 0;
  // gu: [tokens, 2 * inter] = [gate | up] → out [tokens, inter] = silu(gate) · up.
  virtual void silu_mul(const Tensor& gu, Tensor& out) = 0;
  virtual void clamp(Tensor& x, float limit) = 0;
  // logits [tokens, experts] → ids, weights [tokens, k]: top-k of softmax, optionally
  // renormalised to sum to 1.
  virtual void router_topk(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids,
                           Tensor& weights) = 0;
  virtual void moe_experts(const MoeArgs& args) = 0;
  // k, v: [tokens, num_kv_heads * head_dim] written to batch.slots.
  virtual void write_kv(const Tensor& k, const Tensor& v, const ForwardBatch& batch,
                        Tensor& k_cache, Tensor& v_cache) = 0;
  virtual void attention(const AttentionArgs& args) = 0;
};

}  // namespace sieve
