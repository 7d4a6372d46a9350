#include "tools/sieve/make_checkpoint_command.h"

#include <chrono>
#include <memory>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "models/random_checkpoint.h"
#include "tools/sieve/progress_bar.h"

namespace sieve {
namespace {

struct Opts {
  RandomCheckpointOptions ck;
  std::string dtype = "bf16";
  double max_shard_gb = 5.0;
  // CLI11 fills plain values; unset flags leave the preset's shape alone.
  int64_t layers = 0, hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, experts = 0, top_k = 0,
          moe_intermediate = 0, vocab = 0;
  bool tie = false, untie = false;
};

void run(Opts& o) {
  RandomCheckpointOptions& ck = o.ck;
  auto set = [](std::optional<int64_t>& dst, int64_t v) {
    if (v > 0) dst = v;
  };
  set(ck.layers, o.layers);
  set(ck.hidden, o.hidden);
  set(ck.heads, o.heads);
  set(ck.kv_heads, o.kv_heads);
  set(ck.head_dim, o.head_dim);
  set(ck.experts, o.experts);
  set(ck.top_k, o.top_k);
  set(ck.moe_intermediate, o.moe_intermediate);
  set(ck.vocab, o.vocab);
  if (o.tie) ck.tie_embeddings = true;
  if (o.untie) ck.tie_embeddings = false;
  if (o.dtype == "fp32" || o.dtype == "float32") {
    ck.dtype = DType::kF32;
  } else if (o.dtype == "bf16" || o.dtype == "bfloat16") {
    ck.dtype = DType::kBF16;
  } else {
    spdlog::error("--dtype must be fp32 or bf16, got '{}'", o.dtype);
    throw CLI::RuntimeError(1);
  }
  ck.max_shard_bytes = static_cast<uint64_t>(o.max_shard_gb * 1e9);

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
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    throw CLI::RuntimeError(1);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info(
      "wrote a random-weight {} checkpoint{} to {} in {:.1f} s (seed {}); see it with: "
      "sieve inspect --model {}",
      ck.like.empty() ? "qwen3_moe" : ck.like,
      ck.preset.empty() ? "" : " (preset " + ck.preset + ")", ck.dir, secs, ck.seed, ck.dir);
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
                  "Family: qwen3_moe, mixtral or olmoe (default: the preset's, else qwen3_moe)")
      ->check(CLI::IsMember({"qwen3_moe", "mixtral", "olmoe"}));
  cmd->add_option("--preset", o->ck.preset,
                  "A real model's shapes: " + presets + " (default: a tiny demo model)");
  cmd->add_option("--layers", o->layers, "Override: decoder layers");
  cmd->add_option("--hidden", o->hidden, "Override: hidden size");
  cmd->add_option("--heads", o->heads, "Override: attention heads");
  cmd->add_option("--kv-heads", o->kv_heads, "Override: key/value heads");
  cmd->add_option("--head-dim", o->head_dim, "Override: features per head");
  cmd->add_option("--experts", o->experts, "Override: experts per MoE layer");
  cmd->add_option("--top-k", o->top_k, "Override: experts per token");
  cmd->add_option("--moe-intermediate", o->moe_intermediate, "Override: expert intermediate size");
  cmd->add_option("--vocab", o->vocab, "Override: vocabulary size");
  cmd->add_flag("--tie-embeddings", o->tie, "Share the embedding table with the lm_head");
  cmd->add_flag("--untie-embeddings", o->untie, "Give the model its own lm_head");
  cmd->add_option("--dtype", o->dtype, "Stored dtype: bf16 or fp32")->capture_default_str();
  cmd->add_option("--seed", o->ck.seed, "Random seed")->capture_default_str();
  cmd->add_option("--max-shard-gb", o->max_shard_gb,
                  "Shard the weights into files of at most this many GB")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", o->ck.threads, "Threads generating weights (0 = one per core)")
      ->capture_default_str();
  cmd->callback([o]() { run(*o); });
}

}  // namespace sieve
