// The cases of sieve-moe-table: three real models' expert shapes and two routings, drawn on the
// host from a seed so a case is the same on every run (and the JSON's counts say what it was).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace sieve::cuda::moe_table {

struct ModelShape {
  const char* key;    // the --shapes name: the model's, not a config.json model_type
  const char* model;  // what it stands for
  int64_t experts, top_k, hidden, inter;
};
inline constexpr ModelShape kModelShapes[] = {
    {"qwen3-30b-a3b", "Qwen3-30B-A3B", 128, 8, 2048, 768},
    {"gpt-oss-120b", "gpt-oss-120b-like bf16", 128, 4, 2880, 2880},
    {"mixtral-8x7b", "Mixtral-8x7B", 8, 2, 4096, 14336},
};
const ModelShape* find_shape(std::string_view key);  // nullptr when unknown

// Bytes of one expert's weights (gate, up, down; bf16).
inline double expert_bytes(const ModelShape& s) {
  return 3.0 * s.hidden * s.inter * 2;
}

enum class Routing {
  kUniform,  // top_k distinct experts per token, uniformly
  kZipf,     // P(expert of rank r) ∝ 1/r^1.2 over a random ranking; top_k distinct draws
};
const char* routing_name(Routing r);
bool parse_routing(std::string_view name, Routing* out);

struct RoutingSet {
  std::vector<int32_t> ids;     // [tokens, top_k]
  std::vector<float> weights;   // [tokens, top_k], positive, each row sums to 1
  std::vector<int32_t> counts;  // [experts] assignments per expert
  int64_t experts_hit = 0;      // experts with at least one assignment
};
RoutingSet make_routing(const ModelShape& s, int64_t tokens, Routing r, uint64_t seed);

// ids relabelled e → (e + shift) mod experts: the same group sizes on other experts' weights.
std::vector<int32_t> shift_experts(const std::vector<int32_t>& ids, int64_t shift, int64_t experts);
// counts of the relabelled routing: counts'[(e + shift) mod experts] = counts[e].
std::vector<int32_t> shift_counts(const std::vector<int32_t>& counts, int64_t shift);

// Reference tokens: min(tokens, n) indices spread evenly over [0, tokens), first and last included.
std::vector<int32_t> sample_tokens(int64_t tokens, int64_t n);

}  // namespace sieve::cuda::moe_table
