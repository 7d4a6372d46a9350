#include "models/moe_decoder.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/distributed/communicator.h"
#include "models/expert_parallel_moe.h"
#include "models/random_init.h"

namespace sieve {
namespace {

std::string layer_prefix(int64_t l) {
  return "model.layers." + std::to_string(l) + ".";
}

std::string expert_prefix(const WeightNaming& names, int64_t l, int64_t e) {
  return layer_prefix(l) + names.moe_block + ".experts." + std::to_string(e) + ".";
}

struct LayerWeights {
  Tensor input_norm, post_attention_norm;
  Tensor q_norm, k_norm;  // undefined when the family has none
  std::shared_ptr<Matrix> q, k, v, o;
  bool moe = true;
  std::shared_ptr<Matrix> router;  // [experts, hidden]
  ExpertWeights experts;
  std::shared_ptr<Matrix> dense_gate_up, dense_down;  // dense MLP layers
};

class MoeDecoder final : public Model {
 public:
  MoeDecoder(ModelConfig config, Backend& backend, const ExpertShard* shard)
      : config_(std::move(config)), be_(backend) {
    if (shard) shard_ = *shard;
  }

  const ModelConfig& config() const override { return config_; }
  int64_t weight_bytes() const override { return weight_bytes_; }
  Tensor forward_logits(const ForwardBatch& batch, KvCache& kv, ForwardTrace* trace) override;
  void forward(const ForwardBatch& batch, KvCache& kv, float* logits,
               ForwardTrace* trace) override {
    Tensor out = forward_logits(batch, kv, trace);
    if (out.defined() && out.dim(0) > 0) be_.copy_rows_to_host(out, 0, out.dim(0), logits);
    be_.end_step();
  }

  // Filled by the loader.
  Tensor embed;
  std::shared_ptr<Matrix> lm_head;
  Tensor final_norm;
  std::vector<LayerWeights> layers;
  void add_weight_bytes(int64_t b) { weight_bytes_ += b; }

 private:
  void attention_block(const LayerWeights& w, int64_t layer, const StepInputs& step, KvCache& kv,
                       const Tensor& x, Tensor& out);
  void mlp_block(const LayerWeights& w, int64_t layer, const Tensor& x, Tensor& out,
                 ForwardTrace* trace);

  ModelConfig config_;
  Backend& be_;
  std::optional<ExpertShard> shard_;  // set when experts are exchanged through a communicator
  int64_t weight_bytes_ = 0;
};

void MoeDecoder::attention_block(const LayerWeights& w, int64_t layer, const StepInputs& step,
                                 KvCache& kv, const Tensor& x, Tensor& out) {
  const ModelConfig& c = config_;
  const int64_t T = step.num_tokens;
  Tensor q = be_.scratch({T, c.q_size()}, DType::kF32);
  Tensor k = be_.scratch({T, c.kv_size()}, DType::kF32);
  Tensor v = be_.scratch({T, c.kv_size()}, DType::kF32);
  const LinearCall qkv[] = {{&x, w.q.get(), &q}, {&x, w.k.get(), &k}, {&x, w.v.get(), &v}};
  be_.linear_many(qkv);

  switch (c.qk_norm) {
    case QkNorm::kNone:
      break;
    case QkNorm::kPerHead: {
      Tensor qh = q.view({T * c.num_heads, c.head_dim});
      Tensor kh = k.view({T * c.num_kv_heads, c.head_dim});
      be_.rms_norm(qh, w.q_norm, c.rms_norm_eps, qh);
      be_.rms_norm(kh, w.k_norm, c.rms_norm_eps, kh);
      break;
    }
    case QkNorm::kWholeProjection:
      be_.rms_norm(q, w.q_norm, c.rms_norm_eps, q);
      be_.rms_norm(k, w.k_norm, c.rms_norm_eps, k);
      break;
  }
  // OLMoE clamps after its q/k norms, as transformers does.
  if (c.clip_qkv > 0) {
    be_.clamp(q, c.clip_qkv);
    be_.clamp(k, c.clip_qkv);
    be_.clamp(v, c.clip_qkv);
  }
  be_.rope(q, c.num_heads, c.head_dim, step.positions, c.rope);
  be_.rope(k, c.num_kv_heads, c.head_dim, step.positions, c.rope);
  be_.write_kv(k, v, step, kv.k(layer), kv.v(layer));

  Tensor attn = be_.scratch({T, c.q_size()}, DType::kF32);
  AttentionArgs a;
  a.q = &q;
  a.out = &attn;
  a.k_cache = &kv.k(layer);
  a.v_cache = &kv.v(layer);
  a.step = &step;
  a.num_heads = c.num_heads;
  a.num_kv_heads = c.num_kv_heads;
  a.head_dim = c.head_dim;
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  a.sliding_window = c.sliding_window;
  be_.attention(a);
  be_.linear({&attn, w.o.get(), &out});
}

void MoeDecoder::mlp_block(const LayerWeights& w, int64_t layer, const Tensor& x, Tensor& out,
                           ForwardTrace* trace) {
  const ModelConfig& c = config_;
  const int64_t T = x.dim(0);
  if (!w.moe) {
    Tensor gu = be_.scratch({T, 2 * c.intermediate_size}, DType::kF32);
    Tensor act = be_.scratch({T, c.intermediate_size}, DType::kF32);
    be_.linear({&x, w.dense_gate_up.get(), &gu});
    be_.silu_mul(gu, act);
    be_.linear({&act, w.dense_down.get(), &out});
    return;
  }
  Tensor router_logits = be_.scratch({T, c.num_experts}, DType::kF32);
  Tensor ids = be_.scratch({T, c.top_k}, DType::kI32);
  Tensor weights = be_.scratch({T, c.top_k}, DType::kF32);
  be_.linear({&x, w.router.get(), &router_logits});
  be_.router_topk(router_logits, c.top_k, c.norm_topk_prob, ids, weights);
  if (trace) {
    auto& tid = trace->router_ids[layer];
    auto& tw = trace->router_weights[layer];
    tid.resize(T * c.top_k);
    tw.resize(T * c.top_k);
    be_.copy_to_host(ids, tid.data());
    be_.copy_to_host(weights, tw.data());
  }
  MoeArgs m;
  m.x = &x;
  m.topk_ids = &ids;
  m.topk_weights = &weights;
  m.experts = &w.experts;
  m.out = &out;
  if (shard_) {
    expert_parallel_moe(be_, *shard_, m, layer, config_.num_layers);
  } else {
    be_.moe_experts(m);
  }
}

Tensor MoeDecoder::forward_logits(const ForwardBatch& batch, KvCache& kv, ForwardTrace* trace) {
  const ModelConfig& c = config_;
  const int64_t T = batch.num_tokens();
  const int64_t H = c.hidden_size;
  if (trace) {
    trace->router_ids.assign(c.num_layers, {});
    trace->router_weights.assign(c.num_layers, {});
  }
  const StepInputs& step = be_.begin_step(batch);
  Tensor residual = be_.scratch({T, H}, DType::kF32);
  Tensor x = be_.scratch({T, H}, DType::kF32);
  Tensor branch = be_.scratch({T, H}, DType::kF32);  // output of the last attention/MLP block
  be_.embedding(embed, step.token_ids, residual);
  be_.rms_norm(residual, layers[0].input_norm, c.rms_norm_eps, x);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& w = layers[l];
    if (l > 0) be_.add_rms_norm(residual, branch, w.input_norm, c.rms_norm_eps, x);
    attention_block(w, l, step, kv, x, branch);
    be_.add_rms_norm(residual, branch, w.post_attention_norm, c.rms_norm_eps, x);
    mlp_block(w, l, x, branch, trace);
  }
  const int64_t R = static_cast<int64_t>(batch.logit_rows.size());
  if (R == 0) return Tensor();
  // The last residual add and the final norm only matter for the rows whose logits are wanted.
  Tensor res_rows = be_.scratch({R, H}, DType::kF32);
  Tensor branch_rows = be_.scratch({R, H}, DType::kF32);
  Tensor normed = be_.scratch({R, H}, DType::kF32);
  be_.gather_rows(residual, step.logit_rows, res_rows);
  be_.gather_rows(branch, step.logit_rows, branch_rows);
  be_.add_rms_norm(res_rows, branch_rows, final_norm, c.rms_norm_eps, normed);
  Tensor out = be_.scratch({R, c.vocab_size}, DType::kF32);
  be_.linear({&normed, lm_head.get(), &out});
  return out;
}

// Where the loader's tensors come from (a checkpoint, or fills for --load-format dummy), with
// the bookkeeping both share: bytes held by the model and progress.
class WeightSource {
 public:
  WeightSource(Backend& be, DType weight_dtype, const LoadProgress& progress, MoeDecoder& model,
               uint64_t total_bytes)
      : be_(be), dtype_(weight_dtype), progress_(progress), model_(model), total_(total_bytes) {}
  virtual ~WeightSource() = default;

  // A norm weight or other small vector, in fp32.
  virtual Result<Tensor> vector(const std::string& name) = 0;
  // The embedding table, stored at the weight dtype.
  virtual Result<Tensor> table(const std::string& name) = 0;
  // One matrix, or several stacked along the output dimension (gate then up).
  virtual Result<std::shared_ptr<Matrix>> matrix(std::initializer_list<std::string> names) = 0;
  // Tensors another rank holds: not read, only counted as done.
  virtual Status skip(std::initializer_list<std::string> names) = 0;

  // The lm_head of a model with tied embeddings: the embedding table again, as a matrix.
  std::shared_ptr<Matrix> matrix_from_table(const Tensor& table) {
    auto m = be_.make_matrix(table.raw(), table.dtype(), table.dim(0), table.dim(1), dtype_);
    model_.add_weight_bytes(static_cast<int64_t>(m->bytes()));
    return m;
  }

 protected:
  Tensor held(Tensor t) {
    model_.add_weight_bytes(static_cast<int64_t>(t.nbytes()));
    return t;
  }
  std::shared_ptr<Matrix> held(std::shared_ptr<Matrix> m) {
    model_.add_weight_bytes(static_cast<int64_t>(m->bytes()));
    return m;
  }
  void advance(uint64_t bytes) {
    done_ += bytes;
    if (progress_.on_progress) progress_.on_progress(done_, total_);
  }

  Backend& be_;
  DType dtype_;

 private:
  const LoadProgress& progress_;
  MoeDecoder& model_;
  uint64_t done_ = 0, total_ = 0;
};

// Reads tensors from the checkpoint into host buffers and hands them to the backend.
class CheckpointSource final : public WeightSource {
 public:
  CheckpointSource(const Checkpoint& ckpt, Backend& be, DType weight_dtype,
                   const LoadProgress& progress, MoeDecoder& model)
      : WeightSource(be, weight_dtype, progress, model, ckpt.total_bytes()), ckpt_(ckpt) {}

  Result<Tensor> vector(const std::string& name) override {
    SIEVE_ASSIGN_OR_RETURN(const CheckpointTensor* t, lookup(name));
    std::vector<float> host(t->entry->numel());
    SIEVE_RETURN_IF_ERROR(ckpt_.read(name, DType::kF32, host.data()));
    advance_past(t);
    return held(be_.upload(host.data(), DType::kF32, t->entry->shape, DType::kF32));
  }

  Result<Tensor> table(const std::string& name) override {
    SIEVE_ASSIGN_OR_RETURN(const CheckpointTensor* t, lookup(name));
    std::vector<uint8_t> host(t->entry->numel() * dtype_size(dtype_));
    SIEVE_RETURN_IF_ERROR(ckpt_.read(name, dtype_, host.data()));
    advance_past(t);
    return held(be_.upload(host.data(), dtype_, t->entry->shape, dtype_));
  }

  Result<std::shared_ptr<Matrix>> matrix(std::initializer_list<std::string> names) override {
    int64_t n = 0, k = -1;
    std::vector<const CheckpointTensor*> parts;
    for (const std::string& name : names) {
      SIEVE_ASSIGN_OR_RETURN(const CheckpointTensor* t, lookup(name));
      parts.push_back(t);
      n += t->entry->shape[0];
      k = t->entry->shape[1];
    }
    if (parts.size() == 1) {
      // Packed straight from the mapped file: no intermediate copy.
      const CheckpointTensor* t = parts[0];
      auto m = be_.make_matrix(t->file->data(*t->entry), t->entry->dtype, n, k, dtype_);
      advance_past(t);
      return held(std::move(m));
    }
    const size_t elem = dtype_size(dtype_);
    host_.resize(static_cast<size_t>(n * k) * elem);
    size_t offset = 0;
    auto name_it = names.begin();
    for (const CheckpointTensor* t : parts) {
      SIEVE_RETURN_IF_ERROR(ckpt_.read(*name_it++, dtype_, host_.data() + offset));
      offset += static_cast<size_t>(t->entry->numel()) * elem;
      advance_past(t);
    }
    return held(be_.make_matrix(host_.data(), dtype_, n, k, dtype_));
  }

  Status skip(std::initializer_list<std::string> names) override {
    for (const std::string& name : names) {
      SIEVE_ASSIGN_OR_RETURN(const CheckpointTensor* t, lookup(name));
      advance_past(t);
    }
    return Status::Ok();
  }

 private:
  Result<const CheckpointTensor*> lookup(const std::string& name) {
    const CheckpointTensor* t = ckpt_.find(name);
    if (!t) return not_found(ckpt_.dir() + ": tensor '" + name + "' is missing");
    return t;
  }
  void advance_past(const CheckpointTensor* t) { advance(t->entry->end - t->entry->begin); }

  const Checkpoint& ckpt_;
  std::vector<uint8_t> host_;
};

// --load-format dummy: every tensor filled on the backend as random_init() fills it.
class FilledSource final : public WeightSource {
 public:
  FilledSource(std::vector<ExpectedTensor> tensors, const ModelConfig& config,
               const WeightNaming& names, uint64_t seed, Backend& be, DType weight_dtype,
               const LoadProgress& progress, MoeDecoder& model)
      : WeightSource(be, weight_dtype, progress, model, held_weight_bytes(tensors, weight_dtype)) {
    for (size_t i = 0; i < tensors.size(); ++i) {
      entries_.emplace(tensors[i].name,
                       Entry{tensors[i].shape, random_init(tensors[i], static_cast<int64_t>(i),
                                                           config, names, seed)});
    }
  }

  Result<Tensor> vector(const std::string& name) override {
    SIEVE_ASSIGN_OR_RETURN(const Entry* e, lookup(name));
    Tensor t = be_.make_filled(e->shape, e->fill, DType::kF32);
    advance(t.nbytes());
    return held(std::move(t));
  }

  Result<Tensor> table(const std::string& name) override {
    SIEVE_ASSIGN_OR_RETURN(const Entry* e, lookup(name));
    Tensor t = be_.make_filled(e->shape, e->fill, dtype_);
    advance(t.nbytes());
    return held(std::move(t));
  }

  Result<std::shared_ptr<Matrix>> matrix(std::initializer_list<std::string> names) override {
    std::vector<RowBlockFill> blocks;
    int64_t n = 0, k = 0;
    for (const std::string& name : names) {
      SIEVE_ASSIGN_OR_RETURN(const Entry* e, lookup(name));
      blocks.push_back({e->shape[0], e->fill});
      n += e->shape[0];
      k = e->shape[1];
    }
    auto m = be_.make_filled_matrix(n, k, blocks, dtype_);
    advance(static_cast<uint64_t>(n * k) * dtype_size(dtype_));
    return held(std::move(m));
  }

  Status skip(std::initializer_list<std::string> names) override {
    for (const std::string& name : names) {
      SIEVE_ASSIGN_OR_RETURN(const Entry* e, lookup(name));
      advance(static_cast<uint64_t>(e->shape[0] * e->shape[1]) * dtype_size(dtype_));
    }
    return Status::Ok();
  }

 private:
  struct Entry {
    std::vector<int64_t> shape;
    WeightFill fill;
  };
  Result<const Entry*> lookup(const std::string& name) {
    auto it = entries_.find(name);
    if (it == entries_.end()) return internal_error("dummy weights: no tensor '" + name + "'");
    return &it->second;
  }

  std::unordered_map<std::string, Entry> entries_;
};

Status check_weight_dtype(DType weight_dtype) {
  if (weight_dtype != DType::kF32 && weight_dtype != DType::kBF16) {
    return invalid_argument(std::string("weights can be held as fp32 or bf16, not ") +
                            dtype_name(weight_dtype));
  }
  return Status::Ok();
}

// Builds the model's weights from `src` in the checkpoint's order.
Status load_weights(WeightSource& rd, const ModelConfig& config, const WeightNaming& names,
                    const ExpertShard* shard, MoeDecoder& model) {
  SIEVE_ASSIGN_OR_RETURN(model.embed, rd.table("model.embed_tokens.weight"));
  model.layers.resize(config.num_layers);
  for (int64_t l = 0; l < config.num_layers; ++l) {
    LayerWeights& w = model.layers[l];
    const std::string p = layer_prefix(l);
    SIEVE_ASSIGN_OR_RETURN(w.input_norm, rd.vector(p + "input_layernorm.weight"));
    SIEVE_ASSIGN_OR_RETURN(w.post_attention_norm, rd.vector(p + "post_attention_layernorm.weight"));
    SIEVE_ASSIGN_OR_RETURN(w.q, rd.matrix({p + "self_attn.q_proj.weight"}));
    SIEVE_ASSIGN_OR_RETURN(w.k, rd.matrix({p + "self_attn.k_proj.weight"}));
    SIEVE_ASSIGN_OR_RETURN(w.v, rd.matrix({p + "self_attn.v_proj.weight"}));
    SIEVE_ASSIGN_OR_RETURN(w.o, rd.matrix({p + "self_attn.o_proj.weight"}));
    if (config.qk_norm != QkNorm::kNone) {
      SIEVE_ASSIGN_OR_RETURN(w.q_norm, rd.vector(p + "self_attn.q_norm.weight"));
      SIEVE_ASSIGN_OR_RETURN(w.k_norm, rd.vector(p + "self_attn.k_norm.weight"));
    }
    w.moe = config.layer_is_moe[l];
    if (w.moe) {
      SIEVE_ASSIGN_OR_RETURN(w.router, rd.matrix({p + names.moe_block + ".gate.weight"}));
      for (int64_t e = 0; e < config.num_experts; ++e) {
        const std::string ep = expert_prefix(names, l, e);
        if (shard && !shard->placement.holds(shard->rank, e)) {
          SIEVE_RETURN_IF_ERROR(
              rd.skip({ep + names.expert_gate + ".weight", ep + names.expert_up + ".weight",
                       ep + names.expert_down + ".weight"}));
          continue;
        }
        SIEVE_ASSIGN_OR_RETURN(
            auto gu,
            (rd.matrix({ep + names.expert_gate + ".weight", ep + names.expert_up + ".weight"})));
        SIEVE_ASSIGN_OR_RETURN(auto down, rd.matrix({ep + names.expert_down + ".weight"}));
        w.experts.gate_up.push_back(std::move(gu));
        w.experts.down.push_back(std::move(down));
      }
    } else {
      SIEVE_ASSIGN_OR_RETURN(w.dense_gate_up,
                             (rd.matrix({p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"})));
      SIEVE_ASSIGN_OR_RETURN(w.dense_down, rd.matrix({p + "mlp.down_proj.weight"}));
    }
  }
  SIEVE_ASSIGN_OR_RETURN(model.final_norm, rd.vector("model.norm.weight"));
  if (config.tie_word_embeddings) {
    model.lm_head = rd.matrix_from_table(model.embed);
  } else {
    SIEVE_ASSIGN_OR_RETURN(model.lm_head, rd.matrix({"lm_head.weight"}));
  }
  return Status::Ok();
}

}  // namespace

uint64_t held_weight_bytes(const std::vector<ExpectedTensor>& tensors, DType weight_dtype) {
  uint64_t total = 0;
  for (const ExpectedTensor& t : tensors) {
    uint64_t n = 1;
    for (int64_t d : t.shape)
      n *= static_cast<uint64_t>(d);
    total += n * (t.shape.size() == 1 ? sizeof(float) : dtype_size(weight_dtype));
  }
  return total;
}

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c, const WeightNaming& names) {
  std::vector<ExpectedTensor> out;
  const int64_t H = c.hidden_size;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, H}});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = layer_prefix(l);
    out.push_back({p + "input_layernorm.weight", {H}});
    out.push_back({p + "post_attention_layernorm.weight", {H}});
    out.push_back({p + "self_attn.q_proj.weight", {c.q_size(), H}});
    out.push_back({p + "self_attn.k_proj.weight", {c.kv_size(), H}});
    out.push_back({p + "self_attn.v_proj.weight", {c.kv_size(), H}});
    out.push_back({p + "self_attn.o_proj.weight", {H, c.q_size()}});
    if (c.qk_norm == QkNorm::kPerHead) {
      out.push_back({p + "self_attn.q_norm.weight", {c.head_dim}});
      out.push_back({p + "self_attn.k_norm.weight", {c.head_dim}});
    } else if (c.qk_norm == QkNorm::kWholeProjection) {
      out.push_back({p + "self_attn.q_norm.weight", {c.q_size()}});
      out.push_back({p + "self_attn.k_norm.weight", {c.kv_size()}});
    }
    if (c.layer_is_moe[l]) {
      const int64_t I = c.moe_intermediate_size;
      out.push_back({p + names.moe_block + ".gate.weight", {c.num_experts, H}});
      for (int64_t e = 0; e < c.num_experts; ++e) {
        const std::string ep = expert_prefix(names, l, e);
        out.push_back({ep + names.expert_gate + ".weight", {I, H}});
        out.push_back({ep + names.expert_up + ".weight", {I, H}});
        out.push_back({ep + names.expert_down + ".weight", {H, I}});
      }
    } else {
      const int64_t I = c.intermediate_size;
      out.push_back({p + "mlp.gate_proj.weight", {I, H}});
      out.push_back({p + "mlp.up_proj.weight", {I, H}});
      out.push_back({p + "mlp.down_proj.weight", {H, I}});
    }
  }
  out.push_back({"model.norm.weight", {H}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, H}});
  return out;
}

Status check_shard(const ModelConfig& config, const Backend& backend, const ExpertShard* shard) {
  if (!shard) return Status::Ok();
  if (!shard->comm) return invalid_argument("expert parallelism needs a communicator");
  if (shard->comm->device() != backend.device()) {
    return invalid_argument("expert parallelism: the " + shard->comm->name() +
                            " communicator exchanges " + device_name(shard->comm->device()) +
                            " memory, but the model runs on the " + backend.name() +
                            " backend (use NCCL for --backend cuda, MPI for --backend cpu)");
  }
  if (shard->placement.num_experts != config.num_experts) {
    return invalid_argument("expert placement is for " +
                            std::to_string(shard->placement.num_experts) +
                            " experts; the model has " + std::to_string(config.num_experts));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Model>> load_moe_decoder(const Checkpoint& ckpt, const ModelConfig& config,
                                                const WeightNaming& names, Backend& backend,
                                                DType weight_dtype, const LoadProgress& progress,
                                                const ExpertShard* shard) {
  SIEVE_RETURN_IF_ERROR(check_weight_dtype(weight_dtype));
  SIEVE_RETURN_IF_ERROR(check_shard(config, backend, shard));
  auto model = std::make_unique<MoeDecoder>(config, backend, shard);
  CheckpointSource src(ckpt, backend, weight_dtype, progress, *model);
  SIEVE_RETURN_IF_ERROR(load_weights(src, config, names, shard, *model));
  return std::unique_ptr<Model>(std::move(model));
}

Result<std::unique_ptr<Model>> make_dummy_moe_decoder(const ModelConfig& config,
                                                      const WeightNaming& names, Backend& backend,
                                                      DType weight_dtype, uint64_t seed,
                                                      const LoadProgress& progress,
                                                      const ExpertShard* shard) {
  SIEVE_RETURN_IF_ERROR(check_weight_dtype(weight_dtype));
  SIEVE_RETURN_IF_ERROR(check_shard(config, backend, shard));
  auto model = std::make_unique<MoeDecoder>(config, backend, shard);
  FilledSource src(expected_tensors(config, names), config, names, seed, backend, weight_dtype,
                   progress, *model);
  SIEVE_RETURN_IF_ERROR(load_weights(src, config, names, shard, *model));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace sieve
