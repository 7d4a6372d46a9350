// The seams a decoder is built from. A block is one job of a layer — attention, a router, the
// routed experts, a dense MLP — that knows its own weights: it declares them (names, shapes,
// roles; in checkpoint order), loads them from a WeightSource, and runs its forward on the
// Backend. A family's recipe (models/family.h) picks blocks and fills their option structs; the
// decoder skeleton (decoder.h) runs whatever it was given. A new variant (another attention,
// another router, experts with biases) is a new implementation of one of these interfaces, not a
// switch in the skeleton.
#pragma once

#include <cstdint>

#include "engine/backends/backend.h"
#include "engine/backends/forward_batch.h"
#include "engine/backends/kv_cache.h"
#include "engine/base/status.h"
#include "engine/experts/moe_executor.h"
#include "models/blocks/declared_tensor.h"
#include "models/blocks/weight_source.h"

namespace sieve {

// What a block's forward uses besides its input and output.
struct LayerCall {
  Backend& be;
  const StepInputs& step;
  KvCache& kv;
  int64_t layer;
  MoeExecutor& moe;     // runs the layer's routed experts
  ForwardTrace* trace;  // null, or where MoE layers record their routing
};

// What a block's load uses.
struct LoadContext {
  WeightSource& weights;
  // Which routed experts this process loads itself (holds), and where all of them come from
  // (adopt_experts: an executor that decides where experts live makes its own copies).
  MoeExecutor& moe;
  int64_t layer = 0;  // the layer being loaded
};

class Block {
 public:
  virtual ~Block() = default;
  // Appends this block's tensors to `out`, in the order load() takes them.
  virtual void declare(TensorList& out) const = 0;
  // Takes its weights from ctx.weights.
  virtual Status load(const LoadContext& ctx) = 0;
};

// Self-attention over the layer's paged KV cache.
class AttentionBlock : public Block {
 public:
  // What one token leaves in this layer's cache (the KV cache is allocated to it).
  virtual KvLayerLayout kv_layout() const = 0;
  // out [tokens, hidden] = attention of x [tokens, hidden] (normed) over the step's sequences;
  // writes the step's tokens into the layer's pages first.
  virtual void forward(const LayerCall& call, const Tensor& x, Tensor& out) = 0;
};

// The second half of a layer: a MoE block or a dense MLP.
class FeedForwardBlock : public Block {
 public:
  // out [tokens, hidden] from x [tokens, hidden] (normed).
  virtual void forward(const LayerCall& call, const Tensor& x, Tensor& out) = 0;
};

// A router's decision for a step's tokens.
struct Routing {
  Tensor ids;      // [tokens, top_k] int32: expert numbers, in the router's order
  Tensor weights;  // [tokens, top_k] fp32: what each chosen expert's output is multiplied by
};

// Picks each token's experts.
class RouterBlock : public Block {
 public:
  virtual int64_t top_k() const = 0;
  // x [tokens, hidden] (normed) → the chosen experts and their weights.
  virtual Routing route(const LayerCall& call, const Tensor& x) = 0;
};

// The routed experts of a MoE layer: out = Σ_j weights[t, j] · expert_{ids[t, j]}(x[t]), run
// through the layer's MoeExecutor (which decides where each expert runs).
class ExpertsBlock : public Block {
 public:
  // x, out [tokens, hidden].
  virtual void forward(const LayerCall& call, const Tensor& x, const Routing& routing,
                       Tensor& out) = 0;

 protected:
  // The layer's routed tokens handed to its executor, for `experts` (this process's) computing
  // with `activation`.
  static void run_experts(const LayerCall& call, const Tensor& x, const Routing& routing,
                          const ExpertWeights& experts, ExpertActivation activation, Tensor& out) {
    MoeArgs m;
    m.x = &x;
    m.topk_ids = &routing.ids;
    m.topk_weights = &routing.weights;
    m.experts = &experts;
    m.out = &out;
    m.activation = activation;
    call.moe.run(m, call.layer);
  }
};

}  // namespace sieve
