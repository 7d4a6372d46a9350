// A loaded model ready to run steps on a backend. Families in models/ build it; the engine
// (engine/engine.h) drives it one step at a time. It lives beside the backends because CUDA
// graphs (cuda_graph_model.h) wrap it.
#pragma once

#include "engine/backends/forward_batch.h"
#include "engine/backends/kv_cache.h"
#include "engine/base/status.h"
#include "engine/base/tensor.h"
#include "engine/checkpoint/model_config.h"

namespace sieve {

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // Bytes of weights held on the backend.
  virtual int64_t weight_bytes() const = 0;
  // What each layer keeps per token in the paged KV cache, as the model's attention blocks
  // declare it; the KV cache is allocated to it. By default K and V of [kv_heads, head_dim] on
  // every layer (grouped-query attention).
  virtual KvLayout kv_layout() const { return default_kv_layout(config()); }
  // Runs one step: writes the new tokens' K/V into `kv` and returns the logits of
  // batch.logit_rows on the backend ([logit_rows.size(), vocab] fp32; valid until the next
  // step, undefined when there are no rows). The step's work may still be running: the
  // backend's next synchronising call (a host copy, end_step, sample) waits for it.
  // `trace` may be null.
  virtual Tensor forward_logits(const ForwardBatch& batch, KvCache& kv, ForwardTrace* trace) = 0;
  // forward_logits, then the logits copied into `logits` (host fp32, [logit_rows.size(),
  // vocab]).
  virtual void forward(const ForwardBatch& batch, KvCache& kv, float* logits,
                       ForwardTrace* trace) = 0;
};

}  // namespace sieve
