#include "tools/sieve/bench/workload.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

namespace sieve::bench {
namespace {

using json = nlohmann::json;

Result<std::vector<WorkItem>> read_dataset(const WorkloadOptions& opts) {
  std::ifstream in(opts.dataset_path);
  if (!in) return not_found("--dataset-path: cannot open " + opts.dataset_path);
  std::vector<WorkItem> items;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line) && static_cast<int>(items.size()) < opts.num_prompts) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = opts.dataset_path + ":" + std::to_string(line_no) + ": ";
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return invalid_argument(where + "not a JSON object");
    WorkItem item;
    item.output_len = opts.output_len;
    if (j.contains("output_len")) {
      if (!j["output_len"].is_number_integer() || j["output_len"].get<int64_t>() < 1) {
        return invalid_argument(where + "\"output_len\" must be a positive integer");
      }
      item.output_len = j["output_len"].get<int64_t>();
    }
    if (j.contains("messages") && j["messages"].is_array()) {
      item.chat = true;
      item.prompt = j["messages"];
    } else if (j.contains("prompt") && j["prompt"].is_string()) {
      item.prompt = j["prompt"];
    } else if (j.contains("prompt") && j["prompt"].is_array()) {
      for (const json& id : j["prompt"]) {
        if (!id.is_number_integer()) {
          return invalid_argument(where + "\"prompt\" must be text or a list of token ids");
        }
      }
      item.prompt = j["prompt"];
      item.expected_prompt_len = static_cast<int64_t>(j["prompt"].size());
    } else {
      return invalid_argument(where + "needs \"prompt\" (text or token ids) or \"messages\"");
    }
    items.push_back(std::move(item));
  }
  if (items.empty()) return invalid_argument("--dataset-path: no prompts in " + opts.dataset_path);
  // Fewer lines than --num-prompts: cycle through them.
  const size_t distinct = items.size();
  for (size_t i = 0; static_cast<int>(items.size()) < opts.num_prompts; ++i)
    items.push_back(items[i % distinct]);
  return items;
}

}  // namespace

Result<LengthDist> parse_length_dist(const std::string& name) {
  if (name == "fixed") return LengthDist::kFixed;
  if (name == "uniform") return LengthDist::kUniform;
  if (name == "normal") return LengthDist::kNormal;
  return invalid_argument("--length-dist must be fixed, uniform or normal, got '" + name + "'");
}

IdRange token_id_range(int64_t vocab_size) {
  if (vocab_size <= 0) return {1000, 30000};
  const int64_t hi = std::min<int64_t>(30000, vocab_size);
  return {std::min<int64_t>(1000, hi / 2), hi};
}

std::vector<int64_t> draw_lengths(LengthDist dist, int64_t mean, double range_ratio, int n,
                                  uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> out;
  out.reserve(n);
  const double r = std::max(0.0, range_ratio);
  for (int i = 0; i < n; ++i) {
    double len = static_cast<double>(mean);
    if (dist == LengthDist::kUniform) {
      const auto lo = static_cast<int64_t>(std::floor(mean * (1 - std::min(r, 1.0))));
      const auto hi = static_cast<int64_t>(std::ceil(mean * (1 + r)));
      len = static_cast<double>(std::uniform_int_distribution<int64_t>(lo, hi)(rng));
    } else if (dist == LengthDist::kNormal) {
      len = std::round(std::normal_distribution<double>(mean, mean * r)(rng));
    }
    out.push_back(std::max<int64_t>(1, static_cast<int64_t>(len)));
  }
  return out;
}

Result<std::vector<WorkItem>> make_workload(const WorkloadOptions& opts) {
  if (opts.num_prompts < 1) return invalid_argument("--num-prompts must be at least 1");
  if (opts.output_len < 1) return invalid_argument("--output-len must be at least 1");
  if (!opts.dataset_path.empty()) return read_dataset(opts);
  if (opts.input_len < 1) return invalid_argument("--input-len must be at least 1");
  if (opts.shared_prefix_len < 0) return invalid_argument("--shared-prefix-len must be >= 0");
  const IdRange ids = token_id_range(opts.vocab_size);
  // Separate streams so that changing one length does not change the others' draws.
  const auto in_lens = draw_lengths(opts.dist, opts.input_len, opts.range_ratio, opts.num_prompts,
                                    opts.seed * 3 + 1);
  const auto out_lens = draw_lengths(opts.dist, opts.output_len, opts.range_ratio, opts.num_prompts,
                                     opts.seed * 3 + 2);
  std::mt19937_64 rng(opts.seed * 3 + 3);
  std::uniform_int_distribution<int64_t> pick(ids.lo, ids.hi - 1);
  std::vector<int64_t> prefix(opts.shared_prefix_len);
  for (int64_t& id : prefix)
    id = pick(rng);
  std::vector<WorkItem> items(opts.num_prompts);
  for (int i = 0; i < opts.num_prompts; ++i) {
    std::vector<int64_t> prompt = prefix;
    for (int64_t k = 0; k < in_lens[i]; ++k)
      prompt.push_back(pick(rng));
    items[i].expected_prompt_len = static_cast<int64_t>(prompt.size());
    items[i].prompt = std::move(prompt);
    items[i].output_len = out_lens[i];
  }
  return items;
}

}  // namespace sieve::bench
