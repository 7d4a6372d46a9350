#include "engine/backends/cuda_graph_model.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>

#include "kernels/cuda/cuda_check.h"

namespace sieve {

struct CudaGraphModel::Graph {
  cudaGraphExec_t exec = nullptr;
  uint64_t generation = 0;
  const KvCache* kv = nullptr;
  Tensor logits;           // [bucket, vocab] in the scratch arena, where every replay leaves them
  size_t scratch_end = 0;  // arena bytes the captured step uses
  ~Graph() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

CudaGraphModel::CudaGraphModel(std::unique_ptr<Model> inner, CudaBackend& backend,
                               CudaGraphOptions options)
    : inner_(std::move(inner)), be_(backend), options_(std::move(options)) {
  std::sort(options_.buckets.begin(), options_.buckets.end());
  SIEVE_CHECK_GT(options_.max_model_len, 0);
  max_blocks_ = (options_.max_model_len + options_.block_size - 1) / options_.block_size;
}

CudaGraphModel::~CudaGraphModel() = default;

ForwardBatch CudaGraphModel::padded(const ForwardBatch& b, int64_t bucket) const {
  const int64_t n = b.num_seqs();
  ForwardBatch p;
  p.max_blocks_per_seq = max_blocks_;
  p.token_ids = b.token_ids;
  p.positions = b.positions;
  p.slots = b.slots;
  p.context_lens = b.context_lens;
  p.token_ids.resize(bucket, 0);
  p.positions.resize(bucket, 0);
  p.slots.resize(bucket, -1);
  p.context_lens.resize(bucket, 0);
  p.query_start.resize(bucket + 1);
  for (int64_t i = 0; i <= bucket; ++i)
    p.query_start[i] = static_cast<int32_t>(i);
  p.block_tables.assign(bucket * max_blocks_, 0);
  for (int64_t s = 0; s < n; ++s) {
    std::copy_n(b.block_tables.begin() + s * b.max_blocks_per_seq, b.max_blocks_per_seq,
                p.block_tables.begin() + s * max_blocks_);
  }
  // Every row's logits, so the captured lm_head has the bucket's shape; only the first n are
  // copied out.
  p.logit_rows.resize(bucket);
  for (int64_t i = 0; i < bucket; ++i)
    p.logit_rows[i] = static_cast<int32_t>(i);
  return p;
}

CudaGraphModel::Graph& CudaGraphModel::graph_for(int64_t bucket, const ForwardBatch& p,
                                                 KvCache& kv) {
  auto& slot = graphs_[bucket];
  if (slot && slot->generation == be_.memory_generation() && slot->kv == &kv) return *slot;
  slot.reset();
  be_.set_step_bounds(std::make_pair(int64_t{1}, options_.max_model_len));
  // One eager run at the bucket's shapes sizes every buffer and uploads every table the step
  // uses (cuBLASLt plans, rope tables, expert pointer arrays, kernel attributes); the capture
  // that follows then allocates nothing. The eager run writes the real rows' K/V, which the
  // replay writes again with the same values.
  inner_->forward_logits(p, kv, nullptr);
  be_.end_step();
  be_.reserve_for_capture();
  auto g = std::make_unique<Graph>();
  cudaStream_t stream = static_cast<cudaStream_t>(be_.stream());
  cudaGraph_t graph = nullptr;
  be_.set_capturing(true);
  SIEVE_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  g->logits = inner_->forward_logits(p, kv, nullptr);
  g->scratch_end = be_.scratch_used();
  SIEVE_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  be_.set_capturing(false);
  be_.set_step_bounds(std::nullopt);
  SIEVE_CUDA_CHECK(cudaGraphInstantiate(&g->exec, graph, 0));
  SIEVE_CUDA_CHECK(cudaGraphDestroy(graph));
  g->generation = be_.memory_generation();
  g->kv = &kv;
  ++captures_;
  slot = std::move(g);
  return *slot;
}

Tensor CudaGraphModel::forward_logits(const ForwardBatch& batch, KvCache& kv, ForwardTrace* trace) {
  const int64_t n = batch.num_seqs();
  bool graphable = !trace && n > 0 && batch.num_tokens() == n &&
                   static_cast<int64_t>(batch.logit_rows.size()) == n &&
                   batch.max_blocks_per_seq <= max_blocks_;
  for (int64_t i = 0; graphable && i < n; ++i) {
    graphable = batch.logit_rows[i] == i;  // rows in order: the shape graphs are made for
  }
  auto bucket_it = std::lower_bound(options_.buckets.begin(), options_.buckets.end(), n);
  if (!graphable || bucket_it == options_.buckets.end()) {
    return inner_->forward_logits(batch, kv, trace);
  }
  const int64_t bucket = *bucket_it;
  const ForwardBatch p = padded(batch, bucket);
  be_.settle_memory();  // before the generation check: a buffer that moves now means recapture
  Graph& g = graph_for(bucket, p, kv);
  // Replay: new inputs into the pinned staging the graph's first copy reads, then launch; the
  // caller's next synchronising call waits for it.
  be_.set_step_bounds(std::make_pair(int64_t{1}, options_.max_model_len));
  be_.begin_replay(p, g.scratch_end);
  be_.set_step_bounds(std::nullopt);
  SIEVE_CUDA_CHECK(cudaGraphLaunch(g.exec, static_cast<cudaStream_t>(be_.stream())));
  ++replays_;
  return g.logits.rows(0, n);
}

void CudaGraphModel::forward(const ForwardBatch& batch, KvCache& kv, float* logits,
                             ForwardTrace* trace) {
  Tensor out = forward_logits(batch, kv, trace);
  if (out.defined() && out.dim(0) > 0) be_.copy_rows_to_host(out, 0, out.dim(0), logits);
  be_.end_step();
}

}  // namespace sieve
