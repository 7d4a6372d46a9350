#include "tools/sieve/make_checkpoint_command.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/text/tokenizer/tokenizer.h"
#include "models/quantized_checkpoint.h"
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
  std::string quantization = "none";  // none, fp8, mxfp4
  std::string fp8_block = "128x128";
  std::string from;  // an existing checkpoint to rewrite instead of random weights
};

// --quantization and --fp8-block → the config the writer takes.
Result<QuantizationConfig> parse_quantization_flags(const Opts& o) {
  QuantizationConfig q;
  if (o.quantization == "none") return q;
  if (o.quantization == "mxfp4") {
    q.method = QuantMethod::kMxfp4;
    return q;
  }
  if (o.quantization != "fp8") {
    return invalid_argument("--quantization must be none, fp8 or mxfp4, got '" + o.quantization +
                            "'");
  }
  q.method = QuantMethod::kFp8;
  long long rows = 0, cols = 0;
  char x = 0, extra = 0;
  if (std::sscanf(o.fp8_block.c_str(), "%lld%c%lld%c", &rows, &x, &cols, &extra) != 3 || x != 'x' ||
      rows <= 0 || cols <= 0) {
    return invalid_argument(
        "--fp8-block must be ROWSxCOLUMNS with positive sizes (e.g. "
        "128x128), got '" +
        o.fp8_block + "'");
  }
  q.block_n = rows;
  q.block_k = cols;
  return q;
}

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

// --from: the checkpoint at o.from rewritten to --out (quantized, or plain and dequantized), with
// its tokenizer files.
void run_convert(Opts& o, const QuantizationConfig& quant) {
  ConvertCheckpointOptions c;
  c.from = o.from;
  c.dir = o.ck.dir;
  c.dtype = o.ck.dtype;
  c.quant = quant;
  c.max_shard_bytes = o.ck.max_shard_bytes;
  std::unique_ptr<ProgressBar> live;
  c.progress = [&live](uint64_t done, uint64_t total) {
    if (!live) {
      live = std::make_unique<ProgressBar>("Writing weights", static_cast<int64_t>(total));
      live->show_as_bytes();
    }
    live->update(static_cast<int64_t>(done));
  };
  const auto t0 = std::chrono::steady_clock::now();
  Status s = convert_checkpoint(c);
  if (live) live->finish();
  if (s.ok()) s = copy_tokenizer_files(o.from, c.dir);
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    throw CLI::RuntimeError(1);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("wrote {} as {} to {} in {:.1f} s; see it with: sieve inspect --model {}", o.from,
               quant.quantized() ? quant.describe() + " (other tensors " + o.dtype + ")"
                                 : "plain " + o.dtype + " (dequantized where it was quantized)",
               c.dir, secs, c.dir);
}

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
  auto quant = parse_quantization_flags(o);
  if (!quant.ok()) {
    spdlog::error("{}", quant.status().message());
    throw CLI::RuntimeError(1);
  }
  if (!o.from.empty()) {
    // The source decides the architecture and the weights; a flag shaping random ones would be
    // silently ignored.
    if (!ck.preset.empty() || !ck.like.empty() || !o.tokenizer.empty() || ck.config_only ||
        o.router_skew != "none") {
      spdlog::error(
          "--from takes its model from the checkpoint: drop --preset, --like, "
          "--tokenizer, --router-skew and --config-only");
      throw CLI::RuntimeError(1);
    }
    run_convert(o, *quant);
    return;
  }
  ck.quantization = *quant;
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
      "wrote a random-weight {} checkpoint{} to {} in {:.1f} s (seed {}{}{}); see it with: "
      "sieve inspect --model {}",
      family, ck.preset.empty() ? "" : " (preset " + ck.preset + ")", ck.dir, secs, ck.seed,
      ck.router_skew.enabled() ? ", router skew " + ck.router_skew.text() : "",
      ck.quantization.quantized() ? ", " + ck.quantization.describe() : "", ck.dir);
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
  cmd->add_option("--quantization", o->quantization,
                  "Store the projections quantized as releases do: fp8 (E4M3, one fp32 scale "
                  "per --fp8-block block = amax / 448, config.json quantization_config as "
                  "DeepSeek-V3's) or mxfp4 (E2M1 in groups of 32 with an E8M0 scale each, as "
                  "gpt-oss's). Quantized: attention q/k/v/o, the experts' gate/up/down and dense "
                  "MLPs; left at --dtype: embeddings, lm_head, norms and the routers")
      ->check(CLI::IsMember({"none", "fp8", "mxfp4"}))
      ->capture_default_str();
  cmd->add_option("--fp8-block", o->fp8_block,
                  "fp8 block size ROWSxCOLUMNS (weight_block_size; edge blocks may be partial)")
      ->capture_default_str();
  cmd->add_option("--from", o->from,
                  "Rewrite this existing checkpoint instead of making random weights (its "
                  "tokenizer files are copied): with --quantization, a quantized copy; without, "
                  "a plain copy at --dtype, dequantized where the source is quantized")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--config-only", o->ck.config_only,
                "Write config.json (and the tokenizer) but no weights: run it with "
                "--load-format dummy, which makes the seed-0 weights in memory");
  cmd->callback([o]() { run(*o); });
}

}  // namespace sieve
