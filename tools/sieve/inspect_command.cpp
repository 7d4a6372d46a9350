#include "tools/sieve/inspect_command.h"

#include <cstdio>
#include <map>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "tools/sieve/progress_bar.h"

namespace sieve {

nlohmann::json describe_model(const ModelDir& dir) {
  const ModelConfig& c = dir.config;
  std::map<std::string, uint64_t> bytes_by_dtype;
  for (const auto& [name, t] : dir.checkpoint->tensors()) {
    bytes_by_dtype[dtype_name(t.entry->dtype)] += t.entry->end - t.entry->begin;
  }
  nlohmann::json j = {
      {"path", dir.checkpoint->dir()},
      {"architecture", c.architecture},
      {"model_type", c.model_type},
      {"layers", c.num_layers},
      {"moe_layers", c.num_moe_layers()},
      {"hidden_size", c.hidden_size},
      {"attention_heads", c.num_heads},
      {"kv_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"experts", c.num_experts},
      {"experts_per_token", c.top_k},
      {"moe_intermediate_size", c.moe_intermediate_size},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_position_embeddings},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"params_total", c.total_params()},
      {"params_active_per_token", c.active_params()},
      {"checkpoint_dtype", dtype_name(c.checkpoint_dtype)},
      {"checkpoint_files", dir.checkpoint->files().size()},
      {"checkpoint_bytes_by_dtype", bytes_by_dtype},
      {"weight_bytes_fp32", c.total_params() * 4},
      {"weight_bytes_bf16", c.total_params() * 2},
      {"kv_bytes_per_token_fp32", c.kv_bytes_per_token(DType::kF32)},
      {"kv_bytes_per_token_bf16", c.kv_bytes_per_token(DType::kBF16)},
  };
  return j;
}

namespace {

void print_human(const nlohmann::json& j) {
  auto count = [](int64_t n) {
    char buf[32];
    if (n >= 1000000000)
      std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
    else if (n >= 1000000)
      std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
    else
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
    return std::string(buf);
  };
  std::printf("%s\n", j["path"].get<std::string>().c_str());
  std::printf("  architecture      %s (model_type %s)\n",
              j["architecture"].get<std::string>().c_str(),
              j["model_type"].get<std::string>().c_str());
  std::printf("  layers            %lld (%lld MoE), hidden %lld, vocab %lld, context %lld\n",
              j["layers"].get<long long>(), j["moe_layers"].get<long long>(),
              j["hidden_size"].get<long long>(), j["vocab_size"].get<long long>(),
              j["max_position_embeddings"].get<long long>());
  std::printf("  attention         %lld heads, %lld KV heads × %lld\n",
              j["attention_heads"].get<long long>(), j["kv_heads"].get<long long>(),
              j["head_dim"].get<long long>());
  std::printf("  experts           %lld, top-%lld, intermediate %lld\n",
              j["experts"].get<long long>(), j["experts_per_token"].get<long long>(),
              j["moe_intermediate_size"].get<long long>());
  std::printf("  parameters        %s total, %s active per token\n",
              count(j["params_total"].get<int64_t>()).c_str(),
              count(j["params_active_per_token"].get<int64_t>()).c_str());
  std::string files;
  for (const auto& [dt, b] : j["checkpoint_bytes_by_dtype"].items()) {
    files += (files.empty() ? "" : ", ") + format_bytes(b.get<double>()) + " " + dt;
  }
  std::printf("  checkpoint        %s in %lld file(s)\n", files.c_str(),
              j["checkpoint_files"].get<long long>());
  std::printf("  weights in memory %s as fp32, %s as bf16\n",
              format_bytes(j["weight_bytes_fp32"].get<double>()).c_str(),
              format_bytes(j["weight_bytes_bf16"].get<double>()).c_str());
  std::printf("  KV cache          %s per token (fp32), %s (bf16)\n",
              format_bytes(j["kv_bytes_per_token_fp32"].get<double>()).c_str(),
              format_bytes(j["kv_bytes_per_token_bf16"].get<double>()).c_str());
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  struct Opts {
    std::string model;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Describe a checkpoint without loading its weights: architecture, layers, experts and "
      "top-k, parameters total and active per token, bytes per dtype, KV bytes per token. "
      "Runs the same validation as loading and reports the first problem.");
  cmd->add_option("--model", o->model, "Model directory (config.json + *.safetensors)")->required();
  cmd->add_flag("--json", o->json, "Print one JSON object instead of text");
  cmd->callback([o]() {
    auto dir = open_model_dir(o->model);
    if (!dir.ok()) {
      spdlog::error("{}", dir.status().message());
      throw CLI::RuntimeError(1);
    }
    const nlohmann::json j = describe_model(*dir);
    if (o->json) {
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      print_human(j);
    }
  });
}

}  // namespace sieve
