#include "engine/backends/cpu_backend.h"

#include <algorithm>
#include <cstring>

#include "engine/backends/host_allocator.h"
#include "engine/backends/host_convert.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/numeric.h"
#include "kernels/cpu/ops.h"

namespace sieve {
namespace {

class CpuMatrix final : public Matrix {
 public:
  CpuMatrix(kernels::PackedMatrix packed, MatrixFormat format)
      : Matrix(packed.n, packed.k, format), packed_(std::move(packed)) {}
  size_t bytes() const override { return packed_.bytes; }
  const kernels::PackedMatrix& packed() const { return packed_; }

 private:
  kernels::PackedMatrix packed_;
};

kernels::ElemType elem_type(DType dt) {
  switch (dt) {
    case DType::kF32:
      return kernels::ElemType::kF32;
    case DType::kBF16:
      return kernels::ElemType::kBF16;
    case DType::kF16:
      return kernels::ElemType::kF16;
    default:
      SIEVE_CHECK_MSG(false, "no kernel element type for " << dtype_name(dt));
  }
  return kernels::ElemType::kF32;
}

const kernels::PackedMatrix& packed(const Matrix& m) {
  return static_cast<const CpuMatrix&>(m).packed();
}

// x, y: [rows, dim] with dim = w.numel(): the norm runs over each row's last w.numel() features.
kernels::RmsNormArgs norm_args(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  kernels::RmsNormArgs a;
  a.dim = w.numel();
  a.rows = x.numel() / a.dim;
  a.x = x.data<float>();
  a.w = w.data<float>();
  a.y = y.data<float>();
  a.eps = eps;
  return a;
}

kernels::MatmulArgs matmul_args(const LinearCall& c) {
  SIEVE_CHECK_EQ(c.x->dim(-1), c.w->k());
  SIEVE_CHECK_EQ(c.y->dim(-1), c.w->n());
  const int64_t m = c.x->numel() / c.w->k();
  SIEVE_CHECK_EQ(c.y->numel(), m * c.w->n());
  kernels::MatmulArgs a;
  a.x = c.x->data<float>();
  a.w = &packed(*c.w);
  a.y = const_cast<Tensor*>(c.y)->data<float>();
  a.m = m;
  return a;
}

}  // namespace

kernels::ElemType cpu_elem_type(QuantFormat q) {
  switch (q) {
    case QuantFormat::kInt8:
      return kernels::ElemType::kI8;
    case QuantFormat::kInt4:
      return kernels::ElemType::kI4;
    case QuantFormat::kFp8:
      return kernels::ElemType::kFP8;
    case QuantFormat::kMxfp4:
      return kernels::ElemType::kMXFP4;
    case QuantFormat::kNone:
      break;
  }
  SIEVE_CHECK_MSG(false, "no kernel element type for quantization " << quant_format_name(q));
  return kernels::ElemType::kF32;
}

CpuBackend::CpuBackend(int num_threads)
    : pool_(std::make_unique<kernels::ThreadPool>(num_threads)) {}

const char* CpuBackend::isa() const {
  return kernels::cpu_isa_name();
}

std::string CpuBackend::name() const {
  return std::string("cpu (") + kernels::cpu_isa_name() + ", " + std::to_string(pool_->size()) +
         " threads)";
}

Tensor CpuBackend::alloc(std::vector<int64_t> shape, DType dtype) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  auto block = cached_host_alloc(static_cast<size_t>(n) * dtype_size(dtype));
  void* p = block.get();
  return Tensor::wrap(p, std::move(shape), dtype, std::move(block));
}

kernels::PackedMatrix CpuBackend::quantize_on_pool(const void* src, DType src_dtype, int64_t n,
                                                   int64_t k, QuantFormat q) {
  // Quantizing is arithmetic on every element (a scale per group, a rounding per value), far
  // slower than the copy of an unquantized load, so the rows are split over the pool in slices
  // of whole 32-row panels and the slices stacked. Rows are quantized independently, so the
  // result is the one-piece quantization's.
  const int64_t panels = (n + 31) / 32;
  const int64_t slices = std::min<int64_t>(pool_->size(), panels);
  if (slices <= 1 || n * k < (int64_t{1} << 20)) {
    return kernels::quantize_matrix(src, elem_type(src_dtype), n, k, cpu_elem_type(q));
  }
  std::vector<kernels::PackedMatrix> parts(static_cast<size_t>(slices));
  const size_t row_bytes = static_cast<size_t>(k) * dtype_size(src_dtype);
  pool_->parallel_for(slices, 1, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      const int64_t r0 = std::min(n, panels * s / slices * 32);
      const int64_t r1 = std::min(n, panels * (s + 1) / slices * 32);
      parts[s] = kernels::quantize_matrix(static_cast<const uint8_t*>(src) + r0 * row_bytes,
                                          elem_type(src_dtype), r1 - r0, k, cpu_elem_type(q));
    }
  });
  std::vector<const kernels::PackedMatrix*> ptrs;
  for (const auto& p : parts)
    ptrs.push_back(&p);
  return kernels::stack_rows(ptrs);
}

std::shared_ptr<Matrix> CpuBackend::make_matrix_in_background(const void* src, DType src_dtype,
                                                              int64_t n, int64_t k,
                                                              MatrixFormat format) {
  return pack(src, src_dtype, n, k, format, /*on_pool=*/false);
}

std::shared_ptr<Matrix> CpuBackend::pack(const void* src, DType src_dtype, int64_t n, int64_t k,
                                         MatrixFormat format, bool on_pool) {
  if (!format.quantized()) {
    return std::make_shared<CpuMatrix>(
        kernels::pack_matrix(src, elem_type(src_dtype), n, k, elem_type(format.dtype)), format);
  }
  if (!on_pool) {
    return std::make_shared<CpuMatrix>(
        kernels::quantize_matrix(src, elem_type(src_dtype), n, k, cpu_elem_type(format.quant)),
        format);
  }
  return std::make_shared<CpuMatrix>(quantize_on_pool(src, src_dtype, n, k, format.quant), format);
}

bool CpuBackend::holds(QuantFormat) const {
  return true;
}

std::shared_ptr<Matrix> CpuBackend::make_matrix(const void* src, DType src_dtype, int64_t n,
                                                int64_t k, MatrixFormat format) {
  return pack(src, src_dtype, n, k, format, /*on_pool=*/true);
}

namespace {

// An fp8 matrix's scale_inv widened to fp32 (the checkpoint may store it as F32, BF16 or F16,
// at any alignment).
std::vector<float> fp8_scales(const StoredMatrix& m) {
  const size_t count = m.scale_bytes / dtype_size(m.scale_dtype);
  std::vector<uint8_t> raw(m.scale_bytes);
  std::memcpy(raw.data(), m.scales, raw.size());
  std::vector<float> out(count);
  host_convert(raw.data(), m.scale_dtype, out.data(), DType::kF32, static_cast<int64_t>(count));
  return out;
}

}  // namespace

std::shared_ptr<Matrix> CpuBackend::make_stored_matrix(std::span<const StoredMatrix> parts,
                                                       DType dtype) {
  SIEVE_CHECK(!parts.empty());
  const QuantFormat q = stored_quant_format(parts[0].format);
  std::vector<kernels::PackedMatrix> packed;
  for (const StoredMatrix& m : parts) {
    SIEVE_CHECK_MSG(stored_quant_format(m.format) == q && q != QuantFormat::kNone && m.count() == 1,
                    m.name << ": stacked parts must be single matrices of one quantized format");
    if (q == QuantFormat::kFp8) {
      const std::vector<float> scales = fp8_scales(m);
      packed.push_back(kernels::pack_fp8_blocks(m.values, scales.data(), m.rows(), m.cols(),
                                                m.block_n, m.block_k));
    } else {
      packed.push_back(kernels::pack_mxfp4(m.values, m.scales, m.rows(), m.cols()));
    }
  }
  if (packed.size() == 1)
    return std::make_shared<CpuMatrix>(std::move(packed[0]), MatrixFormat{dtype, q});
  std::vector<const kernels::PackedMatrix*> ptrs;
  for (const auto& p : packed)
    ptrs.push_back(&p);
  return std::make_shared<CpuMatrix>(kernels::stack_rows(ptrs), MatrixFormat{dtype, q});
}

Tensor CpuBackend::upload(const void* src, DType src_dtype, std::vector<int64_t> shape,
                          DType dtype) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  host_convert(src, src_dtype, t.raw(), dtype, t.numel());
  return t;
}

namespace {

// Writes elements [0, n) of a filled tensor as `dtype` (kF32 or kBF16) into dst, in parallel.
void fill_host(const WeightFill& fill, int64_t n, DType dtype, void* dst,
               kernels::ThreadPool* pool) {
  pool->parallel_for(n, int64_t{1} << 16, [&](int64_t begin, int64_t end) {
    fill_host_range(fill, begin, end, dtype, dst);
  });
}

}  // namespace

std::shared_ptr<Matrix> CpuBackend::make_filled_matrix(int64_t n, int64_t k,
                                                       std::span<const RowBlockFill> blocks,
                                                       MatrixFormat format) {
  const DType dtype = format.dtype;
  std::vector<uint8_t> host(static_cast<size_t>(n * k) * dtype_size(dtype));
  int64_t row = 0;
  for (const RowBlockFill& b : blocks) {
    fill_host(b.fill, b.rows * k, dtype,
              host.data() + static_cast<size_t>(row * k) * dtype_size(dtype), pool_.get());
    row += b.rows;
  }
  SIEVE_CHECK_EQ(row, n);
  return make_matrix(host.data(), dtype, n, k, format);
}

Tensor CpuBackend::make_filled(std::vector<int64_t> shape, const WeightFill& fill, DType dtype) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  fill_host(fill, t.numel(), dtype, t.raw(), pool_.get());
  return t;
}

void CpuBackend::fill_zero(Tensor& t) {
  std::memset(t.raw(), 0, t.nbytes());
}

void CpuBackend::copy_rows_to_host(const Tensor& src, int64_t begin, int64_t end, float* dst) {
  SIEVE_CHECK(src.dtype() == DType::kF32);
  Tensor rows = src.rows(begin, end);
  std::memcpy(dst, rows.raw(), rows.nbytes());
}

void CpuBackend::copy_to_host(const Tensor& src, void* dst) {
  std::memcpy(dst, src.raw(), src.nbytes());
}

void CpuBackend::copy_from_host(const void* src, Tensor& dst) {
  if (dst.nbytes() > 0) std::memcpy(dst.raw(), src, dst.nbytes());
}

namespace {

// A host vector as a tensor, without a copy (the vector outlives the step).
template <class T>
Tensor wrap_vector(const std::vector<T>& v, DType dtype, std::vector<int64_t> shape) {
  return Tensor::wrap(const_cast<T*>(v.data()), std::move(shape), dtype, nullptr);
}

}  // namespace

const StepInputs& CpuBackend::begin_step(const ForwardBatch& b) {
  StepInputs& s = step_;
  s.num_tokens = b.num_tokens();
  s.num_seqs = b.num_seqs();
  s.max_blocks_per_seq = b.max_blocks_per_seq;
  s.token_ids = wrap_vector(b.token_ids, DType::kI32, {s.num_tokens});
  s.positions = wrap_vector(b.positions, DType::kI32, {s.num_tokens});
  s.slots = wrap_vector(b.slots, DType::kI64, {s.num_tokens});
  s.query_start = wrap_vector(b.query_start, DType::kI32, {s.num_seqs + 1});
  s.context_lens = wrap_vector(b.context_lens, DType::kI32, {s.num_seqs});
  s.block_tables = wrap_vector(b.block_tables, DType::kI32, {s.num_seqs, s.max_blocks_per_seq});
  s.logit_rows =
      wrap_vector(b.logit_rows, DType::kI32, {static_cast<int64_t>(b.logit_rows.size())});
  s.max_query_len = s.max_context_len = 0;
  for (int64_t i = 0; i < s.num_seqs; ++i) {
    s.max_query_len = std::max<int64_t>(s.max_query_len, b.query_start[i + 1] - b.query_start[i]);
    s.max_context_len = std::max<int64_t>(s.max_context_len, b.context_lens[i]);
  }
  return s;
}

void CpuBackend::embedding(const Tensor& table, const Tensor& id_tensor, Tensor& out) {
  const int64_t vocab = table.dim(0), hidden = table.dim(1);
  const std::span<const int32_t> ids(id_tensor.data<int32_t>(), id_tensor.numel());
  SIEVE_CHECK_EQ(out.numel(), static_cast<int64_t>(ids.size()) * hidden);
  float* y = out.data<float>();
  for (size_t t = 0; t < ids.size(); ++t) {
    SIEVE_CHECK_MSG(ids[t] >= 0 && ids[t] < vocab, "token id " << ids[t] << " outside vocab");
    for (int64_t h = 0; h < hidden; ++h) {
      y[t * hidden + h] = host_element_as_f32(table.raw(), table.dtype(), ids[t] * hidden + h);
    }
  }
}

void CpuBackend::gather_rows(const Tensor& src, const Tensor& row_tensor, Tensor& out) {
  const std::span<const int32_t> rows(row_tensor.data<int32_t>(), row_tensor.numel());
  if (rows.empty()) return;
  const int64_t width = src.numel() / src.dim(0);
  const size_t row_bytes = width * dtype_size(src.dtype());
  SIEVE_CHECK_EQ(out.nbytes(), rows.size() * row_bytes);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(static_cast<char*>(out.raw()) + i * row_bytes,
                static_cast<const char*>(src.raw()) + rows[i] * row_bytes, row_bytes);
  }
}

void CpuBackend::linear(const LinearCall& call) {
  kernels::matmul(matmul_args(call), pool_.get());
}

void CpuBackend::linear_many(std::span<const LinearCall> calls) {
  std::vector<kernels::MatmulArgs> args;
  args.reserve(calls.size());
  for (const auto& c : calls)
    args.push_back(matmul_args(c));
  kernels::matmul_many(args, pool_.get());
}

void CpuBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  kernels::rms_norm(norm_args(x, w, eps, y), pool_.get());
}

void CpuBackend::add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                              Tensor& y) {
  // The norm reads the residual after x is added to it.
  kernels::add_rms_norm(residual.data<float>(), x.data<float>(), norm_args(residual, w, eps, y),
                        pool_.get());
}

void CpuBackend::rope(Tensor& x, int64_t heads, int64_t head_dim, const Tensor& positions,
                      const RopeConfig& rope) {
  kernels::RopeArgs a;
  a.x = x.data<float>();
  a.positions = positions.data<int32_t>();
  a.inv_freq = rope.inv_freq.data();
  a.tokens = positions.numel();
  a.heads = heads;
  a.head_dim = head_dim;
  a.rotary_dim = rope.rotary_dim;
  a.ld_token = heads * head_dim;
  a.neox = rope.neox;
  a.attention_scaling = rope.attention_scaling;
  kernels::rope(a, pool_.get());
}

void CpuBackend::silu_mul(const Tensor& gu, Tensor& out) {
  const int64_t inter = out.dim(-1);
  const int64_t rows = out.numel() / inter;
  kernels::silu_mul(gu.data<float>(), rows, inter, 2 * inter, out.data<float>(), inter,
                    pool_.get());
}

void CpuBackend::add_bias(Tensor& y, const Tensor& bias) {
  const int64_t n = bias.numel();
  SIEVE_CHECK_EQ(y.dim(-1), n);
  kernels::add_bias(y.data<float>(), y.numel() / n, n, n, bias.data<float>(), pool_.get());
}

void CpuBackend::clamp(Tensor& x, float limit) {
  float* p = x.data<float>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i)
    p[i] = std::clamp(p[i], -limit, limit);
}

void CpuBackend::router_topk(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids,
                             Tensor& weights) {
  kernels::TopkArgs a;
  a.logits = logits.data<float>();
  a.tokens = logits.dim(0);
  a.experts = logits.dim(1);
  a.k = k;
  a.renormalize = renormalize;
  a.ids = ids.data<int32_t>();
  a.weights = weights.data<float>();
  kernels::softmax_topk(a);
}

// Rows [offsets[e], offsets[e + 1]) of `y` get expert e's bias.
void CpuBackend::add_group_bias(const std::vector<Tensor>& bias,
                                const std::vector<int32_t>& offsets, Tensor& y) {
  const int64_t n = y.dim(1);
  for (size_t e = 0; e + 1 < offsets.size(); ++e) {
    const int64_t rows = offsets[e + 1] - offsets[e];
    if (rows == 0) continue;
    SIEVE_CHECK_EQ(bias[e].numel(), n);
    kernels::add_bias(y.data<float>() + offsets[e] * n, rows, n, n, bias[e].data<float>(),
                      pool_.get());
  }
}

// Tokens are grouped by expert (a counting sort over the router's choices), each expert runs
// gate/up → SiLU·up → down on its group, and every token sums its k results in its own router
// order — so a token's output depends only on that token, whatever else is in the batch.
void CpuBackend::moe_experts(const MoeArgs& args) {
  const Tensor& x = *args.x;
  const int64_t tokens = x.dim(0), hidden = x.dim(1);
  const int64_t k = args.topk_ids->dim(1);
  const int64_t num_experts = static_cast<int64_t>(args.experts->gate_up.size());
  if (tokens == 0) return;
  const int32_t* ids = args.topk_ids->data<int32_t>();

  std::vector<int32_t> offsets(num_experts + 1, 0);
  for (int64_t i = 0; i < tokens * k; ++i) {
    SIEVE_CHECK(ids[i] >= 0 && ids[i] < num_experts);
    ++offsets[ids[i] + 1];
  }
  for (int64_t e = 0; e < num_experts; ++e)
    offsets[e + 1] += offsets[e];
  std::vector<int32_t> cursor(offsets.begin(), offsets.end() - 1);
  std::vector<int32_t> row_of(tokens * k);    // (token, j) → row in the grouped buffers
  std::vector<int32_t> token_of(tokens * k);  // grouped row → token
  for (int64_t i = 0; i < tokens * k; ++i) {
    int32_t r = cursor[ids[i]]++;
    row_of[i] = r;
    token_of[r] = static_cast<int32_t>(i / k);
  }

  const int64_t inter = args.experts->down[0]->k();
  Tensor xg = alloc({tokens * k, hidden}, DType::kF32);
  Tensor gu = alloc({tokens * k, 2 * inter}, DType::kF32);
  Tensor act = alloc({tokens * k, inter}, DType::kF32);
  Tensor yg = alloc({tokens * k, hidden}, DType::kF32);
  gather_rows(x, wrap_vector(token_of, DType::kI32, {tokens * k}), xg);

  std::vector<kernels::MatmulArgs> products;
  for (int64_t e = 0; e < num_experts; ++e) {
    const int64_t n = offsets[e + 1] - offsets[e];
    if (n == 0) continue;
    kernels::MatmulArgs a;
    a.x = xg.data<float>() + offsets[e] * hidden;
    a.w = &packed(*args.experts->gate_up[e]);
    a.y = gu.data<float>() + offsets[e] * 2 * inter;
    a.m = n;
    products.push_back(a);
  }
  kernels::matmul_many(products, pool_.get());
  const ExpertWeights& w = *args.experts;
  if (!w.gate_up_bias.empty()) add_group_bias(w.gate_up_bias, offsets, gu);
  if (args.activation.clamped()) {
    kernels::clamped_swiglu(gu.data<float>(), tokens * k, inter, 2 * inter, act.data<float>(),
                            inter, args.activation.swiglu_limit, args.activation.swiglu_alpha,
                            pool_.get());
  } else {
    silu_mul(gu, act);
  }
  products.clear();
  for (int64_t e = 0; e < num_experts; ++e) {
    const int64_t n = offsets[e + 1] - offsets[e];
    if (n == 0) continue;
    kernels::MatmulArgs a;
    a.x = act.data<float>() + offsets[e] * inter;
    a.w = &packed(*args.experts->down[e]);
    a.y = yg.data<float>() + offsets[e] * hidden;
    a.m = n;
    products.push_back(a);
  }
  kernels::matmul_many(products, pool_.get());
  if (!w.down_bias.empty()) add_group_bias(w.down_bias, offsets, yg);

  combine_rows(yg, wrap_vector(row_of, DType::kI32, {tokens * k}), *args.topk_weights, *args.out);
}

void CpuBackend::combine_rows(const Tensor& src, const Tensor& row_tensor, const Tensor& weights,
                              Tensor& out_tensor) {
  const int64_t tokens = weights.dim(0), k = weights.dim(1);
  const int64_t hidden = out_tensor.dim(1);
  SIEVE_CHECK_EQ(row_tensor.numel(), tokens * k);
  SIEVE_CHECK_EQ(out_tensor.dim(0), tokens);
  SIEVE_CHECK_EQ(src.numel(), src.dim(0) * hidden);
  const int32_t* rows = row_tensor.data<int32_t>();
  const float* wts = weights.data<float>();
  const float* y = src.data<float>();
  float* out = out_tensor.data<float>();
  pool_->parallel_for(tokens, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* o = out + t * hidden;
      std::fill(o, o + hidden, 0.f);
      for (int64_t j = 0; j < k; ++j) {
        const float w = wts[t * k + j];
        const float* row = y + static_cast<int64_t>(rows[t * k + j]) * hidden;
        for (int64_t h = 0; h < hidden; ++h)
          o[h] += w * row[h];
      }
    }
  });
}

void CpuBackend::write_kv(const Tensor& k, const Tensor& v, const StepInputs& step, Tensor& k_cache,
                          Tensor& v_cache) {
  kernels::KvWriteArgs a;
  a.k = k.data<float>();
  a.v = v.data<float>();
  a.slots = step.slots.data<int64_t>();
  a.k_cache = k_cache.data<float>();
  a.v_cache = v_cache.data<float>();
  a.tokens = step.num_tokens;
  a.num_kv_heads = k_cache.dim(2);
  a.head_dim = k_cache.dim(3);
  a.ld_k = a.num_kv_heads * a.head_dim;
  a.ld_v = a.ld_k;
  kernels::kv_write(a);
}

void CpuBackend::attention(const AttentionArgs& args) {
  kernels::paged_attention(args.kernel_args(), pool_.get());
}

}  // namespace sieve
