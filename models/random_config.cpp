// The config.json half of random checkpoints: the families' presets (real models' shapes and
// tiny demos), the user's overrides on top, and config.json written by the family exactly as
// transformers 4.57's config class writes it.
#include <nlohmann/json.hpp>

#include "models/random_checkpoint.h"
#include "models/registry.h"

namespace sieve {
namespace {

using nlohmann::json;

struct Resolved {
  const Family* family = nullptr;
  Preset preset;
};

// The preset named `name` (a real model's or a tiny demo) and its family, or null.
const Preset* find_preset(const std::string& name, const Family** family) {
  for (const Family* f : supported_families()) {
    *family = f;
    for (const Preset& p : f->presets) {
      if (p.name == name) return &p;
    }
    if (f->tiny->name == name) return f->tiny;
  }
  return nullptr;
}

// The preset `o` names (or the tiny demo of its family), before overrides.
Result<Resolved> find(const RandomCheckpointOptions& o) {
  Resolved r;
  if (o.preset.empty()) {
    r.family = o.like.empty() ? &default_family() : find_family(o.like);
    if (!r.family) {
      return invalid_argument("random checkpoint: --like must be " + supported_model_types_text() +
                              ", got '" + o.like + "'");
    }
    r.preset = *r.family->tiny;
    return r;
  }
  const Preset* p = find_preset(o.preset, &r.family);
  if (!p) {
    std::string list;
    for (const auto& n : random_checkpoint_presets())
      list += (list.empty() ? "" : ", ") + n;
    return invalid_argument("random checkpoint: unknown preset '" + o.preset + "' (known: " + list +
                            ")");
  }
  // A preset names its family; --like may repeat it but not contradict it.
  if (!o.like.empty() && o.like != r.family->model_type) {
    return invalid_argument("random checkpoint: preset '" + p->name + "' is a " +
                            std::string(r.family->model_type) + " model, not '" + o.like + "'");
  }
  r.preset = *p;
  return r;
}

Result<Resolved> resolve(const RandomCheckpointOptions& o) {
  SIEVE_ASSIGN_OR_RETURN(Resolved r, find(o));
  Preset& p = r.preset;
  const std::string family(r.family->model_type);
  const HeadDimField head_dim_field = r.family->head_dim_field;
  auto apply = [](int64_t& field, const std::optional<int64_t>& v) {
    if (v) field = *v;
  };
  apply(p.layers, o.layers);
  apply(p.hidden, o.hidden);
  apply(p.heads, o.heads);
  apply(p.kv_heads, o.kv_heads);
  apply(p.experts, o.experts);
  apply(p.top_k, o.top_k);
  apply(p.moe_intermediate, o.moe_intermediate);
  apply(p.vocab, o.vocab);
  apply(p.bos, o.bos_token_id);
  apply(p.eos, o.eos_token_id);
  apply(p.pad, o.pad_token_id);
  if (o.tie_embeddings) p.tie = *o.tie_embeddings;
  if (o.head_dim) {
    // A family that can spell "hidden / heads" by leaving head_dim out keeps that spelling when
    // the override says the same thing.
    const bool derived =
        head_dim_field != HeadDimField::kNumber && p.heads > 0 && *o.head_dim * p.heads == p.hidden;
    if (head_dim_field == HeadDimField::kAbsent && !derived) {
      return invalid_argument("random checkpoint: " + family +
                              " has no head_dim field; it is always hidden / heads");
    }
    p.head_dim = derived ? 0 : *o.head_dim;
  }
  if (p.head_dim == 0 && p.heads > 0 && p.hidden % p.heads != 0) {
    return invalid_argument(
        "random checkpoint: hidden (" + std::to_string(p.hidden) +
        ") is not a multiple of heads (" + std::to_string(p.heads) + "); give head_dim" +
        (head_dim_field == HeadDimField::kAbsent ? " (not possible for " + family + ")" : ""));
  }
  return r;
}

}  // namespace

const std::vector<std::string>& random_checkpoint_presets() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const Family* f : supported_families()) {
      for (const Preset& p : f->presets)
        names.push_back(p.name);
    }
    for (const Family* f : supported_families())
      names.push_back(f->tiny->name);
    return names;
  }();
  return kNames;
}

Result<std::string> random_checkpoint_model_type(const RandomCheckpointOptions& o) {
  SIEVE_ASSIGN_OR_RETURN(Resolved r, find(o));
  return std::string(r.family->model_type);
}

Result<nlohmann::json> random_checkpoint_config(const RandomCheckpointOptions& o) {
  if (o.dtype != DType::kF32 && o.dtype != DType::kBF16) {
    return invalid_argument(std::string("random checkpoint: dtype must be fp32 or bf16, got ") +
                            dtype_name(o.dtype));
  }
  SIEVE_ASSIGN_OR_RETURN(Resolved r, resolve(o));
  json j = r.family->write_config(*r.family, r.preset, o.dtype);
  write_router_skew(o.router_skew, j);
  // The loader's own checks (positive sizes, top_k <= experts, heads vs kv heads, ...) decide
  // what is valid, so a generated checkpoint always opens.
  auto parsed = parse_model_config(j);
  if (!parsed.ok()) {
    return Status(parsed.status().code(), "random checkpoint: " + parsed.status().message());
  }
  return j;
}

}  // namespace sieve
