// Decode steps as CUDA graphs. A step where every sequence brings exactly one new token (and
// no trace is asked for) is padded to a batch-size bucket and replayed from a graph captured
// once per bucket, from the input upload to the logits: the only host work is packing the
// inputs. Every other step (prefill, mixed, traced, larger than the largest bucket) runs
// eagerly.
//
// Padding rows are sequences with a context of 0 tokens and slot -1: attention and the KV
// write skip them, the rest of the model computes on them harmlessly, and their logits are
// never copied out. Grids are sized by fixed bounds (1 query token, max_model_len context),
// so one graph serves every context length. A graph is captured again if the backend had to
// reallocate memory it points into.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "engine/backends/cuda_backend.h"
#include "engine/backends/model.h"

namespace sieve {

struct CudaGraphOptions {
  std::vector<int64_t> buckets = {1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256};
  int64_t max_model_len = 0;  // the context bound every graph is captured for
  int64_t block_size = 16;
};

class CudaGraphModel final : public Model {
 public:
  CudaGraphModel(std::unique_ptr<Model> inner, CudaBackend& backend, CudaGraphOptions options);
  ~CudaGraphModel() override;

  const ModelConfig& config() const override { return inner_->config(); }
  int64_t weight_bytes() const override { return inner_->weight_bytes(); }
  KvLayout kv_layout() const override { return inner_->kv_layout(); }
  Tensor forward_logits(const ForwardBatch& batch, KvCache& kv, ForwardTrace* trace) override;
  void forward(const ForwardBatch& batch, KvCache& kv, float* logits, ForwardTrace* trace) override;

  // Steps replayed from a graph and graphs captured so far (for logs and tests).
  int64_t replays() const { return replays_; }
  int64_t captures() const { return captures_; }

 private:
  struct Graph;
  ForwardBatch padded(const ForwardBatch& batch, int64_t bucket) const;
  Graph& graph_for(int64_t bucket, const ForwardBatch& padded, KvCache& kv);

  std::unique_ptr<Model> inner_;
  CudaBackend& be_;
  CudaGraphOptions options_;
  int64_t max_blocks_ = 0;
  std::map<int64_t, std::unique_ptr<Graph>> graphs_;
  int64_t replays_ = 0, captures_ = 0;
};

}  // namespace sieve
