// Routing through the `sieve` binary: --record-routing on run, serve and bench throughput
// (the recorded counts are transformers' own routing of the fixtures), --router-skew on
// make-checkpoint and dummy loads (the same weights either way, skewed as the README's
// calibration table says), and `sieve bench trace` (deterministic, describing any trace).
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/experts/routing_synth.h"
#include "engine/experts/routing_trace.h"
#include "models/registry.h"
#include "tests/support/fixtures.h"
#include "tests/support/subprocess.h"

namespace sieve::testing {
namespace {

using nlohmann::json;

Proc run_sieve(const std::string& args) {
  return run_binary(SIEVE_BINARY, args);
}

RoutingTrace read_trace(const std::string& path) {
  auto t = read_routing_trace(path);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? *t : RoutingTrace{};
}

// Every layer's counts summed over the whole trace: [moe layer][expert].
std::vector<std::vector<int64_t>> totals(const RoutingTrace& t) {
  std::vector<std::vector<int64_t>> out(t.header.moe_layers.size(),
                                        std::vector<int64_t>(t.header.num_experts, 0));
  for (const RoutingStep& s : t.steps) {
    for (size_t l = 0; l < out.size(); ++l) {
      for (int64_t e = 0; e < t.header.num_experts; ++e)
        out[l][e] += s.counts[l][e];
    }
  }
  return out;
}

// The first step of `sieve run` on a fixture's first prompt is its prefill: its recorded counts
// are the counts of the expert ids transformers chose for that prompt, layer by layer.
TEST(RecordRouting, RunRecordsTransformersRouting) {
  for (const std::string& family : supported_model_types()) {
    SCOPED_TRACE(family);
    const std::string model = fixture_path("models/" + family);
    std::ifstream gin(model + "/golden.json");
    const json golden = json::parse(gin);
    const std::string dir = make_temp_dir("rec-run-" + family);
    std::ofstream(dir + "/in.jsonl") << json{{"prompt_token_ids", golden["prompts"][0]},
                                             {"max_tokens", 4},
                                             {"temperature", 0},
                                             {"ignore_eos", true}}
                                            .dump()
                                     << "\n";
    Proc p = run_sieve("run --model " + model + " --input " + dir + "/in.jsonl --output " + dir +
                       "/out.jsonl --threads 1 --record-routing " + dir + "/trace.jsonl");
    ASSERT_EQ(p.code, 0) << p.err;
    EXPECT_NE(p.err.find("routing trace: 4 steps in " + dir + "/trace.jsonl"), std::string::npos)
        << p.err;
    const RoutingTrace t = read_trace(dir + "/trace.jsonl");
    EXPECT_EQ(t.header.model_type, family);
    EXPECT_NE(t.header.source.find("recorded by sieve from " + model), std::string::npos);
    const auto& want = golden["router_prompt0"];
    ASSERT_EQ(t.header.moe_layers.size(), want.size());
    ASSERT_EQ(t.steps.size(), 4u);  // the prefill, then three decodes
    const int64_t prompt_len = static_cast<int64_t>(golden["prompts"][0].size());
    EXPECT_EQ(t.steps[0].tokens, prompt_len);
    for (size_t l = 0; l < want.size(); ++l) {
      EXPECT_EQ(t.header.moe_layers[l], want[l]["layer"].get<int64_t>());
      std::vector<int32_t> counts(t.header.num_experts, 0);
      for (const auto& token : want[l]["topk_ids"]) {
        for (const auto& e : token)
          ++counts[e.get<int>()];
      }
      EXPECT_EQ(t.steps[0].counts[l], counts) << "layer " << l;
    }
    for (size_t s = 1; s < 4; ++s)
      EXPECT_EQ(t.steps[s].tokens, 1) << "decode step " << s;
  }
}

TEST(RecordRouting, BadFlagsFailBeforeTheModelLoads) {
  const std::string model = fixture_path("models/qwen3_moe");
  const std::string dir = make_temp_dir("rec-bad");
  std::ofstream(dir + "/in.jsonl") << R"({"prompt_token_ids": [1, 2], "max_tokens": 1})"
                                   << "\n";
  const std::string run =
      "run --model " + model + " --input " + dir + "/in.jsonl --output " + dir + "/out.jsonl";
  Proc bad_path = run_sieve(run + " --record-routing /nonexistent/dir/trace.jsonl");
  EXPECT_EQ(bad_path.code, 1);
  EXPECT_NE(bad_path.err.find("--record-routing: cannot write the routing trace "
                              "/nonexistent/dir/trace.jsonl"),
            std::string::npos)
      << bad_path.err;
  EXPECT_EQ(bad_path.err.find("loaded"), std::string::npos) << "failed before loading";
  Proc skew_on_checkpoint = run_sieve(run + " --router-skew zipf:1");
  EXPECT_EQ(skew_on_checkpoint.code, 1);
  EXPECT_NE(skew_on_checkpoint.err.find("--router-skew makes the random router weights of "
                                        "--load-format dummy"),
            std::string::npos)
      << skew_on_checkpoint.err;
  Proc bad_skew = run_sieve(run + " --load-format dummy --router-skew zipf:x");
  EXPECT_EQ(bad_skew.code, 1);
  EXPECT_NE(bad_skew.err.find("expected zipf:S (S > 0) or none"), std::string::npos)
      << bad_skew.err;
  Proc help = run_sieve("run --help");
  for (const char* flag : {"--record-routing", "--router-skew"})
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  Proc make_help = run_sieve("make-checkpoint --help");
  EXPECT_NE(make_help.out.find("--router-skew"), std::string::npos);
}

// `sieve serve --record-routing`: every step the server runs, until SIGTERM. Four requests of 32
// prompt tokens and 8 output tokens run 4 × (32 + 7) tokens through the model.
TEST(RecordRouting, ServeRecordsEveryStep) {
  const std::string dir = make_temp_dir("rec-serve");
  const std::string log = dir + "/serve.log";
  const int pid = spawn_logged(std::string(SIEVE_BINARY) +
                                   " serve --host 127.0.0.1 --port 0 --threads 1 "
                                   "--record-routing " +
                                   dir + "/trace.jsonl",
                               log);
  std::string url;
  const std::regex re("serving '[^']*' on (http://127\\.0\\.0\\.1:[0-9]+)");
  for (int i = 0; i < 600 && url.empty(); ++i) {
    std::smatch m;
    const std::string text = slurp(log);
    if (std::regex_search(text, m, re)) url = m[1];
    if (waitpid(pid, nullptr, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(url.empty()) << slurp(log);
  Proc bench = run_sieve("bench serve --base-url " + url +
                         " --num-prompts 4 --input-len 32 --output-len 8 --num-warmups 0 "
                         "--result-dir " +
                         dir);
  EXPECT_EQ(bench.code, 0) << bench.err;
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(log);
  EXPECT_NE(slurp(log).find("routing trace: "), std::string::npos) << slurp(log);
  const RoutingTrace t = read_trace(dir + "/trace.jsonl");
  EXPECT_EQ(t.header.model_type, "qwen3_moe");
  int64_t tokens = 0;
  for (const RoutingStep& s : t.steps)
    tokens += s.tokens;
  EXPECT_EQ(tokens, 4 * (32 + 7));
}

// make-checkpoint --router-skew writes the skew into config.json; a dummy load of that config
// runs the same weights, so it records the same routing; --router-skew on the dummy load says
// the same thing from the command line.
TEST(RouterSkew, DummyLoadRoutesLikeTheCheckpoint) {
  const std::string dir = make_temp_dir("skew-ckpt");
  ASSERT_EQ(run_sieve("make-checkpoint --like olmoe --router-skew zipf:0.8 --dtype fp32 --out " +
                      dir + "/ckpt")
                .code,
            0);
  ASSERT_EQ(run_sieve("make-checkpoint --like olmoe --config-only --out " + dir + "/plain").code,
            0);
  std::ifstream cin(dir + "/ckpt/config.json");
  EXPECT_EQ(json::parse(cin)["sieve_router_skew"], "zipf:0.8");
  const std::string common =
      "bench throughput --num-prompts 4 --input-len 24 --output-len 4 --dtype fp32 --threads 1 ";
  Proc a = run_sieve(common + "--model " + dir + "/ckpt --record-routing " + dir + "/a.jsonl");
  ASSERT_EQ(a.code, 0) << a.err;
  Proc b = run_sieve(common + "--model " + dir + "/ckpt --load-format dummy --record-routing " +
                     dir + "/b.jsonl");
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.err.find("with router skew zipf:0.8 (synthetic)"), std::string::npos) << b.err;
  Proc c = run_sieve(common + "--model " + dir +
                     "/plain --load-format dummy --router-skew zipf:0.8 --record-routing " + dir +
                     "/c.jsonl");
  ASSERT_EQ(c.code, 0) << c.err;
  Proc d = run_sieve(common + "--model " + dir + "/plain --load-format dummy --record-routing " +
                     dir + "/d.jsonl");
  ASSERT_EQ(d.code, 0) << d.err;
  const RoutingTrace ta = read_trace(dir + "/a.jsonl"), tb = read_trace(dir + "/b.jsonl"),
                     tc = read_trace(dir + "/c.jsonl"), td = read_trace(dir + "/d.jsonl");
  ASSERT_FALSE(ta.steps.empty());
  ASSERT_EQ(tb.steps.size(), ta.steps.size());
  ASSERT_EQ(tc.steps.size(), ta.steps.size());
  for (size_t s = 0; s < ta.steps.size(); ++s) {
    EXPECT_EQ(tb.steps[s].counts, ta.steps[s].counts) << "step " << s;
    EXPECT_EQ(tc.steps[s].counts, ta.steps[s].counts) << "step " << s;
  }
  EXPECT_NE(totals(td), totals(ta)) << "without the skew the routing differs";
}

// The calibration the README's table documents, at OLMoE's shape (64 experts, top-8; a narrower
// model than OLMoE-1B-7B, which the router's statistics do not depend on): zipf:0.8 measured a
// top-8 share of 0.38, Gini 0.52 and max/mean 3.7 there, inside the real OLMoE layers' ranges
// (0.20-0.51, 0.14-0.63, 2.5-7.8); without a skew the same model routes almost uniformly.
TEST(RouterSkew, ZipfPointEightLandsInOlmoesRange) {
  const std::string dir = make_temp_dir("skew-calibration");
  ASSERT_EQ(run_sieve("make-checkpoint --like olmoe --experts 64 --top-k 8 --layers 2 --hidden "
                      "256 --heads 4 --kv-heads 4 --moe-intermediate 128 --config-only --out " +
                      dir + "/m")
                .code,
            0);
  auto record = [&](const std::string& skew) {
    const std::string trace = dir + "/" + skew + ".jsonl";
    Proc p = run_sieve("bench throughput --model " + dir +
                       "/m --load-format dummy --num-prompts 24 --input-len 192 --length-dist "
                       "uniform --range-ratio 0.6 --output-len 8 --threads 1 --router-skew " +
                       skew + " --record-routing " + trace);
    EXPECT_EQ(p.code, 0) << p.err;
    std::vector<SkewStats> out;
    for (const auto& layer : totals(read_trace(trace)))
      out.push_back(skew_stats(layer));
    return out;
  };
  const auto skewed = record("zipf:0.8");
  ASSERT_EQ(skewed.size(), 2u);
  for (const SkewStats& s : skewed) {
    EXPECT_NEAR(s.top8_share, 0.38, 0.1 * 0.38);
    EXPECT_NEAR(s.gini, 0.52, 0.1 * 0.52);
    EXPECT_NEAR(s.max_over_mean, 3.7, 0.1 * 3.7);
    EXPECT_TRUE(s.top8_share >= 0.20 && s.top8_share <= 0.51) << s.top8_share;
    EXPECT_TRUE(s.gini >= 0.14 && s.gini <= 0.63) << s.gini;
    EXPECT_TRUE(s.max_over_mean >= 2.5 && s.max_over_mean <= 7.8) << s.max_over_mean;
  }
  for (const SkewStats& s : record("none")) {
    EXPECT_LT(s.gini, 0.1);
    EXPECT_LT(s.max_over_mean, 1.5);
  }
}

TEST(BenchTrace, DrawsDeterministicallyAndDescribesTraces) {
  const std::string dir = make_temp_dir("bench-trace");
  const std::string counts = fixture_path("routing/olmoe_mixtral_counts.json");
  const std::string args =
      "bench trace --from olmoe:7:github --preset olmoe-1b-7b --layers 3 --batch 16 --steps 50 "
      "--seed 4 --counts " +
      counts + " --out ";
  Proc a = run_sieve(args + dir + "/a.jsonl");
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(run_sieve(args + dir + "/b.jsonl").code, 0);
  EXPECT_EQ(slurp(dir + "/a.jsonl"), slurp(dir + "/b.jsonl"));
  EXPECT_NE(a.out.find("olmoe:7:github over 64 experts, top-8, expected: top-8 share 0.508"),
            std::string::npos)
      << a.out;
  const RoutingTrace t = read_trace(dir + "/a.jsonl");
  EXPECT_EQ(t.header.model_type, "olmoe");
  EXPECT_EQ(t.header.moe_layers, (std::vector<int64_t>{0, 1, 2}));
  ASSERT_EQ(t.steps.size(), 50u);
  EXPECT_EQ(t.steps[0].tokens, 16);
  Proc other_seed = run_sieve(
      "bench trace --from olmoe:7:github --preset olmoe-1b-7b --layers 3 --batch 16 --steps 50 "
      "--seed 5 --counts " +
      counts + " --out " + dir + "/c.jsonl");
  ASSERT_EQ(other_seed.code, 0);
  EXPECT_NE(slurp(dir + "/a.jsonl"), slurp(dir + "/c.jsonl"));
  Proc stats = run_sieve("bench trace --stats " + dir + "/a.jsonl");
  ASSERT_EQ(stats.code, 0) << stats.err;
  for (const char* part : {"3 MoE layers x 64 experts, top-8; 50 steps, 800 tokens", "top-8 share",
                           "Gini", "max/mean", "experts touched"}) {
    EXPECT_NE(stats.out.find(part), std::string::npos) << part << "\n" << stats.out;
  }
  Proc zipf = run_sieve("bench trace --from zipf:1.2 --experts 32 --top-k 4 --layers 2 --out " +
                        dir + "/z.jsonl");
  ASSERT_EQ(zipf.code, 0) << zipf.err;
  EXPECT_EQ(read_trace(dir + "/z.jsonl").steps.size(), 256u);
  Proc no_counts = run_sieve(
      "bench trace --from mixtral:0 --experts 8 --top-k 2 --layers 1 "
      "--out " +
      dir + "/m.jsonl");
  EXPECT_EQ(no_counts.code, 2);
  EXPECT_NE(no_counts.err.find("give --counts FILE"), std::string::npos) << no_counts.err;
  Proc bad = run_sieve("bench trace --from uniform --experts 8 --top-k 2 --layers 1 --out " + dir +
                       "/m.jsonl");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("expected zipf:S"), std::string::npos) << bad.err;
  Proc no_shape = run_sieve("bench trace --from zipf:1 --out " + dir + "/m.jsonl");
  EXPECT_EQ(no_shape.code, 2);
  EXPECT_NE(no_shape.err.find("give the model's shape"), std::string::npos) << no_shape.err;
}

}  // namespace
}  // namespace sieve::testing
