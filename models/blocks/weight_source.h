// Where a model's weights come from while it loads: a checkpoint (CheckpointSource), or fills
// made on the backend for --load-format dummy (FilledSource). Blocks ask for their tensors by
// name and do not know which; the source keeps the bookkeeping both share: bytes held by the
// model and load progress.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/weight_fill.h"
#include "engine/experts/expert_source.h"
#include "models/blocks/expert_sources.h"

namespace sieve {

struct LoadProgress {
  std::function<void(uint64_t done_bytes, uint64_t total_bytes)> on_progress;
};

// Bytes a tensor of `shape` takes held as a model holds it: matrices and tables at
// `weight_dtype`, vectors (norms) in fp32.
uint64_t held_bytes(const std::vector<int64_t>& shape, DType weight_dtype);

// One routed expert's tensors: gate_up stacked from `gate_up` along the output dimension (gate
// rows, then up rows), and `down`.
struct ExpertTensorNames {
  std::vector<std::string> gate_up;
  std::string down;
};

// The routed experts of one MoE layer: names[e] are expert e's tensors, of `hidden` and
// `intermediate` features.
struct LayerExpertNames {
  std::vector<ExpertTensorNames> names;
  int64_t hidden = 0, intermediate = 0;
};

// The routed experts of one MoE layer stored stacked, one tensor per projection holding every
// expert along its first dimension, as gpt-oss ships them: `gate_up` [experts, hidden,
// 2 · inter] with gate and up interleaved in even and odd columns, `down` [experts, inter,
// hidden] (both multiplied as x @ W), and the biases `gate_up_bias` [experts, 2 · inter]
// (interleaved alike) and `down_bias` [experts, hidden].
struct StackedExpertNames {
  std::string gate_up, down, gate_up_bias, down_bias;
  int64_t num_experts = 0, hidden = 0, intermediate = 0;
};

// What a matrix is for, which decides whether --quantization applies to it: routed experts
// and dense projections each as the WeightFormat says, routers never (their logits pick the
// experts, and they are a sliver of the bytes).
enum class MatrixRole : uint8_t { kDense, kRoutedExpert, kRouter };

// The quantized format `parts` stay in as the checkpoint stores them: their common format (FP8
// block-scaled or MXFP4) when `be` holds it and `requested` (--quantization for their role)
// asks for nothing or the same; kNone when they are to be dequantized (plain parts, mixed
// formats, stacks of several matrices, another format asked for).
QuantFormat stored_format_to_keep(std::span<const StoredMatrix> parts, QuantFormat requested,
                                  const Backend& be);

class WeightSource {
 public:
  virtual ~WeightSource() = default;

  // A norm weight or other small vector, in fp32.
  virtual Result<Tensor> vector(const std::string& name) = 0;
  // The embedding table, stored at the weight dtype.
  virtual Result<Tensor> table(const std::string& name) = 0;
  // One matrix, or several stacked along the output dimension (gate then up).
  virtual Result<std::shared_ptr<Matrix>> matrix(std::initializer_list<std::string> names,
                                                 MatrixRole role = MatrixRole::kDense) = 0;
  // Tensors another process holds: not read, only counted as done.
  virtual Status skip(std::initializer_list<std::string> names) = 0;
  // A layer's experts as an ExpertSource that makes any of them, on any backend, while the model
  // loads and after (engine/experts/expert_source.h); it keeps what it reads alive (the mapped
  // files, the fills), not this WeightSource. Reads nothing and counts nothing as loaded.
  virtual Result<std::shared_ptr<const ExpertSource>> experts(const LayerExpertNames& layer) = 0;
  // The same for experts stored stacked.
  virtual Result<std::shared_ptr<const ExpertSource>> stacked_experts(
      const StackedExpertNames& layer) = 0;

  // An expert made from one of those sources by a block that holds it: counted as held (the
  // bytes come in through skip() of the stacked tensors).
  Result<ExpertMatrices> held_expert(const ExpertSource& source, int64_t expert);

  // The lm_head of a model with tied embeddings: the embedding table again, as a matrix (a
  // dense projection).
  std::shared_ptr<Matrix> matrix_from_table(const Tensor& table);

  // Bytes of weights handed out so far (what the model holds on the backend).
  int64_t held_weight_bytes() const { return held_; }

 protected:
  WeightSource(Backend& be, WeightFormat format, const LoadProgress& progress, uint64_t total_bytes)
      : be_(be), dtype_(format.dtype), format_(format), progress_(progress), total_(total_bytes) {}

  MatrixFormat format_of(MatrixRole role) const {
    switch (role) {
      case MatrixRole::kDense:
        return format_.dense_matrix();
      case MatrixRole::kRoutedExpert:
        return format_.expert_matrix();
      case MatrixRole::kRouter:
        break;
    }
    return dtype_;
  }

  Tensor held(Tensor t) {
    held_ += static_cast<int64_t>(t.nbytes());
    return t;
  }
  std::shared_ptr<Matrix> held(std::shared_ptr<Matrix> m) {
    held_ += static_cast<int64_t>(m->bytes());
    return m;
  }
  void advance(uint64_t bytes) {
    done_ += bytes;
    if (progress_.on_progress) progress_.on_progress(done_, total_);
  }

  Backend& be_;
  DType dtype_;
  WeightFormat format_;

 private:
  const LoadProgress& progress_;
  uint64_t done_ = 0, total_ = 0;
  int64_t held_ = 0;
};

// Reads tensors from a checkpoint already validated against the model's declared tensors into
// host buffers and hands them to the backend; progress counts the checkpoint's bytes.
class CheckpointSource final : public WeightSource {
 public:
  CheckpointSource(const Checkpoint& ckpt, Backend& be, WeightFormat format,
                   const LoadProgress& progress)
      : WeightSource(be, format, progress, ckpt.total_bytes()), ckpt_(ckpt) {}

  Result<Tensor> vector(const std::string& name) override;
  Result<Tensor> table(const std::string& name) override;
  Result<std::shared_ptr<Matrix>> matrix(std::initializer_list<std::string> names,
                                         MatrixRole role) override;
  Status skip(std::initializer_list<std::string> names) override;
  Result<std::shared_ptr<const ExpertSource>> experts(const LayerExpertNames& layer) override;
  Result<std::shared_ptr<const ExpertSource>> stacked_experts(
      const StackedExpertNames& layer) override;

 private:
  // A stored tensor with the files that own its bytes.
  Result<MappedTensor> mapped(const std::string& name);
  // matrix() without naming the tensor in a packer's error.
  Result<std::shared_ptr<Matrix>> make(std::initializer_list<std::string> names, MatrixRole role);
  Result<const CheckpointTensor*> lookup(const std::string& name);
  void advance_past(const CheckpointTensor* t) { advance(t->entry->end - t->entry->begin); }

  const Checkpoint& ckpt_;
  std::vector<uint8_t> host_;
};

// A tensor made on the backend from its fill, for --load-format dummy.
struct FilledTensor {
  std::string name;
  std::vector<int64_t> shape;
  WeightFill fill;
  // Non-empty: a matrix filled block of rows by block of rows instead (a skewed router's rows,
  // models/router_skew.h), element indices counted from each block's first element.
  std::vector<RowBlockFill> row_blocks;
};

// --load-format dummy: every tensor made on the backend from its fill (models/random_init.h);
// progress counts the bytes the model will hold.
class FilledSource final : public WeightSource {
 public:
  FilledSource(const std::vector<FilledTensor>& tensors, Backend& be, WeightFormat format,
               const LoadProgress& progress);

  Result<Tensor> vector(const std::string& name) override;
  Result<Tensor> table(const std::string& name) override;
  Result<std::shared_ptr<Matrix>> matrix(std::initializer_list<std::string> names,
                                         MatrixRole role) override;
  Status skip(std::initializer_list<std::string> names) override;
  Result<std::shared_ptr<const ExpertSource>> experts(const LayerExpertNames& layer) override;
  Result<std::shared_ptr<const ExpertSource>> stacked_experts(
      const StackedExpertNames& layer) override;

 private:
  struct Entry {
    std::vector<int64_t> shape;
    WeightFill fill;
    std::vector<RowBlockFill> row_blocks;
  };
  Result<const Entry*> lookup(const std::string& name);

  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace sieve
