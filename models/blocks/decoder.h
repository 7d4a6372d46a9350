// The decoder skeleton every family shares: embedding → layers of [RMSNorm → attention →
// RMSNorm → feed-forward], each added to the residual stream → final RMSNorm → lm_head. It owns
// the embedding, the layer norms, the final norm and the lm_head (Hugging Face's names:
// model.embed_tokens, model.layers.{l}.input_layernorm / post_attention_layernorm, model.norm,
// lm_head); everything inside a layer is the blocks the family's recipe chose.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/backends/model.h"
#include "engine/checkpoint/model_config.h"
#include "engine/experts/moe_executor.h"
#include "models/blocks/block.h"

namespace sieve {

// "model.layers.{layer}.": where a layer's tensors live.
std::string layer_prefix(int64_t layer);

struct DecoderLayer {
  std::unique_ptr<AttentionBlock> attention;
  std::unique_ptr<FeedForwardBlock> feed_forward;
};

// Every tensor of the decoder of `config` built from `layers`, in checkpoint order: the
// embedding, each layer's two norms then its blocks' tensors, the final norm, the lm_head
// (unless tied).
TensorList declare_decoder(const ModelConfig& config, const std::vector<DecoderLayer>& layers);

// What each layer's attention keeps per token.
KvLayout decoder_kv_layout(const std::vector<DecoderLayer>& layers);

// The decoder with its weights taken from `weights`, in declare_decoder() order. MoE layers run
// their routed experts through `moe`, which also says which experts this process loads.
Result<std::unique_ptr<Model>> load_decoder(ModelConfig config, std::vector<DecoderLayer> layers,
                                            WeightSource& weights, std::unique_ptr<MoeExecutor> moe,
                                            Backend& backend);

}  // namespace sieve
