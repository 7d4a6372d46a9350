// The shapes `sieve make-checkpoint` writes: each family lists real models' shapes (from their
// Hub config.json files) and a tiny demo, and writes config.json for them as its transformers
// config class would (models/family.h).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/dtype.h"

namespace sieve {

struct Family;

// Everything a preset fixes. -1 token ids are left out of config.json, as transformers leaves
// out a None that equals the base-class default.
struct Preset {
  std::string name;
  int64_t layers = 0, hidden = 0, heads = 0, kv_heads = 0;
  int64_t head_dim = 0;  // 0: hidden / heads (the family's HeadDimField says how it is written)
  int64_t experts = 0, top_k = 0, moe_intermediate = 0;
  int64_t dense_intermediate = 0;  // the width of dense MLP layers, where the family has them
  int64_t vocab = 0;
  bool tie = false;
  double rope_theta = 10000.0, rms_eps = 1e-6;
  bool norm_topk_prob = true;
  int64_t max_positions = 0;
  int64_t bos = -1, eos = -1, pad = -1;
  double router_aux_loss_coef = 0.0;
  int64_t sliding_window = 0;  // families with sliding-window layers: their window
};

// The keys the MoE config classes of transformers 4.57 all write (their PretrainedConfig base
// and the fields they share), for a family's config writer to start from. save_pretrained
// drops base-class defaults and keeps every class field; the file's keys come out sorted.
nlohmann::json common_config_json(const Family& family, const Preset& preset, DType dtype);

}  // namespace sieve
