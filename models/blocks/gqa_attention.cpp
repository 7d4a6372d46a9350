#include "models/blocks/gqa_attention.h"

#include <cmath>

#include "models/blocks/decoder.h"

namespace sieve {

GqaOptions gqa_options(const ModelConfig& c, int64_t layer) {
  GqaOptions o;
  o.prefix = layer_prefix(layer) + "self_attn.";
  o.hidden = c.hidden_size;
  o.num_heads = c.num_heads;
  o.num_kv_heads = c.num_kv_heads;
  o.head_dim = c.head_dim;
  o.rms_norm_eps = c.rms_norm_eps;
  o.rope = c.rope;
  return o;
}

void GqaAttention::declare(TensorList& out) const {
  const std::string& p = o_.prefix;
  const int64_t H = o_.hidden;
  // gpt-oss's order: sinks first, each projection's bias after its weight.
  if (o_.sinks) out.push_back({p + "sinks", {o_.num_heads}, InitRole::kBias});
  auto projection = [&](const char* name, int64_t n, int64_t k, InitRole role) {
    out.push_back({p + name + ".weight", {n, k}, role});
    if (o_.bias) out.push_back({p + name + ".bias", {n}, InitRole::kBias});
  };
  projection("q_proj", q_size(), H, InitRole::kLinear);
  projection("k_proj", kv_size(), H, InitRole::kLinear);
  projection("v_proj", kv_size(), H, InitRole::kLinear);
  projection("o_proj", H, q_size(), InitRole::kResidualOut);
  if (o_.qk_norm == QkNorm::kPerHead) {
    out.push_back({p + "q_norm.weight", {o_.head_dim}, InitRole::kNorm});
    out.push_back({p + "k_norm.weight", {o_.head_dim}, InitRole::kNorm});
  } else if (o_.qk_norm == QkNorm::kWholeProjection) {
    out.push_back({p + "q_norm.weight", {q_size()}, InitRole::kNorm});
    out.push_back({p + "k_norm.weight", {kv_size()}, InitRole::kNorm});
  }
}

Status GqaAttention::load(const LoadContext& ctx) {
  WeightSource& src = ctx.weights;
  const std::string& p = o_.prefix;
  SIEVE_ASSIGN_OR_RETURN(q_, src.matrix({p + "q_proj.weight"}));
  SIEVE_ASSIGN_OR_RETURN(k_, src.matrix({p + "k_proj.weight"}));
  SIEVE_ASSIGN_OR_RETURN(v_, src.matrix({p + "v_proj.weight"}));
  SIEVE_ASSIGN_OR_RETURN(o_proj_, src.matrix({p + "o_proj.weight"}));
  if (o_.bias) {
    SIEVE_ASSIGN_OR_RETURN(q_bias_, src.vector(p + "q_proj.bias"));
    SIEVE_ASSIGN_OR_RETURN(k_bias_, src.vector(p + "k_proj.bias"));
    SIEVE_ASSIGN_OR_RETURN(v_bias_, src.vector(p + "v_proj.bias"));
    SIEVE_ASSIGN_OR_RETURN(o_bias_, src.vector(p + "o_proj.bias"));
  }
  if (o_.sinks) {
    SIEVE_ASSIGN_OR_RETURN(sinks_, src.vector(p + "sinks"));
  }
  if (o_.qk_norm != QkNorm::kNone) {
    SIEVE_ASSIGN_OR_RETURN(q_norm_, src.vector(p + "q_norm.weight"));
    SIEVE_ASSIGN_OR_RETURN(k_norm_, src.vector(p + "k_norm.weight"));
  }
  return Status::Ok();
}

KvLayerLayout GqaAttention::kv_layout() const {
  const std::vector<int64_t> heads = {o_.num_kv_heads, o_.head_dim};
  return KvLayerLayout{{heads, heads}};  // K, V
}

void GqaAttention::forward(const LayerCall& call, const Tensor& x, Tensor& out) {
  Backend& be = call.be;
  const StepInputs& step = call.step;
  const int64_t T = step.num_tokens;
  Tensor q = be.scratch({T, q_size()}, DType::kF32);
  Tensor k = be.scratch({T, kv_size()}, DType::kF32);
  Tensor v = be.scratch({T, kv_size()}, DType::kF32);
  const LinearCall qkv[] = {{&x, q_.get(), &q}, {&x, k_.get(), &k}, {&x, v_.get(), &v}};
  be.linear_many(qkv);
  if (o_.bias) {
    be.add_bias(q, q_bias_);
    be.add_bias(k, k_bias_);
    be.add_bias(v, v_bias_);
  }

  switch (o_.qk_norm) {
    case QkNorm::kNone:
      break;
    case QkNorm::kPerHead: {
      Tensor qh = q.view({T * o_.num_heads, o_.head_dim});
      Tensor kh = k.view({T * o_.num_kv_heads, o_.head_dim});
      be.rms_norm(qh, q_norm_, o_.rms_norm_eps, qh);
      be.rms_norm(kh, k_norm_, o_.rms_norm_eps, kh);
      break;
    }
    case QkNorm::kWholeProjection:
      be.rms_norm(q, q_norm_, o_.rms_norm_eps, q);
      be.rms_norm(k, k_norm_, o_.rms_norm_eps, k);
      break;
  }
  // OLMoE clamps after its q/k norms, as transformers does.
  if (o_.clip_qkv > 0) {
    be.clamp(q, o_.clip_qkv);
    be.clamp(k, o_.clip_qkv);
    be.clamp(v, o_.clip_qkv);
  }
  be.rope(q, o_.num_heads, o_.head_dim, step.positions, o_.rope);
  be.rope(k, o_.num_kv_heads, o_.head_dim, step.positions, o_.rope);
  Tensor& k_cache = call.kv.k(call.layer);
  Tensor& v_cache = call.kv.v(call.layer);
  be.write_kv(k, v, step, k_cache, v_cache);

  Tensor attn = be.scratch({T, q_size()}, DType::kF32);
  AttentionArgs a;
  a.q = &q;
  a.out = &attn;
  a.k_cache = &k_cache;
  a.v_cache = &v_cache;
  a.step = &step;
  a.num_heads = o_.num_heads;
  a.num_kv_heads = o_.num_kv_heads;
  a.head_dim = o_.head_dim;
  a.scale = 1.0f / std::sqrt(static_cast<float>(o_.head_dim));
  a.sliding_window = o_.sliding_window;
  a.sinks = o_.sinks ? &sinks_ : nullptr;
  be.attention(a);
  be.linear({&attn, o_proj_.get(), &out});
  if (o_.bias) be.add_bias(out, o_bias_);
}

}  // namespace sieve
