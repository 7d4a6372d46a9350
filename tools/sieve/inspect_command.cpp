#include "tools/sieve/inspect_command.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <tuple>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "engine/checkpoint/quantization.h"
#include "engine/experts/expert_placement.h"
#include "models/blocks/weight_source.h"
#include "models/model_size.h"
#include "tools/sieve/progress_bar.h"

namespace sieve {
namespace {

// The checkpoint's quantization_config as read, with a one-line description.
nlohmann::json quantization_json(const QuantizationConfig& q) {
  nlohmann::json j = {{"method", quant_method_name(q.method)}, {"describe", q.describe()}};
  if (q.method == QuantMethod::kFp8) j["weight_block_size"] = {q.block_n, q.block_k};
  if (q.method == QuantMethod::kMxfp4) j["modules_to_not_convert"] = q.modules_to_not_convert;
  return j;
}

// Which part of the model a declared tensor belongs to, for the storage summary.
const char* tensor_group(const DeclaredTensor& t) {
  if (t.name == "lm_head.weight") return "lm_head";
  switch (t.init) {
    case InitRole::kEmbedding:
      return "embeddings";
    case InitRole::kNorm:
      return "norms";
    case InitRole::kRouter:
      return "routers";
    default:
      return t.use == ParamUse::kRoutedExpert ? "routed experts" : "attention and dense MLPs";
  }
}

// Per group of tensors, how they are stored: format, the dtype of the values, and the bytes of
// values and of scales apart. A group stored two ways gets a row per way.
nlohmann::json describe_storage(const ModelDir& dir) {
  struct Row {
    int64_t tensors = 0;
    uint64_t value_bytes = 0, scale_bytes = 0;
  };
  std::map<std::tuple<std::string, std::string, std::string, std::string>, Row> rows;
  std::vector<std::string> order;
  for (const DeclaredTensor& t : declared_tensors(dir.config)) {
    auto m = dir.checkpoint->stored_matrix(t.name);
    if (!m.ok()) continue;  // validation already passed; nothing to count
    const std::string group = tensor_group(t);
    if (std::find(order.begin(), order.end(), group) == order.end()) order.push_back(group);
    const std::string scale_dtype = m->format == StoredFormat::kPlain ? ""
                                    : m->format == StoredFormat::kMxfp4
                                        ? "E8M0"
                                        : dtype_name(m->scale_dtype);
    Row& r = rows[{group, stored_format_name(m->format), dtype_name(m->dtype), scale_dtype}];
    ++r.tensors;
    r.value_bytes += m->value_bytes;
    r.scale_bytes += m->scale_bytes;
  }
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& group : order) {
    for (const auto& [key, r] : rows) {
      if (std::get<0>(key) != group) continue;
      out.push_back({{"group", group},
                     {"format", std::get<1>(key)},
                     {"value_dtype", std::get<2>(key)},
                     {"scale_dtype", std::get<3>(key)},
                     {"tensors", r.tensors},
                     {"value_bytes", r.value_bytes},
                     {"scale_bytes", r.scale_bytes}});
    }
  }
  return out;
}

// What the CPU backend holds for a quantized checkpoint it keeps quantized: the stored bytes of
// each quantized matrix (its packing has the same values and scales), the rest at bf16 (vectors
// at fp32), as the loader holds them.
uint64_t kept_quantized_bytes(const ModelDir& dir) {
  uint64_t total = 0;
  for (const DeclaredTensor& t : declared_tensors(dir.config)) {
    auto m = dir.checkpoint->stored_matrix(t.name);
    if (m.ok() && m->format != StoredFormat::kPlain) {
      total += m->value_bytes + m->scale_bytes;
    } else {
      total += held_bytes(t.shape, DType::kBF16);
    }
  }
  return total;
}

}  // namespace

nlohmann::json describe_model(const ModelDir& dir) {
  const ModelConfig& c = dir.config;
  const ModelSize size = count_params(c);
  const KvLayout kv = kv_layout(c);
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
      {"params_total", size.total},
      {"params_active_per_token", size.active},
      {"checkpoint_dtype", dtype_name(c.checkpoint_dtype)},
      {"checkpoint_files", dir.checkpoint->files().size()},
      {"checkpoint_bytes_by_dtype", bytes_by_dtype},
      {"quantization", quantization_json(dir.checkpoint->quantization())},
      {"storage", describe_storage(dir)},
      {"weight_bytes_fp32", size.total * 4},
      {"weight_bytes_bf16", size.total * 2},
      {"kv_bytes_per_token_fp32", kv.bytes_per_token(DType::kF32)},
      {"kv_bytes_per_token_bf16", kv.bytes_per_token(DType::kBF16)},
  };
  if (dir.checkpoint->quantization().quantized())
    j["weight_bytes_kept_quantized"] = kept_quantized_bytes(dir);
  return j;
}

nlohmann::json describe_expert_parallel(const ModelConfig& c, int size) {
  const ModelSize model_size = count_params(c);
  const KvLayout kv = kv_layout(c);
  const int64_t replicated = model_size.replicated();
  nlohmann::json ranks = nlohmann::json::array();
  std::string placement;
  auto add_rank = [&](int r, const std::vector<int64_t>& held, int64_t params) {
    // ExpertPlacement::contiguous gives every rank one range: [first, last], inclusive.
    nlohmann::json experts = nlohmann::json::array();
    if (!held.empty()) {
      SIEVE_CHECK_EQ(held.back() - held.front() + 1, static_cast<int64_t>(held.size()));
      experts = {held.front(), held.back()};
    }
    ranks.push_back({
        {"rank", r},
        {"experts", experts},
        {"num_experts", held.size()},
        {"params", params},
        {"expert_params", params - replicated},
        {"weight_bytes_bf16", params * 2},
        {"weight_bytes_fp32", params * 4},
        {"weight_bytes_checkpoint_dtype",
         params * static_cast<int64_t>(dtype_size(c.checkpoint_dtype))},
        {"kv_bytes_per_token_bf16", kv.bytes_per_token(DType::kBF16)},
        {"kv_bytes_per_token_fp32", kv.bytes_per_token(DType::kF32)},
    });
  };
  if (c.num_experts == 0) {
    // No experts at all (check_expert_parallel_size allows only size 1): one rank, everything.
    placement = "no experts: everything on rank 0";
    add_rank(0, {}, model_size.total);
  } else {
    const ExpertPlacement p = ExpertPlacement::contiguous(c.num_experts, size);
    placement = p.describe();
    for (int r = 0; r < size; ++r)
      add_rank(r, p.experts_of(r), params_on_rank(c, p, r));
  }
  return {
      {"size", size},
      {"placement", placement},
      {"replicated_params", replicated},
      {"ranks", ranks},
  };
}

namespace {

void print_storage(const nlohmann::json& j) {
  const auto& q = j["quantization"];
  std::printf("  quantization      %s\n", q["describe"].get<std::string>().c_str());
  for (const auto& r : j["storage"]) {
    const auto scales = r["scale_bytes"].get<uint64_t>();
    const std::string dt = r["value_dtype"].get<std::string>();
    std::string bytes = format_bytes(r["value_bytes"].get<double>()) + " " + dt;
    if (r["format"] == "fp8-block") {
      bytes = "values " + bytes + " + scales " + format_bytes(static_cast<double>(scales)) + " F32";
    } else if (r["format"] == "mxfp4") {
      bytes =
          "blocks " + bytes + " + scales " + format_bytes(static_cast<double>(scales)) + " E8M0";
    }
    std::printf("    %-26s %5lld tensors  %-9s %s\n", r["group"].get<std::string>().c_str(),
                r["tensors"].get<long long>(), r["format"].get<std::string>().c_str(),
                bytes.c_str());
  }
}

void print_expert_parallel(const nlohmann::json& ep, const std::string& checkpoint_dtype) {
  std::printf(
      "  expert parallel   %lld rank(s), attention/norms/routers/embeddings replicated: %s\n",
      ep["size"].get<long long>(), ep["placement"].get<std::string>().c_str());
  for (const auto& r : ep["ranks"]) {
    const auto& e = r["experts"];
    std::string experts = "none";
    if (!e.empty()) {
      const auto first = e[0].get<int64_t>(), last = e[1].get<int64_t>();
      experts = std::to_string(first) + (last > first ? "-" + std::to_string(last) : "");
    }
    std::printf(
        "    rank %-4lld       experts %s (%lld): %s as bf16, %s as fp32, %s as %s; "
        "KV %s per token (bf16)\n",
        r["rank"].get<long long>(), experts.c_str(), r["num_experts"].get<long long>(),
        format_bytes(r["weight_bytes_bf16"].get<double>()).c_str(),
        format_bytes(r["weight_bytes_fp32"].get<double>()).c_str(),
        format_bytes(r["weight_bytes_checkpoint_dtype"].get<double>()).c_str(),
        checkpoint_dtype.c_str(), format_bytes(r["kv_bytes_per_token_bf16"].get<double>()).c_str());
  }
}

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
  print_storage(j);
  std::printf("  weights in memory %s as fp32, %s as bf16",
              format_bytes(j["weight_bytes_fp32"].get<double>()).c_str(),
              format_bytes(j["weight_bytes_bf16"].get<double>()).c_str());
  if (j.contains("weight_bytes_kept_quantized")) {
    std::printf(", %s kept quantized (CPU backend; the rest at bf16)",
                format_bytes(j["weight_bytes_kept_quantized"].get<double>()).c_str());
  }
  std::printf("\n");
  std::printf("  KV cache          %s per token (fp32), %s (bf16)\n",
              format_bytes(j["kv_bytes_per_token_fp32"].get<double>()).c_str(),
              format_bytes(j["kv_bytes_per_token_bf16"].get<double>()).c_str());
  if (j.contains("expert_parallel")) {
    print_expert_parallel(j["expert_parallel"], j["checkpoint_dtype"].get<std::string>());
  }
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  struct Opts {
    std::string model;
    bool json = false;
    int expert_parallel_size = 1;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Describe a checkpoint without loading its weights: architecture, layers, experts and "
      "top-k, parameters total and active per token, bytes per dtype, the quantization "
      "(config.json's quantization_config) and how each group of tensors is stored (plain, "
      "fp8-block or mxfp4, with the bytes of values and of scales apart), KV bytes per token. "
      "Runs the same validation as loading and reports the first problem.");
  cmd->add_option("--model", o->model, "Model directory (config.json + *.safetensors)")->required();
  cmd->add_flag("--json", o->json, "Print one JSON object instead of text");
  CLI::Option* ep_opt = cmd->add_option(
      "--expert-parallel-size", o->expert_parallel_size,
      "Also show what each of N ranks holds when every MoE layer's experts are split over N "
      "ranks in contiguous ranges (attention, norms, routers, embeddings and lm_head replicated "
      "on every rank): its experts, weight bytes and KV bytes per token. Experts not divisible "
      "by N: the first E % N ranks hold one more");
  cmd->callback([o, ep_opt]() {
    auto dir = open_model_dir(o->model);
    if (!dir.ok()) {
      spdlog::error("{}", dir.status().message());
      throw CLI::RuntimeError(1);
    }
    nlohmann::json j = describe_model(*dir);
    if (ep_opt->count() > 0) {
      const Status ep = dir->config.check_expert_parallel_size(o->expert_parallel_size);
      if (!ep.ok()) {
        spdlog::error("{}", ep.message());
        throw CLI::RuntimeError(1);
      }
      j["expert_parallel"] = describe_expert_parallel(dir->config, o->expert_parallel_size);
    }
    if (o->json) {
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      print_human(j);
    }
  });
}

}  // namespace sieve
