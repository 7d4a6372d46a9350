#include "tools/sieve/make_checkpoint_command.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/text/tokenizer/tokenizer.h"
#include "models/random_checkpoint.h"
#include "models/registry.h"
#include "tools/sieve/progress_bar.h"

namespace sieve {
namespace {

struct Opts {
  RandomCheckpointOptions ck;
  std::string dtype = "bf16";
  double max_shard_gb = 5.0;
  std::string tokenizer;  // a directory with tokenizer.json (+ tokenizer_config.json)
  std::string router_skew = "none";
};

// The files a tokenizer directory contributes to a model directory.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json",
                                           "chat_template.jinja", "special_tokens_map.json"};

// A special token named in tokenizer_config.json (a string or {"content": ...}) → its id.
std::optional<int64_t> config_token_id(const nlohmann::json& config, const char* key,
                                       const Tokenizer& tok) {
  if (!config.contains(key)) return std::nullopt;
  const auto& v = config[key];
  std::string content;
  if (v.is_string()) content = v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    content = v["content"].get<std::string>();
  if (content.empty()) return std::nullopt;
  auto id = tok.token_to_id(content);
  return id ? std::optional<int64_t>(*id) : std::nullopt;
}

// Sizes the vocabulary for the tokenizer and takes its special token ids.
Status adopt_tokenizer(Opts& o) {
  namespace fs = std::filesystem;
  const fs::path dir = o.tokenizer;
  SIEVE_ASSIGN_OR_RETURN(auto tok, Tokenizer::load(dir));
  const int64_t need = tok->vocab_size();
  if (o.ck.vocab && *o.ck.vocab < need) {
    return invalid_argument("--vocab " + std::to_string(*o.ck.vocab) + " is smaller than the " +
                            std::to_string(need) + " tokens of --tokenizer " + o.tokenizer);
  }
  if (!o.ck.vocab) o.ck.vocab = need;
  std::ifstream in(dir / "tokenizer_config.json");
  if (in) {
    const auto config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (config.is_object()) {
      if (auto id = config_token_id(config, "bos_token", *tok)) o.ck.bos_token_id = *id;
      if (auto id = config_token_id(config, "eos_token", *tok)) o.ck.eos_token_id = *id;
      if (auto id = config_token_id(config, "pad_token", *tok)) o.ck.pad_token_id = *id;
    }
  }
  return Status::Ok();
}

Status copy_tokenizer_files(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  for (const char* name : kTokenizerFiles) {
    std::error_code ec;
    if (!fs::exists(fs::path(from) / name, ec)) continue;
    fs::copy_file(fs::path(from) / name, fs::path(to) / name, fs::copy_options::overwrite_existing,
                  ec);
    if (ec) return invalid_argument("cannot copy " + from + "/" + name + ": " + ec.message());
  }
  return Status::Ok();
}

// Shape flags write straight into the options' overrides; a flag not given leaves the preset's
// value.
struct ShapeFlag {
  const char* flag;
  std::optional<int64_t> RandomCheckpointOptions::*field;
  const char* help;
};
constexpr ShapeFlag kShapeFlags[] = {
    {"--layers", &RandomCheckpointOptions::layers, "Override: decoder layers"},
    {"--hidden", &RandomCheckpointOptions::hidden, "Override: hidden size"},
    {"--heads", &RandomCheckpointOptions::heads, "Override: attention heads"},
    {"--kv-heads", &RandomCheckpointOptions::kv_heads, "Override: key/value heads"},
    {"--head-dim", &RandomCheckpointOptions::head_dim, "Override: features per head"},
    {"--experts", &RandomCheckpointOptions::experts, "Override: experts per MoE layer"},
    {"--top-k", &RandomCheckpointOptions::top_k, "Override: experts per token"},
    {"--moe-intermediate", &RandomCheckpointOptions::moe_intermediate,
     "Override: expert intermediate size"},
    {"--vocab", &RandomCheckpointOptions::vocab, "Override: vocabulary size"},
};

void run(Opts& o) {
  RandomCheckpointOptions& ck = o.ck;
  if (o.dtype == "fp32" || o.dtype == "float32") {
    ck.dtype = DType::kF32;
  } else if (o.dtype == "bf16" || o.dtype == "bfloat16") {
    ck.dtype = DType::kBF16;
  } else {
    spdlog::error("--dtype must be fp32 or bf16, got '{}'", o.dtype);
    throw CLI::RuntimeError(1);
  }
  ck.max_shard_bytes = static_cast<uint64_t>(o.max_shard_gb * 1e9);
  if (auto skew = parse_router_skew(o.router_skew); skew.ok()) {
    ck.router_skew = *skew;
  } else {
    spdlog::error("--router-skew: {}", skew.status().message());
    throw CLI::RuntimeError(1);
  }
  if (!o.tokenizer.empty()) {
    if (Status s = adopt_tokenizer(o); !s.ok()) {
      spdlog::error("{}", s.message());
      throw CLI::RuntimeError(1);
    }
  }

  std::unique_ptr<ProgressBar> live;
  ck.progress = [&live](uint64_t done, uint64_t total) {
    if (!live) {
      live = std::make_unique<ProgressBar>("Writing weights", static_cast<int64_t>(total));
      live->show_as_bytes();
    }
    live->update(static_cast<int64_t>(done));
  };
  const auto t0 = std::chrono::steady_clock::now();
  Status s = make_random_checkpoint(ck);
  if (live) live->finish();
  if (s.ok() && !o.tokenizer.empty()) s = copy_tokenizer_files(o.tokenizer, ck.dir);
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    throw CLI::RuntimeError(1);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // The checkpoint was written, so its options resolve to a family.
  const Result<std::string> type = random_checkpoint_model_type(ck);
  const std::string family = type.ok() ? *type : ck.like;
  if (ck.config_only) {
    spdlog::info("wrote the config.json of a {} model{} to {}; run it with --load-format dummy",
                 family, ck.preset.empty() ? "" : " (preset " + ck.preset + ")", ck.dir);
    return;
  }
  spdlog::info(
      "wrote a random-weight {} checkpoint{} to {} in {:.1f} s (seed {}{}); see it with: "
      "sieve inspect --model {}",
      family, ck.preset.empty() ? "" : " (preset " + ck.preset + ")", ck.dir, secs, ck.seed,
      ck.router_skew.enabled() ? ", router skew " + ck.router_skew.text() : "", ck.dir);
}

}  // namespace

void add_make_checkpoint_command(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "make-checkpoint",
      "Write a random-weight checkpoint in the Hugging Face layout (config.json + safetensors, "
      "sharded above --max-shard-gb) with a real family's architecture, for demos, tests and "
      "benchmarks. Weights are deterministic from --seed and scaled so activations stay O(1) and "
      "routing spreads tokens over the experts.");
  std::string presets;
  for (const std::string& p : random_checkpoint_presets())
    presets += (presets.empty() ? "" : ", ") + p;
  cmd->add_option("--out", o->ck.dir, "Directory to write (created; existing files replaced)")
      ->required();
  cmd->add_option("--like", o->ck.like,
                  "Family: " + supported_model_types_text() + " (default: the preset's, else " +
                      std::string(default_family().model_type) + ")")
      ->check(CLI::IsMember(supported_model_types()));
  cmd->add_option("--preset", o->ck.preset,
                  "A real model's shapes: " + presets + " (default: a tiny demo model)");
  for (const ShapeFlag& f : kShapeFlags) {
    cmd->add_option_function<int64_t>(
           f.flag, [o, field = f.field](int64_t v) { o->ck.*field = v; }, f.help)
        ->check(CLI::PositiveNumber);
  }
  cmd->add_flag_callback(
      "--tie-embeddings", [o]() { o->ck.tie_embeddings = true; },
      "Share the embedding table with the lm_head");
  cmd->add_flag_callback(
      "--untie-embeddings", [o]() { o->ck.tie_embeddings = false; },
      "Give the model its own lm_head");
  cmd->add_option("--dtype", o->dtype, "Stored dtype: bf16 or fp32")->capture_default_str();
  cmd->add_option("--seed", o->ck.seed, "Random seed")->capture_default_str();
  cmd->add_option("--max-shard-gb", o->max_shard_gb,
                  "Shard the weights into files of at most this many GB")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--tokenizer", o->tokenizer,
                  "Directory with a tokenizer.json (and tokenizer_config.json) to ship with the "
                  "model, so it takes text and chat prompts: the files are copied, the "
                  "vocabulary is sized to the tokenizer (unless --vocab is larger) and "
                  "bos/eos/pad token ids come from tokenizer_config.json")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--router-skew", o->router_skew,
                  "Synthetic routing skew: zipf:S scales the router row of each MoE layer's "
                  "expert of rank r by r^-S (ranks shuffled per layer), so a few experts are hot "
                  "and a long tail cold, as in trained MoE models (random routers are nearly "
                  "uniform; the README lists the top-8 share, Gini and max/mean each S gives). "
                  "Written into config.json as sieve_router_skew, so --load-format dummy makes "
                  "the same weights")
      ->capture_default_str();
  cmd->add_option("--threads", o->ck.threads, "Threads generating weights (0 = one per core)")
      ->capture_default_str();
  cmd->add_flag("--config-only", o->ck.config_only,
                "Write config.json (and the tokenizer) but no weights: run it with "
                "--load-format dummy, which makes the seed-0 weights in memory");
  cmd->callback([o]() { run(*o); });
}

}  // namespace sieve
