// The CUDA backend: weights, KV pages and activations in device memory; cuBLASLt for dense
// GEMMs and kernels/cuda for everything else, all on one stream. Built only when the CUDA
// toolkit is found (SIEVE_HAVE_CUDA); constructing it needs a device.
//
// Memory: alloc() is a cudaMalloc per tensor (weights, the KV cache); scratch() bumps a pointer
// in one arena reset by begin_step(), so a step's activations land at the same addresses every
// time the same shapes run — which is what lets cuda_graph_model.h replay captured steps.
// Step inputs go host → pinned staging → device in one copy; logits come back through a pinned
// buffer that end_step() copies out after the only synchronisation of the step.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/base/status.h"

namespace sieve {
namespace cuda {
class LtGemm;
class MoeKernelRegistry;
struct MoeParams;
struct MoeShape;
}  // namespace cuda

struct CudaBackendOptions {
  // Bytes reserved up front for step activations (grown when a step needs more).
  size_t initial_scratch_bytes = size_t{256} << 20;
};

// Which MoE expert-product kernel runs each shape (kernels/cuda/moe_registry.h): the built-in
// rule, unless `autotune` times every variant the first time a (shape, token bucket) runs
// eagerly and keeps the fastest; `cache_path` (optional) is read at start and rewritten as new
// choices are found, so a second start on the same GPU tunes nothing.
struct MoeTuningOptions {
  bool autotune = false;
  std::string cache_path;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaBackendOptions& options = {});
  ~CudaBackend() override;
  std::string name() const override;
  Device device() const override { return Device::kCuda; }

  Tensor alloc(std::vector<int64_t> shape, DType dtype) override;
  Tensor scratch(std::vector<int64_t> shape, DType dtype) override;
  std::shared_ptr<Matrix> make_matrix(const void* src, DType src_dtype, int64_t n, int64_t k,
                                      MatrixFormat format) override;
  // On a copy stream of its own (made on first use), from any thread.
  std::shared_ptr<Matrix> make_matrix_in_background(const void* src, DType src_dtype, int64_t n,
                                                    int64_t k, MatrixFormat format) override;
  std::shared_ptr<Matrix> make_stored_matrix(std::span<const StoredMatrix> parts,
                                             DType dtype) override;
  Tensor upload(const void* src, DType src_dtype, std::vector<int64_t> shape, DType dtype) override;
  std::shared_ptr<Matrix> make_filled_matrix(int64_t n, int64_t k,
                                             std::span<const RowBlockFill> blocks,
                                             MatrixFormat format) override;
  Tensor make_filled(std::vector<int64_t> shape, const WeightFill& fill, DType dtype) override;
  void fill_zero(Tensor& t) override;
  void copy_rows_to_host(const Tensor& src, int64_t begin, int64_t end, float* dst) override;
  void copy_to_host(const Tensor& src, void* dst) override;
  void copy_from_host(const void* src, Tensor& dst) override;

  const StepInputs& begin_step(const ForwardBatch& batch) override;
  void end_step() override;

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
  bool sample(Tensor& logits, std::span<const SampleRow> rows, int32_t* ids) override;

  // --- for CUDA graphs (engine/backends/cuda_graph_model.h)
  void* stream() const { return stream_; }  // cudaStream_t
  // Fixed grid bounds for the steps that follow (a graph's steps), or none: from each batch.
  void set_step_bounds(std::optional<std::pair<int64_t, int64_t>> query_and_context);
  // Between steps: frees the last step's overflow scratch and grows the arena and staging
  // buffers to what earlier steps needed (bumping memory_generation when anything moves).
  void settle_memory();
  // Waits for the stream, then settle_memory(): a capture that follows allocates nothing.
  void reserve_for_capture();
  // Bumped whenever a buffer a captured graph may point into is reallocated.
  uint64_t memory_generation() const { return generation_; }
  // While capturing, begin_step only packs inputs and enqueues their upload, and allocates
  // nothing. A replay starts with begin_replay: the new inputs packed into the pinned staging
  // the captured upload reads, and the scratch the captured step uses marked taken (up to
  // `scratch_end`, as scratch_used() read at the end of the capture); then the graph launches.
  void set_capturing(bool capturing) { capturing_ = capturing; }
  void begin_replay(const ForwardBatch& batch, size_t scratch_end);
  size_t scratch_used() const { return arena_used_; }
  // Waits for all work on the stream.
  void synchronize() override;
  // Reads the tuning cache (a malformed file is an error; another GPU's is ignored, logged).
  Status set_moe_tuning(const MoeTuningOptions& options);
  // Bytes of device memory in use by this process's allocations through alloc().
  int64_t allocated_bytes() const { return allocated_bytes_; }
  // Peak scratch one step needed so far.
  size_t scratch_peak() const { return scratch_peak_; }
  // The device's memory: free now and in all (cudaMemGetInfo).
  struct MemoryInfo {
    size_t free_bytes = 0, total_bytes = 0;
  };
  Result<MemoryInfo> device_memory() const;

 private:
  void* device_alloc(size_t bytes);
  void flush_readback();
  void pack_step_inputs(const ForwardBatch& batch);
  const void* expert_pointers(const std::vector<std::shared_ptr<Matrix>>& m);
  // The same for an experts' bias tensors (null when there are none).
  const void* bias_pointers(const std::vector<Tensor>& biases);
  // A device array holding `host`, kept under `key` and made again when `host` changes.
  const void* pointer_table(const void* key, std::vector<const void*> host);
  void tune_moe(const cuda::MoeParams& p, const cuda::MoeShape& shape);
  const float* inv_freq_on_device(const RopeConfig& rope);

  int device_ = 0;          // the GPU current when the backend was made
  void* stream_ = nullptr;  // cudaStream_t
  std::unique_ptr<cuda::LtGemm> gemm_;
  std::unique_ptr<cuda::MoeKernelRegistry> moe_registry_;
  MoeTuningOptions moe_tuning_;
  // Scratch: [arena_, arena_ + arena_bytes_) bumped by scratch(); overflow chunks when a step
  // needs more (freed at the next begin_step, which then grows the arena).
  char* arena_ = nullptr;
  size_t arena_bytes_ = 0, arena_used_ = 0, scratch_peak_ = 0;
  std::vector<void*> overflow_;
  // Step inputs: pinned staging and its device copy, same layout.
  char* staging_host_ = nullptr;
  char* staging_device_ = nullptr;
  size_t staging_bytes_ = 0, staging_needed_ = 0, staging_used_ = 0;
  // Readback: pinned, filled by copy_rows_to_host, copied out by end_step.
  char* readback_ = nullptr;
  size_t readback_bytes_ = 0, readback_used_ = 0, readback_needed_ = 0;
  struct HostCopy {
    size_t offset = 0;  // in the pinned readback buffer
    size_t bytes = 0;
    void* dst = nullptr;
  };
  std::vector<HostCopy> pending_;
  StepInputs step_;
  std::optional<std::pair<int64_t, int64_t>> bounds_;
  bool capturing_ = false;
  uint64_t generation_ = 0;
  std::atomic<int64_t> allocated_bytes_{0};  // background copies add to it from their thread
  // Background weight copies (make_matrix_in_background): their stream, made on first use.
  std::mutex copy_mu_;
  void* copy_stream_ = nullptr;  // cudaStream_t
  // Sampling inputs (row parameters, penalty token lists) and the sampled ids: pinned, with a
  // device copy of the inputs.
  char* sample_host_ = nullptr;
  char* sample_device_ = nullptr;
  size_t sample_bytes_ = 0;
  // ExpertWeights vector → the device array of its pointers, and the pointers it was made
  // from: a vector whose experts change (the hybrid executor's device tier) gets a new array.
  struct ExpertTable {
    std::vector<const void*> host;
    std::shared_ptr<void> device;
  };
  std::map<const void*, ExpertTable> expert_ptrs_;
  std::map<const void*, std::shared_ptr<void>> inv_freq_;  // RopeConfig → device copy
};

}  // namespace sieve
