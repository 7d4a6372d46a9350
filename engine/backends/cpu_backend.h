// The CPU backend: host memory, kernels/cpu with runtime ISA dispatch, one thread pool.
#pragma once

#include <memory>

#include "engine/backends/backend.h"
#include "kernels/cpu/thread_pool.h"

namespace sieve::kernels {
enum class ElemType : uint8_t;
struct PackedMatrix;
}  // namespace sieve::kernels

namespace sieve {

// The kernels' element type that holds a quantized format (kNone has none: checked).
kernels::ElemType cpu_elem_type(QuantFormat q);

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int num_threads);
  std::string name() const override;
  Device device() const override { return Device::kCpu; }
  kernels::ThreadPool* pool() { return pool_.get(); }
  int threads() const { return pool_->size(); }
  // The instruction set the kernels dispatched to on this CPU ("avx512", "avx2", "scalar").
  const char* isa() const;

  Tensor alloc(std::vector<int64_t> shape, DType dtype) override;
  Tensor scratch(std::vector<int64_t> shape, DType dtype) override { return alloc(shape, dtype); }
  const StepInputs& begin_step(const ForwardBatch& batch) override;
  void end_step() override {}
  // Every quantized format: the kernels keep them quantized and dequantize in registers.
  bool holds(QuantFormat q) const override;
  std::shared_ptr<Matrix> make_matrix(const void* src, DType src_dtype, int64_t n, int64_t k,
                                      MatrixFormat format) override;
  std::shared_ptr<Matrix> make_stored_matrix(std::span<const StoredMatrix> parts,
                                             DType dtype) override;
  std::shared_ptr<Matrix> make_matrix_in_background(const void* src, DType src_dtype, int64_t n,
                                                    int64_t k, MatrixFormat format) override;
  Tensor upload(const void* src, DType src_dtype, std::vector<int64_t> shape, DType dtype) override;
  std::shared_ptr<Matrix> make_filled_matrix(int64_t n, int64_t k,
                                             std::span<const RowBlockFill> blocks,
                                             MatrixFormat format) override;
  Tensor make_filled(std::vector<int64_t> shape, const WeightFill& fill, DType dtype) override;
  void fill_zero(Tensor& t) override;
  void copy_rows_to_host(const Tensor& src, int64_t begin, int64_t end, float* dst) override;
  void copy_to_host(const Tensor& src, void* dst) override;
  void copy_from_host(const void* src, Tensor& dst) override;

  void embedding(const Tensor& table, const Tensor& ids, Tensor& out) override;
  void gather_rows(const Tensor& src, const Tensor& rows, Tensor& out) override;
  void linear(const LinearCall& call) override;
  void linear_many(std::span<const LinearCall> calls) override;
  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override;
  void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                    Tensor& y) override;
  void rope(Tensor& x, int64_t heads, int64_t head_dim, const Tensor& positions,
            const RopeConfig& rope) override;
  void silu_mul(const Tensor& gu, Tensor& out) override;
  void clamp(Tensor& x, float limit) override;
  void add_bias(Tensor& y, const Tensor& bias) override;
  void router_topk(const Tensor& logits, int64_t k, bool renormalize, Tensor& ids,
                   Tensor& weights) override;
  void moe_experts(const MoeArgs& args) override;
  void combine_rows(const Tensor& src, const Tensor& rows, const Tensor& weights,
                    Tensor& out) override;
  void write_kv(const Tensor& k, const Tensor& v, const StepInputs& step, Tensor& k_cache,
                Tensor& v_cache) override;
  void attention(const AttentionArgs& args) override;

 private:
  // make_matrix's work; `on_pool`: quantizing may use the pool (make_matrix, on the thread that
  // runs steps), else it runs on the calling thread and leaves the pool to the steps (a
  // background copy).
  std::shared_ptr<Matrix> pack(const void* src, DType src_dtype, int64_t n, int64_t k,
                               MatrixFormat format, bool on_pool);
  // quantize_matrix with the rows split over the pool.
  kernels::PackedMatrix quantize_on_pool(const void* src, DType src_dtype, int64_t n, int64_t k,
                                         QuantFormat q);
  // moe_experts: rows [offsets[e], offsets[e + 1]) of y += bias[e].
  void add_group_bias(const std::vector<Tensor>& bias, const std::vector<int32_t>& offsets,
                      Tensor& y);

  std::unique_ptr<kernels::ThreadPool> pool_;
  StepInputs step_;
};

}  // namespace sieve
