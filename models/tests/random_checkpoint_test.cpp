// make_random_checkpoint: every family's output opens and validates like a real checkpoint,
// config.json has the keys transformers writes, sharding kicks in above the limit, the seed
// alone decides the bytes, presets have the real models' shapes, and the weight scales give
// O(1) activations and spread-out routing.
#include "models/random_checkpoint.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/model_size.h"
#include "models/registry.h"
#include "tests/support/fixtures.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// All file names and contents in `dir`, for byte-for-byte comparison.
std::map<std::string, std::string> dir_contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    out[e.path().filename().string()] = read_text(e.path().string());
  }
  return out;
}

std::string write_random(RandomCheckpointOptions o, const std::string& tag) {
  o.dir = testing::make_temp_dir(tag);
  Status s = make_random_checkpoint(o);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return o.dir;
}

TEST(RandomCheckpointTest, EveryFamilyOpensAndValidates) {
  for (const std::string& like : supported_model_types()) {
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      SCOPED_TRACE(like + " " + dtype_name(dtype));
      RandomCheckpointOptions o;
      o.like = like;
      o.dtype = dtype;
      uint64_t last_done = 0, total = 0;
      o.progress = [&](uint64_t done, uint64_t t) {
        EXPECT_GE(done, last_done);
        last_done = done;
        total = t;
      };
      const std::string dir = write_random(o, "rand-" + like);
      auto md = open_model_dir(dir);
      ASSERT_TRUE(md.ok()) << md.status().to_string();
      EXPECT_EQ(md->config.model_type, like);
      EXPECT_EQ(md->config.checkpoint_dtype, dtype);
      EXPECT_EQ(md->checkpoint->files().size(), 1u);  // tiny: no sharding
      EXPECT_GT(total, 0u);
      EXPECT_EQ(last_done, total);
      EXPECT_EQ(md->checkpoint->total_bytes(), total);
      for (const auto& [name, t] : md->checkpoint->tensors())
        EXPECT_EQ(t.entry->dtype, dtype);
      EXPECT_EQ(md->checkpoint->files()[0]->metadata().at("format"), "pt");
    }
  }
}

// The keys config.json holds are those transformers wrote for the fixture of the same family.
TEST(RandomCheckpointTest, ConfigKeysMatchTransformers) {
  for (const std::string& like : supported_model_types()) {
    SCOPED_TRACE(like);
    RandomCheckpointOptions o;
    o.like = like;
    auto j = random_checkpoint_config(o);
    ASSERT_TRUE(j.ok()) << j.status().to_string();
    const json fixture = read_json(testing::fixture_path("models/" + like + "/config.json"));
    std::set<std::string> want, got;
    for (const auto& [k, v] : fixture.items())
      want.insert(k);
    for (const auto& [k, v] : j->items())
      got.insert(k);
    EXPECT_EQ(got, want);
    for (const auto& [k, v] : fixture.items()) {
      // Same JSON type per key (null where transformers writes null), numbers alike.
      const json& g = (*j)[k];
      EXPECT_TRUE(g.type() == v.type() || (g.is_number() && v.is_number())) << k;
    }
    EXPECT_EQ((*j)["dtype"], "bfloat16");
  }
}

TEST(RandomCheckpointTest, ConfigTextLooksLikeSavePretrained) {
  RandomCheckpointOptions o;
  o.like = "mixtral";
  const std::string dir = write_random(o, "rand-text");
  const std::string text = read_text(dir + "/config.json");
  // json.dumps(indent=2, sort_keys=True) + "\n", as PretrainedConfig.to_json_string writes it.
  EXPECT_EQ(text.substr(0, 38), "{\n  \"architectures\": [\n    \"MixtralFor");
  EXPECT_EQ(text.back(), '\n');
  EXPECT_NE(text.find("\"head_dim\": null"), std::string::npos);
  EXPECT_NE(text.find("\"rope_theta\": 1000000.0"), std::string::npos);
}

TEST(RandomCheckpointTest, ShardsAboveTheLimit) {
  RandomCheckpointOptions o;
  o.like = "olmoe";
  o.max_shard_bytes = 1 << 20;
  const std::string dir = write_random(o, "rand-shard");
  EXPECT_TRUE(fs::exists(dir + "/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors"));
  auto md = open_model_dir(dir);
  ASSERT_TRUE(md.ok()) << md.status().to_string();
  EXPECT_GT(md->checkpoint->files().size(), 1u);
  for (const auto& f : md->checkpoint->files()) {
    EXPECT_LE(f->file_size(), (1u << 20) + (64u << 10)) << f->path();  // limit + header
  }
}

TEST(RandomCheckpointTest, SameSeedSameBytes) {
  RandomCheckpointOptions o;
  o.like = "qwen3_moe";
  o.seed = 42;
  o.threads = 1;
  const auto a = dir_contents(write_random(o, "rand-seed-a"));
  o.threads = 3;  // the thread count must not matter
  const auto b = dir_contents(write_random(o, "rand-seed-b"));
  EXPECT_EQ(a, b);
  o.seed = 43;
  const auto c = dir_contents(write_random(o, "rand-seed-c"));
  EXPECT_EQ(a.at("config.json"), c.at("config.json"));
  EXPECT_NE(a.at("model.safetensors"), c.at("model.safetensors"));
}

TEST(RandomCheckpointTest, OverridesApply) {
  RandomCheckpointOptions o;
  o.like = "qwen3_moe";
  o.layers = 2;
  o.hidden = 96;
  o.heads = 6;
  o.kv_heads = 3;
  o.head_dim = 16;
  o.experts = 5;
  o.top_k = 3;
  o.moe_intermediate = 40;
  o.vocab = 300;
  o.tie_embeddings = true;
  o.dtype = DType::kF32;
  const std::string dir = write_random(o, "rand-override");
  auto md = open_model_dir(dir);
  ASSERT_TRUE(md.ok()) << md.status().to_string();
  const ModelConfig& c = md->config;
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.hidden_size, 96);
  EXPECT_EQ(c.num_heads, 6);
  EXPECT_EQ(c.num_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_experts, 5);
  EXPECT_EQ(c.top_k, 3);
  EXPECT_EQ(c.moe_intermediate_size, 40);
  EXPECT_EQ(c.vocab_size, 300);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(md->checkpoint->find("lm_head.weight"), nullptr);
}

TEST(RandomCheckpointTest, BadOptionsAreErrorsBeforeWriting) {
  const std::string dir = testing::make_temp_dir("rand-bad");
  auto expect_bad = [&](RandomCheckpointOptions o, const std::string& part) {
    o.dir = dir;
    Status s = make_random_checkpoint(o);
    EXPECT_FALSE(s.ok()) << part;
    EXPECT_NE(s.message().find(part), std::string::npos) << s.message();
  };
  RandomCheckpointOptions o;
  o.like = "llama";
  expect_bad(o, "'llama'");
  o = {};
  o.preset = "qwen3-235b";
  expect_bad(o, "unknown preset 'qwen3-235b'");
  o = {};
  o.preset = "mixtral-8x7b";
  o.like = "olmoe";
  expect_bad(o, "is a mixtral model");
  o = {};
  o.top_k = 9;  // tiny qwen3_moe has 8 experts
  expect_bad(o, "num_experts_per_tok (9)");
  o = {};
  o.like = "olmoe";
  o.head_dim = 48;
  expect_bad(o, "olmoe has no head_dim");
  o = {};
  o.dtype = DType::kF16;
  expect_bad(o, "fp32 or bf16");
  o = {};
  o.kv_heads = 3;
  expect_bad(o, "num_key_value_heads");
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(RandomCheckpointTest, PresetsHaveTheRealShapes) {
  const std::vector<std::string> want = {"qwen3-30b-a3b", "mixtral-8x7b", "olmoe-1b-7b"};
  for (const auto& name : want) {
    const auto& all = random_checkpoint_presets();
    EXPECT_NE(std::find(all.begin(), all.end(), name), all.end()) << name;
  }
  auto config = [](const std::string& preset) {
    RandomCheckpointOptions o;
    o.preset = preset;
    auto j = random_checkpoint_config(o);
    EXPECT_TRUE(j.ok()) << j.status().to_string();
    auto c = parse_model_config(*j);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return std::make_pair(*j, c.value());
  };

  const auto [qj, q] = config("qwen3-30b-a3b");
  EXPECT_EQ(qj["architectures"][0], "Qwen3MoeForCausalLM");
  EXPECT_EQ(q.hidden_size, 2048);
  EXPECT_EQ(q.num_layers, 48);
  EXPECT_EQ(q.num_heads, 32);
  EXPECT_EQ(q.num_kv_heads, 4);
  EXPECT_EQ(q.head_dim, 128);
  EXPECT_EQ(q.num_experts, 128);
  EXPECT_EQ(q.top_k, 8);
  EXPECT_EQ(q.moe_intermediate_size, 768);
  EXPECT_EQ(q.vocab_size, 151936);
  EXPECT_FALSE(q.tie_word_embeddings);
  EXPECT_EQ(qj["rope_theta"].get<double>(), 1e6);
  EXPECT_EQ(qj["rms_norm_eps"].get<double>(), 1e-6);
  EXPECT_TRUE(q.norm_topk_prob);
  EXPECT_EQ(qj["dtype"], "bfloat16");
  // 30.5B parameters, 3.3B active: the "30B-A3B" in the name.
  EXPECT_NEAR(static_cast<double>(count_params(q).total), 30.5e9, 0.2e9);
  // ModelSize::active leaves out the embedding table (a row lookup); Qwen's 3.3B counts it.
  EXPECT_NEAR(static_cast<double>(count_params(q).active + q.vocab_size * q.hidden_size), 3.3e9,
              0.1e9);

  const auto [mj, m] = config("mixtral-8x7b");
  EXPECT_EQ(mj["architectures"][0], "MixtralForCausalLM");
  EXPECT_EQ(m.hidden_size, 4096);
  EXPECT_EQ(m.num_layers, 32);
  EXPECT_EQ(m.num_heads, 32);
  EXPECT_EQ(m.num_kv_heads, 8);
  EXPECT_EQ(m.head_dim, 128);
  EXPECT_TRUE(mj["head_dim"].is_null());
  EXPECT_EQ(m.num_experts, 8);
  EXPECT_EQ(m.top_k, 2);
  EXPECT_EQ(m.moe_intermediate_size, 14336);
  EXPECT_EQ(m.vocab_size, 32000);
  EXPECT_NEAR(static_cast<double>(count_params(m).total), 46.7e9, 0.2e9);

  const auto [oj, ol] = config("olmoe-1b-7b");
  EXPECT_EQ(oj["architectures"][0], "OlmoeForCausalLM");
  EXPECT_EQ(ol.hidden_size, 2048);
  EXPECT_EQ(ol.num_layers, 16);
  EXPECT_EQ(ol.num_heads, 16);
  EXPECT_EQ(ol.num_kv_heads, 16);
  EXPECT_EQ(ol.num_experts, 64);
  EXPECT_EQ(ol.top_k, 8);
  EXPECT_EQ(ol.moe_intermediate_size, 1024);
  EXPECT_EQ(ol.vocab_size, 50304);
  EXPECT_FALSE(ol.norm_topk_prob);
  EXPECT_NEAR(static_cast<double>(count_params(ol).total), 6.9e9, 0.1e9);

  // A preset takes overrides like any other shape.
  RandomCheckpointOptions o;
  o.preset = "qwen3-30b-a3b";
  o.layers = 2;
  auto small = random_checkpoint_config(o);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ((*small)["num_hidden_layers"], 2);
  EXPECT_EQ((*small)["num_experts"], 128);
}

// Weights statistics: linear layers keep the input's RMS, norms are 1, routing is spread.
TEST(RandomCheckpointTest, WeightScalesKeepActivationsOrderOne) {
  RandomCheckpointOptions o;
  o.like = "qwen3_moe";
  o.dtype = DType::kF32;
  o.hidden = 256;
  o.experts = 16;
  const std::string dir = write_random(o, "rand-scale");
  auto md = open_model_dir(dir);
  ASSERT_TRUE(md.ok()) << md.status().to_string();
  const Checkpoint& ck = *md->checkpoint;
  auto load = [&](const std::string& name) {
    const CheckpointTensor* t = ck.find(name);
    EXPECT_NE(t, nullptr) << name;
    std::vector<float> v(static_cast<size_t>(t->entry->numel()));
    EXPECT_TRUE(ck.read(name, DType::kF32, v.data()).ok());
    return v;
  };
  auto stddev = [](const std::vector<float>& v) {
    double s = 0, s2 = 0;
    for (float x : v)
      s += x, s2 += double(x) * x;
    const double mean = s / v.size();
    return std::sqrt(s2 / v.size() - mean * mean);
  };
  const double H = 256;
  EXPECT_NEAR(stddev(load("model.embed_tokens.weight")), 1.0, 0.02);
  EXPECT_NEAR(stddev(load("model.layers.0.self_attn.q_proj.weight")) * std::sqrt(H), 1.0, 0.02);
  for (float x : load("model.layers.1.input_layernorm.weight"))
    ASSERT_EQ(x, 1.0f);
  for (float x : load("model.layers.1.self_attn.q_norm.weight"))
    ASSERT_EQ(x, 1.0f);
  // Residual outputs are shrunk by sqrt(2 * layers) so the stream does not grow with depth.
  const double down = stddev(load("model.layers.0.mlp.experts.3.down_proj.weight"));
  EXPECT_NEAR(down * std::sqrt(64.0) * std::sqrt(2.0 * 4), 1.0, 0.05);

  // Route random unit-RMS inputs (what the post-attention RMSNorm hands the router): the top-1
  // expert should vary from token to token and every expert should win sometimes.
  const std::vector<float> gate = load("model.layers.2.mlp.gate.weight");  // [16, 256]
  std::vector<int> wins(16, 0);
  uint64_t state = 12345;
  for (int token = 0; token < 2000; ++token) {
    std::vector<float> x(256);
    for (float& v : x) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      v = ((state >> 40) / 16777216.0f * 2 - 1) * std::sqrt(3.0f);
    }
    int best = 0;
    float best_logit = -1e30f;
    for (int e = 0; e < 16; ++e) {
      float logit = 0;
      for (int i = 0; i < 256; ++i)
        logit += gate[e * 256 + i] * x[i];
      if (logit > best_logit) best_logit = logit, best = e;
    }
    ++wins[best];
  }
  for (int e = 0; e < 16; ++e) {
    EXPECT_GT(wins[e], 2000 / 16 / 4) << "expert " << e << " almost never chosen";
    EXPECT_LT(wins[e], 2000 / 16 * 4) << "expert " << e << " dominates";
  }
}

// --router-skew zipf:S: config.json records it, each layer's router rows are scaled by r^-S
// in some order of its own, and every other tensor is the unskewed checkpoint's.
TEST(RandomCheckpointTest, RouterSkewScalesRouterRowsOnly) {
  RandomCheckpointOptions o;
  o.like = "olmoe";
  o.dtype = DType::kF32;
  o.hidden = 512;
  o.experts = 32;
  o.top_k = 4;
  const std::string plain = write_random(o, "rand-noskew");
  o.router_skew = *parse_router_skew("zipf:1.5");
  const std::string skewed = write_random(o, "rand-skew");
  EXPECT_EQ(read_json(skewed + "/config.json")[kRouterSkewKey], "zipf:1.5");
  EXPECT_FALSE(read_json(plain + "/config.json").contains(kRouterSkewKey));
  auto a = open_model_dir(plain);
  auto b = open_model_dir(skewed);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->router_skew.zipf_s, 1.5);
  EXPECT_FALSE(a->router_skew.enabled());
  auto load = [](const Checkpoint& ck, const std::string& name) {
    std::vector<float> v(static_cast<size_t>(ck.find(name)->entry->numel()));
    EXPECT_TRUE(ck.read(name, DType::kF32, v.data()).ok());
    return v;
  };
  std::vector<std::vector<int>> hot_order;
  for (const auto& [name, t] : a->checkpoint->tensors()) {
    const auto want = load(*a->checkpoint, name), got = load(*b->checkpoint, name);
    if (name.find("mlp.gate.weight") == std::string::npos) {
      EXPECT_EQ(got, want) << name;
      continue;
    }
    // Row RMS over 512 elements is within a few percent of bound/sqrt(3) × r^-1.5.
    std::vector<std::pair<double, int>> rms;
    double plain_rms = 0;
    for (int e = 0; e < 32; ++e) {
      double s = 0, p = 0;
      for (int i = 0; i < 512; ++i) {
        s += double(got[e * 512 + i]) * got[e * 512 + i];
        p += double(want[e * 512 + i]) * want[e * 512 + i];
      }
      rms.push_back({std::sqrt(s / 512), e});
      plain_rms += std::sqrt(p / 512) / 32;
    }
    std::sort(rms.rbegin(), rms.rend());
    std::vector<int> order;
    for (int r = 0; r < 32; ++r) {
      EXPECT_NEAR(rms[r].first / plain_rms, std::pow(r + 1.0, -1.5), 0.1 * std::pow(r + 1.0, -1.5))
          << name << " rank " << r;
      order.push_back(rms[r].second);
    }
    hot_order.push_back(order);
  }
  ASSERT_EQ(hot_order.size(), 4u);  // olmoe's tiny demo: every layer MoE
  EXPECT_NE(hot_order[0], hot_order[1]) << "each layer has its own hot experts";
  EXPECT_FALSE(parse_router_skew("zipf:-1").ok());
  EXPECT_FALSE(parse_router_skew("olmoe:7").ok());
  nlohmann::json bad = {{kRouterSkewKey, 1.2}};
  auto r = read_router_skew(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(kRouterSkewKey), std::string::npos);
}

}  // namespace
}  // namespace sieve
