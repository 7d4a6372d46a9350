#include "engine/backends/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "engine/backends/cuda_backend_internal.h"
#include "engine/backends/host_convert.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/moe.h"
#include "kernels/cuda/moe_registry.h"
#include "kernels/cuda/router.h"
#include "kernels/cuda/sampling.h"

namespace sieve {
namespace {

using namespace cuda_backend_detail;

constexpr size_t kAlign = 256;

size_t align_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

// Host data of `src_dtype` converted to `dtype` (fp32 or bf16) in a staging vector.
std::vector<uint8_t> convert_on_host(const void* src, DType src_dtype, int64_t n, DType dtype) {
  std::vector<uint8_t> out(static_cast<size_t>(n) * dtype_size(dtype));
  host_convert(src, src_dtype, out.data(), dtype, n);
  return out;
}

}  // namespace

CudaBackend::CudaBackend(const CudaBackendOptions& options) {
  const cuda::DeviceInfo& dev = cuda::device_info();
  SIEVE_CHECK_MSG(dev.available, "no CUDA device: " << dev.why_not);
  SIEVE_CUDA_CHECK(cudaGetDevice(&device_));
  cudaStream_t s = nullptr;
  SIEVE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  stream_ = s;
  gemm_ = std::make_unique<cuda::LtGemm>();
  moe_registry_ = std::make_unique<cuda::MoeKernelRegistry>(cuda::moe_device_key());
  arena_bytes_ = align_up(options.initial_scratch_bytes);
  SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&arena_), arena_bytes_));
}

CudaBackend::~CudaBackend() {
  cudaStreamSynchronize(as_stream(stream_));
  for (void* p : overflow_)
    cudaFree(p);
  expert_ptrs_.clear();
  inv_freq_.clear();
  gemm_.reset();
  moe_registry_.reset();
  if (arena_) cudaFree(arena_);
  if (staging_device_) cudaFree(staging_device_);
  if (staging_host_) cudaFreeHost(staging_host_);
  if (readback_) cudaFreeHost(readback_);
  if (sample_host_) cudaFreeHost(sample_host_);
  if (sample_device_) cudaFree(sample_device_);
  cudaStreamDestroy(as_stream(stream_));
  if (copy_stream_) cudaStreamDestroy(as_stream(copy_stream_));
}

std::string CudaBackend::name() const {
  const cuda::DeviceInfo& d = cuda::device_info();
  return "cuda (" + d.name + ", sm_" + std::to_string(d.major) + std::to_string(d.minor) + ")";
}

// --- memory

Tensor CudaBackend::alloc(std::vector<int64_t> shape, DType dtype) {
  const size_t bytes = static_cast<size_t>(numel_of(shape)) * dtype_size(dtype);
  auto buf = device_buffer(bytes);
  allocated_bytes_ += static_cast<int64_t>(bytes);
  void* p = buf.get();
  return Tensor::wrap(p, std::move(shape), dtype, std::move(buf), Device::kCuda);
}

void* CudaBackend::device_alloc(size_t bytes) {
  bytes = align_up(std::max<size_t>(bytes, 1));
  scratch_peak_ = std::max(scratch_peak_, arena_used_ + bytes);
  if (arena_used_ + bytes <= arena_bytes_) {
    void* p = arena_ + arena_used_;
    arena_used_ += bytes;
    return p;
  }
  // Past the arena: a chunk of its own for this step; the next begin_step grows the arena.
  SIEVE_CHECK_MSG(!capturing_, "scratch arena too small while capturing a CUDA graph");
  arena_used_ += bytes;
  void* p = nullptr;
  SIEVE_CUDA_CHECK(cudaMalloc(&p, bytes));
  overflow_.push_back(p);
  return p;
}

Tensor CudaBackend::scratch(std::vector<int64_t> shape, DType dtype) {
  void* p = device_alloc(static_cast<size_t>(numel_of(shape)) * dtype_size(dtype));
  return Tensor::wrap(p, std::move(shape), dtype, nullptr, Device::kCuda);
}

std::shared_ptr<Matrix> CudaBackend::make_matrix(const void* src, DType src_dtype, int64_t n,
                                                 int64_t k, MatrixFormat format) {
  SIEVE_CHECK_MSG(!format.quantized(), "the CUDA backend holds no quantized weights (holds())");
  const DType dtype = format.dtype;
  weight_type(dtype);  // checks the dtype
  auto m = std::make_shared<CudaMatrix>(n, k, dtype);
  allocated_bytes_ += static_cast<int64_t>(m->bytes());
  if (src_dtype == dtype) {
    // `src` may be device memory (a tied lm_head from the embedding table, perhaps just filled
    // on the stream): wait for the stream, and let UVA tell the direction.
    synchronize();
    SIEVE_CUDA_CHECK(cudaMemcpy(m->data(), src, m->bytes(), cudaMemcpyDefault));
  } else {
    const auto host = convert_on_host(src, src_dtype, n * k, dtype);
    SIEVE_CUDA_CHECK(cudaMemcpy(m->data(), host.data(), host.size(), cudaMemcpyHostToDevice));
  }
  return m;
}

std::shared_ptr<Matrix> CudaBackend::make_matrix_in_background(const void* src, DType src_dtype,
                                                               int64_t n, int64_t k,
                                                               MatrixFormat format) {
  SIEVE_CHECK_MSG(!format.quantized(), "the CUDA backend holds no quantized weights (holds())");
  const DType dtype = format.dtype;
  weight_type(dtype);                        // checks the dtype
  SIEVE_CUDA_CHECK(cudaSetDevice(device_));  // this thread may not have used the device yet
  cudaStream_t copy = nullptr;
  {
    std::lock_guard lock(copy_mu_);
    if (!copy_stream_) {
      SIEVE_CUDA_CHECK(cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking));
      copy_stream_ = copy;
    }
    copy = as_stream(copy_stream_);
  }
  auto m = std::make_shared<CudaMatrix>(n, k, dtype);
  allocated_bytes_ += static_cast<int64_t>(m->bytes());
  std::vector<uint8_t> converted;
  if (src_dtype != dtype) {
    converted = convert_on_host(src, src_dtype, n * k, dtype);
    src = converted.data();
  }
  // Neither stream waits for the other: the matrix is new, and nothing reads it until this
  // returns.
  SIEVE_CUDA_CHECK(cudaMemcpyAsync(m->data(), src, m->bytes(), cudaMemcpyHostToDevice, copy));
  SIEVE_CUDA_CHECK(cudaStreamSynchronize(copy));
  return m;
}

std::shared_ptr<Matrix> CudaBackend::make_stored_matrix(std::span<const StoredMatrix>, DType) {
  SIEVE_CHECK_MSG(false, "the CUDA backend holds no quantized weights (holds())");
  return nullptr;
}

Tensor CudaBackend::upload(const void* src, DType src_dtype, std::vector<int64_t> shape,
                           DType dtype) {
  Tensor t = alloc(shape, dtype);
  if (src_dtype == dtype) {
    SIEVE_CUDA_CHECK(cudaMemcpy(t.raw(), src, t.nbytes(), cudaMemcpyDefault));
  } else {
    const auto host = convert_on_host(src, src_dtype, t.numel(), dtype);
    SIEVE_CUDA_CHECK(cudaMemcpy(t.raw(), host.data(), host.size(), cudaMemcpyHostToDevice));
  }
  return t;
}

std::shared_ptr<Matrix> CudaBackend::make_filled_matrix(int64_t n, int64_t k,
                                                        std::span<const RowBlockFill> blocks,
                                                        MatrixFormat format) {
  SIEVE_CHECK_MSG(!format.quantized(), "the CUDA backend holds no quantized weights (holds())");
  const DType dtype = format.dtype;
  auto m = std::make_shared<CudaMatrix>(n, k, dtype);
  allocated_bytes_ += static_cast<int64_t>(m->bytes());
  int64_t row = 0;
  for (const RowBlockFill& b : blocks) {
    cuda::FillParams p;
    p.out = static_cast<char*>(m->data()) + static_cast<size_t>(row * k) * dtype_size(dtype);
    p.type = weight_type(dtype);
    p.n = b.rows * k;
    p.fill = kernels::FillSpec{b.fill.key, b.fill.constant, b.fill.bound};
    cuda::fill_weights(p, as_stream(stream_));
    row += b.rows;
  }
  SIEVE_CHECK_EQ(row, n);
  return m;
}

Tensor CudaBackend::make_filled(std::vector<int64_t> shape, const WeightFill& fill, DType dtype) {
  Tensor t = alloc(std::move(shape), dtype);
  cuda::FillParams p;
  p.out = t.raw();
  p.type = weight_type(dtype);
  p.n = t.numel();
  p.fill = kernels::FillSpec{fill.key, fill.constant, fill.bound};
  cuda::fill_weights(p, as_stream(stream_));
  return t;
}

void CudaBackend::fill_zero(Tensor& t) {
  SIEVE_CUDA_CHECK(cudaMemsetAsync(t.raw(), 0, t.nbytes(), as_stream(stream_)));
}

void CudaBackend::flush_readback() {
  synchronize();
  for (const HostCopy& c : pending_)
    std::memcpy(c.dst, readback_ + c.offset, c.bytes);
  pending_.clear();
  readback_used_ = 0;
}

void CudaBackend::copy_rows_to_host(const Tensor& src, int64_t begin, int64_t end, float* dst) {
  SIEVE_CHECK(src.dtype() == DType::kF32);
  const Tensor rows = src.rows(begin, end);
  const size_t bytes = rows.nbytes();
  if (bytes == 0) return;
  readback_needed_ = std::max(readback_needed_, align_up(readback_used_ + bytes));
  if (readback_used_ + bytes > readback_bytes_) {
    SIEVE_CHECK_MSG(!capturing_, "readback buffer too small while capturing a CUDA graph");
    flush_readback();
    if (bytes > readback_bytes_) {
      if (readback_) SIEVE_CUDA_CHECK(cudaFreeHost(readback_));
      readback_bytes_ = align_up(std::max(bytes, readback_needed_));
      SIEVE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&readback_), readback_bytes_));
      ++generation_;
    }
  }
  SIEVE_CUDA_CHECK(cudaMemcpyAsync(readback_ + readback_used_, rows.raw(), bytes,
                                   cudaMemcpyDeviceToHost, as_stream(stream_)));
  pending_.push_back({readback_used_, bytes, dst});
  readback_used_ = align_up(readback_used_ + bytes);
}

void CudaBackend::copy_to_host(const Tensor& src, void* dst) {
  SIEVE_CHECK_MSG(!capturing_, "copy_to_host synchronises: not allowed in a CUDA graph");
  synchronize();
  SIEVE_CUDA_CHECK(cudaMemcpy(dst, src.raw(), src.nbytes(), cudaMemcpyDeviceToHost));
}

void CudaBackend::copy_from_host(const void* src, Tensor& dst) {
  SIEVE_CHECK_MSG(!capturing_, "copy_from_host reads host memory now: not allowed in a CUDA graph");
  if (dst.nbytes() == 0) return;
  // From pageable memory this returns once `src` has been staged, so the caller may reuse it.
  SIEVE_CUDA_CHECK(
      cudaMemcpyAsync(dst.raw(), src, dst.nbytes(), cudaMemcpyHostToDevice, as_stream(stream_)));
}

void CudaBackend::synchronize() {
  SIEVE_CUDA_CHECK(cudaStreamSynchronize(as_stream(stream_)));
}

// --- steps

void CudaBackend::set_step_bounds(std::optional<std::pair<int64_t, int64_t>> bounds) {
  bounds_ = bounds;
}

void CudaBackend::settle_memory() {
  for (void* p : overflow_)
    SIEVE_CUDA_CHECK(cudaFree(p));
  overflow_.clear();
  if (scratch_peak_ > arena_bytes_) {
    SIEVE_CUDA_CHECK(cudaFree(arena_));
    arena_bytes_ = align_up(scratch_peak_ + scratch_peak_ / 4);
    SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&arena_), arena_bytes_));
    ++generation_;
  }
  if (readback_needed_ > readback_bytes_) {
    if (readback_) SIEVE_CUDA_CHECK(cudaFreeHost(readback_));
    readback_bytes_ = readback_needed_;
    SIEVE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&readback_), readback_bytes_));
    ++generation_;
  }
  if (staging_needed_ > staging_bytes_) {
    if (staging_host_) SIEVE_CUDA_CHECK(cudaFreeHost(staging_host_));
    if (staging_device_) SIEVE_CUDA_CHECK(cudaFree(staging_device_));
    staging_bytes_ = align_up(staging_needed_ + staging_needed_ / 4);
    SIEVE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&staging_host_), staging_bytes_));
    SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&staging_device_), staging_bytes_));
    ++generation_;
  }
}

void CudaBackend::reserve_for_capture() {
  synchronize();
  settle_memory();
}

// The batch's arrays back to back (each 256-byte aligned) in pinned memory; step_'s tensors
// point at the same offsets in the device copy.
void CudaBackend::pack_step_inputs(const ForwardBatch& b) {
  StepInputs& s = step_;
  s.num_tokens = b.num_tokens();
  s.num_seqs = b.num_seqs();
  s.max_blocks_per_seq = b.max_blocks_per_seq;
  struct Part {
    Tensor* tensor;
    const void* data;
    std::vector<int64_t> shape;
    DType dtype;
  };
  const Part parts[] = {
      {&s.token_ids, b.token_ids.data(), {s.num_tokens}, DType::kI32},
      {&s.positions, b.positions.data(), {s.num_tokens}, DType::kI32},
      {&s.slots, b.slots.data(), {s.num_tokens}, DType::kI64},
      {&s.query_start, b.query_start.data(), {s.num_seqs + 1}, DType::kI32},
      {&s.context_lens, b.context_lens.data(), {s.num_seqs}, DType::kI32},
      {&s.block_tables, b.block_tables.data(), {s.num_seqs, s.max_blocks_per_seq}, DType::kI32},
      {&s.logit_rows,
       b.logit_rows.data(),
       {static_cast<int64_t>(b.logit_rows.size())},
       DType::kI32},
  };
  size_t total = 0;
  for (const Part& p : parts)
    total += align_up(static_cast<size_t>(numel_of(p.shape)) * dtype_size(p.dtype));
  staging_needed_ = std::max(staging_needed_, total);
  if (total > staging_bytes_) {
    SIEVE_CHECK_MSG(!capturing_, "input staging too small while capturing a CUDA graph");
    settle_memory();
  }
  size_t offset = 0;
  for (const Part& p : parts) {
    const size_t bytes = static_cast<size_t>(numel_of(p.shape)) * dtype_size(p.dtype);
    if (bytes > 0) std::memcpy(staging_host_ + offset, p.data, bytes);
    *p.tensor = Tensor::wrap(staging_device_ + offset, p.shape, p.dtype, nullptr, Device::kCuda);
    offset += align_up(bytes);
  }
  staging_used_ = offset;
  if (bounds_) {
    s.max_query_len = bounds_->first;
    s.max_context_len = bounds_->second;
  } else {
    s.max_query_len = s.max_context_len = 0;
    for (int64_t i = 0; i < s.num_seqs; ++i) {
      s.max_query_len = std::max<int64_t>(s.max_query_len, b.query_start[i + 1] - b.query_start[i]);
      s.max_context_len = std::max<int64_t>(s.max_context_len, b.context_lens[i]);
    }
  }
}

const StepInputs& CudaBackend::begin_step(const ForwardBatch& batch) {
  // The current device is per host thread, and steps may run on another thread than the one
  // that made this backend (the serving loop's): keep them on this backend's GPU.
  SIEVE_CUDA_CHECK(cudaSetDevice(device_));
  if (!capturing_) {
    // The previous step ended with a synchronisation, so its scratch is free to reuse.
    settle_memory();
  }
  arena_used_ = 0;
  readback_used_ = 0;
  pending_.clear();
  pack_step_inputs(batch);
  if (staging_used_ > 0) {
    SIEVE_CUDA_CHECK(cudaMemcpyAsync(staging_device_, staging_host_, staging_used_,
                                     cudaMemcpyHostToDevice, as_stream(stream_)));
  }
  return step_;
}

void CudaBackend::begin_replay(const ForwardBatch& batch, size_t scratch_end) {
  SIEVE_CUDA_CHECK(cudaSetDevice(device_));
  pending_.clear();
  readback_used_ = 0;
  pack_step_inputs(batch);
  arena_used_ = scratch_end;
}

void CudaBackend::end_step() {
  if (capturing_) return;
  flush_readback();
}

// --- ops

void CudaBackend::embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  cuda::EmbeddingParams p;
  p.table = table.raw();
  p.table_type = weight_type(table.dtype());
  p.ids = ids.data<int32_t>();
  p.out = out.data<float>();
  p.tokens = ids.numel();
  p.vocab = table.dim(0);
  p.hidden = table.dim(1);
  SIEVE_CHECK_EQ(out.numel(), p.tokens * p.hidden);
  cuda::embedding(p, as_stream(stream_));
}

void CudaBackend::gather_rows(const Tensor& src, const Tensor& rows, Tensor& out) {
  SIEVE_CHECK(src.dtype() == DType::kF32);
  if (rows.numel() == 0) return;
  cuda::GatherRowsParams p;
  p.src = src.data<float>();
  p.rows = rows.data<int32_t>();
  p.out = out.data<float>();
  p.n = rows.numel();
  p.src_rows = src.dim(0);
  p.width = src.numel() / src.dim(0);
  SIEVE_CHECK_EQ(out.numel(), p.n * p.width);
  cuda::gather_rows(p, as_stream(stream_));
}

void CudaBackend::linear(const LinearCall& c) {
  const Matrix& w = *c.w;
  SIEVE_CHECK_EQ(c.x->dim(-1), w.k());
  SIEVE_CHECK_EQ(c.y->dim(-1), w.n());
  const int64_t m = c.x->numel() / w.k();
  SIEVE_CHECK_EQ(c.y->numel(), m * w.n());
  cuda::GemmParams p;
  p.w = cuda_matrix(w).data();
  p.y = const_cast<Tensor*>(c.y)->data<float>();
  p.m = m;
  p.n = w.n();
  p.k = w.k();
  p.type = weight_type(w.dtype());
  if (w.dtype() == DType::kBF16) {
    // The activations rounded to bf16 once, as the CPU's bf16 path does.
    Tensor xb = scratch({m, w.k()}, DType::kBF16);
    cuda::f32_to_bf16(c.x->data<float>(), xb.data<uint16_t>(), m * w.k(), as_stream(stream_));
    p.x = xb.raw();
  } else {
    p.x = c.x->raw();
  }
  gemm_->run(p, as_stream(stream_));
}

void CudaBackend::linear_many(std::span<const LinearCall> calls) {
  for (const LinearCall& c : calls)
    linear(c);
}

void CudaBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  cuda::RmsNormParams p;
  p.dim = w.numel();
  p.rows = x.numel() / p.dim;
  p.x = x.data<float>();
  p.w = w.data<float>();
  p.y = y.data<float>();
  p.eps = eps;
  cuda::rms_norm(p, as_stream(stream_));
}

void CudaBackend::add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                               Tensor& y) {
  cuda::AddRmsNormParams p;
  p.dim = w.numel();
  p.rows = residual.numel() / p.dim;
  p.residual = residual.data<float>();
  p.x = x.data<float>();
  p.w = w.data<float>();
  p.y = y.data<float>();
  p.eps = eps;
  cuda::add_rms_norm(p, as_stream(stream_));
}

const float* CudaBackend::inv_freq_on_device(const RopeConfig& rope) {
  auto it = inv_freq_.find(&rope);
  if (it == inv_freq_.end()) {
    SIEVE_CHECK_MSG(!capturing_, "rope tables must be uploaded before a CUDA graph is captured");
    auto buf = device_buffer(rope.inv_freq.size() * sizeof(float));
    SIEVE_CUDA_CHECK(cudaMemcpy(buf.get(), rope.inv_freq.data(),
                                rope.inv_freq.size() * sizeof(float), cudaMemcpyHostToDevice));
    it = inv_freq_.emplace(&rope, std::move(buf)).first;
  }
  return static_cast<const float*>(it->second.get());
}

void CudaBackend::rope(Tensor& x, int64_t heads, int64_t head_dim, const Tensor& positions,
                       const RopeConfig& rope) {
  cuda::RopeParams p;
  p.x = x.data<float>();
  p.positions = positions.data<int32_t>();
  p.inv_freq = inv_freq_on_device(rope);
  p.tokens = positions.numel();
  p.heads = heads;
  p.head_dim = head_dim;
  p.rotary_dim = rope.rotary_dim;
  p.ld_token = heads * head_dim;
  p.neox = rope.neox;
  p.attention_scaling = rope.attention_scaling;
  cuda::rope(p, as_stream(stream_));
}

void CudaBackend::silu_mul(const Tensor& gu, Tensor& out) {
  cuda::SiluMulParams p;
  p.inter = out.dim(-1);
  p.rows = out.numel() / p.inter;
  p.gu = gu.data<float>();
  p.out = out.data<float>();
  cuda::silu_mul(p, as_stream(stream_));
}

void CudaBackend::clamp(Tensor& x, float limit) {
  cuda::clamp(x.data<float>(), x.numel(), limit, as_stream(stream_));
}

void CudaBackend::add_bias(Tensor& y, const Tensor& bias) {
  const int64_t n = bias.numel();
  SIEVE_CHECK_EQ(y.dim(-1), n);
  cuda::add_bias(y.data<float>(), bias.data<float>(), y.numel() / n, n, as_stream(stream_));
}

void CudaBackend::router_topk(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids,
                              Tensor& weights) {
  cuda::RouterTopkParams p;
  p.logits = logits.data<float>();
  p.tokens = logits.dim(0);
  p.experts = logits.dim(1);
  p.k = k;
  p.renormalize = renormalize;
  p.ids = ids.data<int32_t>();
  p.weights = weights.data<float>();
  cuda::router_topk(p, as_stream(stream_));
}

Result<CudaBackend::MemoryInfo> CudaBackend::device_memory() const {
  MemoryInfo m;
  if (cudaMemGetInfo(&m.free_bytes, &m.total_bytes) != cudaSuccess) {
    return internal_error("cudaMemGetInfo failed");
  }
  return m;
}

void CudaBackend::write_kv(const Tensor& k, const Tensor& v, const StepInputs& step,
                           Tensor& k_cache, Tensor& v_cache) {
  cuda::KvWriteParams p;
  p.k = k.data<float>();
  p.v = v.data<float>();
  p.slots = step.slots.data<int64_t>();
  p.k_cache = k_cache.data<float>();
  p.v_cache = v_cache.data<float>();
  p.tokens = step.num_tokens;
  p.num_kv_heads = k_cache.dim(2);
  p.head_dim = k_cache.dim(3);
  cuda::kv_write(p, as_stream(stream_));
}

void CudaBackend::attention(const AttentionArgs& args) {
  const StepInputs& s = *args.step;
  cuda::PagedAttentionParams p;
  static_cast<kernels::PagedAttentionArgs&>(p) = args.kernel_args();
  p.max_query_len = s.max_query_len;
  p.max_context_len = s.max_context_len;
  p.workspace_bytes = cuda::paged_attention_workspace_bytes(p);
  p.workspace = p.workspace_bytes > 0 ? device_alloc(p.workspace_bytes) : nullptr;
  cuda::paged_attention(p, as_stream(stream_));
}

// --- sampling

// Inputs packed as [rows × cuda::RowSampling | prompt offsets | output offsets | prompt tokens |
// output tokens | sampled ids], each part 256-byte aligned, copied up in one transfer; the ids
// come back in one transfer too.
bool CudaBackend::sample(Tensor& logits, std::span<const SampleRow> rows, int32_t* ids) {
  SIEVE_CHECK(logits.dtype() == DType::kF32);
  const int64_t n = logits.dim(0), vocab = logits.dim(1);
  SIEVE_CHECK_EQ(n, static_cast<int64_t>(rows.size()));
  if (n == 0) return true;
  bool penalties = false;
  size_t prompt_total = 0, output_total = 0;
  for (const SampleRow& r : rows) {
    const kernels::RowSampling& q = r.params;
    if (q.presence_penalty != 0 || q.frequency_penalty != 0 || q.repetition_penalty != 1) {
      penalties = true;
    }
    prompt_total += r.prompt.size();
    output_total += r.output.size();
  }
  if (!penalties) prompt_total = output_total = 0;
  const size_t params_at = 0;
  const size_t poff_at = align_up(n * sizeof(cuda::RowSampling));
  const size_t ooff_at = poff_at + align_up((n + 1) * sizeof(int32_t));
  const size_t ptok_at = ooff_at + align_up((n + 1) * sizeof(int32_t));
  const size_t otok_at = ptok_at + align_up(prompt_total * sizeof(int32_t));
  const size_t ids_at = otok_at + align_up(output_total * sizeof(int32_t));
  const size_t total = ids_at + align_up(n * sizeof(int32_t));
  if (total > sample_bytes_) {
    synchronize();
    if (sample_host_) SIEVE_CUDA_CHECK(cudaFreeHost(sample_host_));
    if (sample_device_) SIEVE_CUDA_CHECK(cudaFree(sample_device_));
    sample_bytes_ = align_up(total + total / 2);
    SIEVE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&sample_host_), sample_bytes_));
    SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&sample_device_), sample_bytes_));
  }
  auto* params = reinterpret_cast<cuda::RowSampling*>(sample_host_ + params_at);
  auto* poff = reinterpret_cast<int32_t*>(sample_host_ + poff_at);
  auto* ooff = reinterpret_cast<int32_t*>(sample_host_ + ooff_at);
  auto* ptok = reinterpret_cast<int32_t*>(sample_host_ + ptok_at);
  auto* otok = reinterpret_cast<int32_t*>(sample_host_ + otok_at);
  poff[0] = ooff[0] = 0;
  for (int64_t i = 0; i < n; ++i) {
    const SampleRow& r = rows[i];
    params[i] = r.params;
    size_t np = 0, no = 0;
    if (penalties) {
      np = r.prompt.size();
      no = r.output.size();
      std::memcpy(ptok + poff[i], r.prompt.data(), np * sizeof(int32_t));
      std::memcpy(otok + ooff[i], r.output.data(), no * sizeof(int32_t));
    }
    poff[i + 1] = poff[i] + static_cast<int32_t>(np);
    ooff[i + 1] = ooff[i] + static_cast<int32_t>(no);
  }
  cudaStream_t stream = as_stream(stream_);
  SIEVE_CUDA_CHECK(
      cudaMemcpyAsync(sample_device_, sample_host_, ids_at, cudaMemcpyHostToDevice, stream));
  cuda::SampleParams p;
  p.logits = logits.data<float>();
  p.rows = n;
  p.vocab = vocab;
  p.row_params = reinterpret_cast<const cuda::RowSampling*>(sample_device_ + params_at);
  if (penalties) {
    p.prompt_tokens = reinterpret_cast<const int32_t*>(sample_device_ + ptok_at);
    p.prompt_offsets = reinterpret_cast<const int32_t*>(sample_device_ + poff_at);
    p.output_tokens = reinterpret_cast<const int32_t*>(sample_device_ + otok_at);
    p.output_offsets = reinterpret_cast<const int32_t*>(sample_device_ + ooff_at);
  }
  p.sampled = reinterpret_cast<int32_t*>(sample_device_ + ids_at);
  p.workspace_bytes = cuda::sample_workspace_bytes(n, vocab);
  p.workspace = device_alloc(p.workspace_bytes);
  cuda::sample(p, stream);
  SIEVE_CUDA_CHECK(cudaMemcpyAsync(sample_host_ + ids_at, p.sampled, n * sizeof(int32_t),
                                   cudaMemcpyDeviceToHost, stream));
  flush_readback();  // the step's one synchronisation
  std::memcpy(ids, sample_host_ + ids_at, n * sizeof(int32_t));
  return true;
}

}  // namespace sieve
