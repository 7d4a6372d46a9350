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

#include "engine/backends/forward_batch.h"
#include "engine/base/dtype.h"
#include "engine/base/quant_format.h"
#include "engine/base/tensor.h"
#include "engine/checkpoint/model_config.h"
#include "engine/checkpoint/quantization.h"
#include "engine/checkpoint/weight_fill.h"
#include "kernels/paged_attention.h"
#include "kernels/sampling_row.h"

namespace sieve {

class Matrix {
 public:
  virtual ~Matrix() = default;
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  // What the model computes in; for a quantized matrix, quant() says how the weights are held.
  DType dtype() const { return dtype_; }
  QuantFormat quant() const { return quant_; }
  MatrixFormat format() const { return {dtype_, quant_}; }
  virtual size_t bytes() const = 0;

 protected:
  Matrix(int64_t n, int64_t k, MatrixFormat format)
      : n_(n), k_(k), dtype_(format.dtype), quant_(format.quant) {}
  int64_t n_, k_;
  DType dtype_;
  QuantFormat quant_;
};

// The experts of one MoE layer.
struct ExpertWeights {
  std::vector<std::shared_ptr<Matrix>> gate_up;  // [num_experts] of [2 * inter, hidden]: gate
                                                 // rows first, then up rows
  std::vector<std::shared_ptr<Matrix>> down;     // [num_experts] of [hidden, inter]
  // Experts with biases (gpt-oss): empty, or [num_experts] fp32 tensors added after each
  // product, [2 * inter] (gate then up, as the rows) and [hidden].
  std::vector<Tensor> gate_up_bias, down_bias;
};

// The gated activation between an expert's two products, act = f(gate) · g(up).
struct ExpertActivation {
  // swiglu_limit 0: SwiGLU, silu(gate) · up. Above 0, gpt-oss's clamped variant:
  // gate' = min(gate, limit), up' = clamp(up, -limit, limit),
  // act = gate' · sigmoid(alpha · gate') · (up' + 1).
  float swiglu_limit = 0.0f;
  float swiglu_alpha = 1.0f;
  bool clamped() const { return swiglu_limit > 0.0f; }
};

// Rows [row_begin, row_begin + rows) of a filled matrix come from `fill`, element indices counted
// from that block's first element (so gate and up, stacked, keep their own tensors' values).
struct RowBlockFill {
  int64_t rows = 0;
  WeightFill fill;
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
  Tensor* out = nullptr;  // [tokens, hidden]: Σ_j weight_j · down_e(act(gate_e x, up_e x))
  ExpertActivation activation{};
};

// One step's inputs where the backend's kernels read them: begin_step() uploads the
// ForwardBatch (the CPU backend wraps the batch's own vectors). Valid until the next begin_step.
struct StepInputs {
  Tensor token_ids;     // [num_tokens] int32
  Tensor positions;     // [num_tokens] int32
  Tensor slots;         // [num_tokens] int64; negative: padding, not written
  Tensor query_start;   // [num_seqs + 1] int32
  Tensor context_lens;  // [num_seqs] int32
  Tensor block_tables;  // [num_seqs, max_blocks_per_seq] int32
  Tensor logit_rows;    // [logit rows] int32
  int64_t num_tokens = 0, num_seqs = 0, max_blocks_per_seq = 0;
  // Upper bounds of any sequence's new tokens and cached tokens (kernels size grids by them,
  // so a captured CUDA graph replays for every batch within the bounds).
  int64_t max_query_len = 0, max_context_len = 0;
};

struct AttentionArgs {
  const Tensor* q = nullptr;        // [tokens, num_heads * head_dim], RoPE applied
  Tensor* out = nullptr;            // [tokens, num_heads * head_dim]
  const Tensor* k_cache = nullptr;  // [num_blocks, block_size, num_kv_heads, head_dim]
  const Tensor* v_cache = nullptr;
  const StepInputs* step = nullptr;
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0;
  float scale = 1.0f;
  int64_t sliding_window = 0;
  const Tensor* sinks = nullptr;  // null, or [num_heads] fp32 (kernels/paged_attention.h)

  // The same call as both backends' attention kernels take it (pointers into the tensors).
  kernels::PagedAttentionArgs kernel_args() const {
    kernels::PagedAttentionArgs a;
    a.q = q->data<float>();
    a.out = out->data<float>();
    a.k_cache = k_cache->data<float>();
    a.v_cache = v_cache->data<float>();
    a.block_tables = step->block_tables.data<int32_t>();
    a.query_start = step->query_start.data<int32_t>();
    a.context_lens = step->context_lens.data<int32_t>();
    a.num_seqs = step->num_seqs;
    a.max_blocks_per_seq = step->max_blocks_per_seq;
    a.num_heads = num_heads;
    a.num_kv_heads = num_kv_heads;
    a.head_dim = head_dim;
    a.block_size = k_cache->dim(1);
    a.ld_q = num_heads * head_dim;
    a.ld_out = a.ld_q;
    a.scale = scale;
    a.sliding_window = sliding_window;
    a.sinks = sinks ? sinks->data<float>() : nullptr;
    return a;
  }
};

// One row of Backend::sample: the row the sampling kernel reads (the request's parameters and
// its random stream: seed, and offset = tokens it has drawn so far, so a draw does not depend on
// the batch) and, for penalties, the tokens seen.
struct SampleRow {
  kernels::RowSampling params;
  std::span<const int32_t> prompt, output;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual Device device() const = 0;

  // --- memory
  // Memory that lives until the tensor is dropped (weights, the KV cache); contents undefined.
  virtual Tensor alloc(std::vector<int64_t> shape, DType dtype) = 0;
  // A step's activations: valid until the next begin_step(), contents undefined. Cheap (the
  // CUDA backend bumps a pointer in one arena, so a replayed graph finds the same addresses).
  virtual Tensor scratch(std::vector<int64_t> shape, DType dtype) = 0;
  // Whether this backend can hold matrices quantized to `q` (kNone: always).
  virtual bool holds(QuantFormat q) const { return q == QuantFormat::kNone; }
  // A weight matrix from host memory `src` [n, k] of `src_dtype`, stored as `format` says:
  // at its dtype, or quantized (quantize on load; only formats this backend holds()).
  virtual std::shared_ptr<Matrix> make_matrix(const void* src, DType src_dtype, int64_t n,
                                              int64_t k, MatrixFormat format) = 0;
  // A weight matrix kept in the quantized format a checkpoint stores it in: `parts` (one, or
  // several stacked along the output dimension: gate then up) all of one format this backend
  // holds(), each a single [n, k] matrix; `dtype` is what the model computes in.
  virtual std::shared_ptr<Matrix> make_stored_matrix(std::span<const StoredMatrix> parts,
                                                     DType dtype) = 0;
  // make_matrix for a thread other than the one running steps (background expert swaps): the
  // copy must not wait for, or make wait, the work of a step. Returns once the matrix is ready
  // for any op. The CUDA backend copies on a stream of its own; the default is make_matrix,
  // right for a backend whose make_matrix touches nothing a step uses (the CPU backend packs
  // into fresh memory).
  virtual std::shared_ptr<Matrix> make_matrix_in_background(const void* src, DType src_dtype,
                                                            int64_t n, int64_t k,
                                                            MatrixFormat format) {
    return make_matrix(src, src_dtype, n, k, format);
  }
  // A tensor from host memory of `src_dtype`, stored as `dtype` (norm weights: kF32;
  // embedding tables: the weight dtype).
  virtual Tensor upload(const void* src, DType src_dtype, std::vector<int64_t> shape,
                        DType dtype) = 0;
  // --load-format dummy: weights made on the backend from the counter hash of
  // engine/checkpoint/weight_fill.h, equal to what a random checkpoint with the same fills holds,
  // with nothing read from disk. `blocks` cover the n rows in order.
  virtual std::shared_ptr<Matrix> make_filled_matrix(int64_t n, int64_t k,
                                                     std::span<const RowBlockFill> blocks,
                                                     MatrixFormat format) = 0;
  virtual Tensor make_filled(std::vector<int64_t> shape, const WeightFill& fill, DType dtype) = 0;
  virtual void fill_zero(Tensor& t) = 0;
  // Copies an fp32 tensor's rows [begin, end) to host memory; `dst` is written by end_step()
  // at the latest.
  virtual void copy_rows_to_host(const Tensor& src, int64_t begin, int64_t end, float* dst) = 0;
  // Copies a whole tensor of any dtype to host memory (src.nbytes() bytes).
  virtual void copy_to_host(const Tensor& src, void* dst) = 0;
  // Fills `dst` (any dtype, dst.nbytes() bytes) from host memory, in stream order; `src` may be
  // reused as soon as this returns.
  virtual void copy_from_host(const void* src, Tensor& dst) = 0;
  // Waits until the work issued so far has finished (before another stream or process reads
  // what it wrote: the NCCL all-to-all). A no-op where ops run synchronously.
  virtual void synchronize() {}

  // --- steps
  // Starts a step: scratch from earlier steps is released and the batch's inputs are made
  // available to the kernels.
  virtual const StepInputs& begin_step(const ForwardBatch& batch) = 0;
  // Ends a step: waits for its work, so host copies it asked for have landed.
  virtual void end_step() = 0;

  // --- ops
  // out[t] = table[ids[t]] widened to fp32; ids: [tokens] int32 on the backend.
  virtual void embedding(const Tensor& table, const Tensor& ids, Tensor& out) = 0;
  // out[i] = src[rows[i]]; rows: int32 on the backend.
  virtual void gather_rows(const Tensor& src, const Tensor& rows, Tensor& out) = 0;
  virtual void linear(const LinearCall& call) = 0;
  // Independent products in one go (q, k and v of a layer).
  virtual void linear_many(std::span<const LinearCall> calls) = 0;
  // y = rms_norm(x) · w over the last `w.numel()` features of each row.
  virtual void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) = 0;
  // residual += x; y = rms_norm(residual) · w.
  virtual void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                            Tensor& y) = 0;
  // x: [tokens, heads * head_dim], rotated in place at each token's position
  // (positions: [tokens] int32 on the backend).
  virtual void rope(Tensor& x, int64_t heads, int64_t head_dim, const Tensor& positions,
                    const RopeConfig& rope) = 0;
  // gu: [tokens, 2 * inter] = [gate | up] → out [tokens, inter] = silu(gate) · up.
  virtual void silu_mul(const Tensor& gu, Tensor& out) = 0;
  virtual void clamp(Tensor& x, float limit) = 0;
  // y[t] += bias for every row t; y [tokens, n] fp32, bias [n] fp32.
  virtual void add_bias(Tensor& y, const Tensor& bias) = 0;
  // logits [tokens, experts] → ids, weights [tokens, k]: top-k of softmax, optionally
  // renormalised to sum to 1.
  virtual void router_topk(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids,
                           Tensor& weights) = 0;
  virtual void moe_experts(const MoeArgs& args) = 0;
  // The weighted combine of MoE outputs: out[t] = Σ_{j ascending} weights[t, j] ·
  // src[rows[t * k + j]], with weights [tokens, k] fp32 and rows [tokens * k] int32 on the
  // backend (moe_experts ends with it; expert parallelism combines what came back with it).
  virtual void combine_rows(const Tensor& src, const Tensor& rows, const Tensor& weights,
                            Tensor& out) = 0;
  // k, v: [tokens, num_kv_heads * head_dim] written to step.slots.
  virtual void write_kv(const Tensor& k, const Tensor& v, const StepInputs& step, Tensor& k_cache,
                        Tensor& v_cache) = 0;
  virtual void attention(const AttentionArgs& args) = 0;

  // --- sampling
  // Draws one token per row of `logits` ([rows, vocab] fp32, penalties applied in place) on the
  // backend and returns the ids on the host: the step's one synchronisation. False when this
  // backend leaves sampling to the host (the CPU backend): the engine then copies the logits
  // and samples with engine/sampler.h.
  virtual bool sample(Tensor& logits, std::span<const SampleRow> rows, int32_t* ids) {
    return false;
  }
};

}  // namespace sieve
