#include "models/blocks/decoder.h"

namespace sieve {
namespace {

constexpr const char* kEmbedding = "model.embed_tokens.weight";
constexpr const char* kFinalNorm = "model.norm.weight";
constexpr const char* kLmHead = "lm_head.weight";

std::string input_norm(int64_t l) {
  return layer_prefix(l) + "input_layernorm.weight";
}
std::string post_attention_norm(int64_t l) {
  return layer_prefix(l) + "post_attention_layernorm.weight";
}

class Decoder final : public Model {
 public:
  Decoder(ModelConfig config, std::vector<DecoderLayer> layers, Backend& backend,
          std::unique_ptr<MoeExecutor> moe)
      : config_(std::move(config)),
        layers_(std::move(layers)),
        be_(backend),
        moe_(std::move(moe)) {}

  Status load(WeightSource& src);

  const ModelConfig& config() const override { return config_; }
  int64_t weight_bytes() const override { return weight_bytes_; }
  KvLayout kv_layout() const override { return decoder_kv_layout(layers_); }
  Tensor forward_logits(const ForwardBatch& batch, KvCache& kv, ForwardTrace* trace) override;
  void forward(const ForwardBatch& batch, KvCache& kv, float* logits,
               ForwardTrace* trace) override {
    Tensor out = forward_logits(batch, kv, trace);
    if (out.defined() && out.dim(0) > 0) be_.copy_rows_to_host(out, 0, out.dim(0), logits);
    be_.end_step();
  }

 private:
  ModelConfig config_;
  std::vector<DecoderLayer> layers_;
  Backend& be_;
  std::unique_ptr<MoeExecutor> moe_;
  Tensor embed_;                     // [vocab, hidden]
  std::vector<Tensor> input_norm_;   // [layer] of [hidden]
  std::vector<Tensor> post_norm_;    // [layer] of [hidden]
  Tensor final_norm_;                // [hidden]
  std::shared_ptr<Matrix> lm_head_;  // [vocab, hidden]
  int64_t weight_bytes_ = 0;
};

Status Decoder::load(WeightSource& src) {
  SIEVE_ASSIGN_OR_RETURN(embed_, src.table(kEmbedding));
  for (int64_t l = 0; l < static_cast<int64_t>(layers_.size()); ++l) {
    const LoadContext ctx{src, *moe_, l};
    Tensor in, post;
    SIEVE_ASSIGN_OR_RETURN(in, src.vector(input_norm(l)));
    SIEVE_ASSIGN_OR_RETURN(post, src.vector(post_attention_norm(l)));
    input_norm_.push_back(std::move(in));
    post_norm_.push_back(std::move(post));
    SIEVE_RETURN_IF_ERROR(layers_[l].attention->load(ctx));
    SIEVE_RETURN_IF_ERROR(layers_[l].feed_forward->load(ctx));
  }
  SIEVE_ASSIGN_OR_RETURN(final_norm_, src.vector(kFinalNorm));
  if (config_.tie_word_embeddings) {
    lm_head_ = src.matrix_from_table(embed_);
  } else {
    SIEVE_ASSIGN_OR_RETURN(lm_head_, src.matrix({kLmHead}));
  }
  weight_bytes_ = src.held_weight_bytes();
  return Status::Ok();
}

Tensor Decoder::forward_logits(const ForwardBatch& batch, KvCache& kv, ForwardTrace* trace) {
  const ModelConfig& c = config_;
  const int64_t T = batch.num_tokens();
  const int64_t H = c.hidden_size;
  const int64_t L = static_cast<int64_t>(layers_.size());
  if (trace) {
    trace->router_ids.assign(L, {});
    trace->router_weights.assign(L, {});
  }
  const StepInputs& step = be_.begin_step(batch);
  Tensor residual = be_.scratch({T, H}, DType::kF32);
  Tensor x = be_.scratch({T, H}, DType::kF32);
  Tensor branch = be_.scratch({T, H}, DType::kF32);  // output of the last attention/MLP block
  be_.embedding(embed_, step.token_ids, residual);
  be_.rms_norm(residual, input_norm_[0], c.rms_norm_eps, x);
  for (int64_t l = 0; l < L; ++l) {
    const LayerCall call{be_, step, kv, l, *moe_, trace};
    if (l > 0) be_.add_rms_norm(residual, branch, input_norm_[l], c.rms_norm_eps, x);
    layers_[l].attention->forward(call, x, branch);
    be_.add_rms_norm(residual, branch, post_norm_[l], c.rms_norm_eps, x);
    layers_[l].feed_forward->forward(call, x, branch);
  }
  const int64_t R = static_cast<int64_t>(batch.logit_rows.size());
  if (R == 0) return Tensor();
  // The last residual add and the final norm only matter for the rows whose logits are wanted.
  Tensor res_rows = be_.scratch({R, H}, DType::kF32);
  Tensor branch_rows = be_.scratch({R, H}, DType::kF32);
  Tensor normed = be_.scratch({R, H}, DType::kF32);
  be_.gather_rows(residual, step.logit_rows, res_rows);
  be_.gather_rows(branch, step.logit_rows, branch_rows);
  be_.add_rms_norm(res_rows, branch_rows, final_norm_, c.rms_norm_eps, normed);
  Tensor out = be_.scratch({R, c.vocab_size}, DType::kF32);
  be_.linear({&normed, lm_head_.get(), &out});
  return out;
}

}  // namespace

std::string layer_prefix(int64_t layer) {
  return "model.layers." + std::to_string(layer) + ".";
}

TensorList declare_decoder(const ModelConfig& c, const std::vector<DecoderLayer>& layers) {
  TensorList out;
  const int64_t H = c.hidden_size;
  out.push_back({kEmbedding,
                 {c.vocab_size, H},
                 InitRole::kEmbedding,
                 c.tie_word_embeddings ? ParamUse::kTableRowAndHead : ParamUse::kTableRow});
  for (int64_t l = 0; l < static_cast<int64_t>(layers.size()); ++l) {
    out.push_back({input_norm(l), {H}, InitRole::kNorm});
    out.push_back({post_attention_norm(l), {H}, InitRole::kNorm});
    layers[l].attention->declare(out);
    layers[l].feed_forward->declare(out);
  }
  out.push_back({kFinalNorm, {H}, InitRole::kNorm});
  if (!c.tie_word_embeddings) out.push_back({kLmHead, {c.vocab_size, H}});
  return out;
}

KvLayout decoder_kv_layout(const std::vector<DecoderLayer>& layers) {
  KvLayout layout;
  for (const DecoderLayer& l : layers)
    layout.layers.push_back(l.attention->kv_layout());
  return layout;
}

Result<std::unique_ptr<Model>> load_decoder(ModelConfig config, std::vector<DecoderLayer> layers,
                                            WeightSource& weights, std::unique_ptr<MoeExecutor> moe,
                                            Backend& backend) {
  auto model =
      std::make_unique<Decoder>(std::move(config), std::move(layers), backend, std::move(moe));
  SIEVE_RETURN_IF_ERROR(model->load(weights));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace sieve
