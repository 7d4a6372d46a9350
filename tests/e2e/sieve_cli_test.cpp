// End-to-end tests of the `sieve` binary: real processes, real files, outputs checked against
// the transformers goldens of the fixture models.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/registry.h"
#include "tests/support/fixtures.h"
#include "tests/support/jsonl.h"
#include "tests/support/subprocess.h"

namespace sieve::testing {
namespace {

using nlohmann::json;

Proc run_sieve(const std::string& args) {
  return run_binary(SIEVE_BINARY, args);
}

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::vector<double> log_softmax(const std::vector<double>& logits) {
  double mx = -INFINITY, s = 0;
  for (double v : logits)
    mx = std::max(mx, v);
  for (double v : logits)
    s += std::exp(v - mx);
  std::vector<double> out;
  for (double v : logits)
    out.push_back(v - mx - std::log(s));
  return out;
}

TEST(SieveCli, HelpListsEverySubcommandAndFlag) {
  Proc top = run_sieve("--help");
  EXPECT_EQ(top.code, 0);
  for (const char* sub :
       {"run", "inspect", "make-checkpoint", "tokenize", "chat-template", "bench"}) {
    EXPECT_NE(top.out.find(sub), std::string::npos) << sub;
  }
  Proc run = run_sieve("run --help");
  EXPECT_EQ(run.code, 0);
  for (const char* flag : {"--model", "--input", "--output", "--dtype", "--threads",
                           "--max-num-seqs", "--max-num-batched-tokens", "--config", "--backend",
                           "--gpu-memory-utilization", "--enforce-eager", "--load-format"}) {
    EXPECT_NE(run.out.find(flag), std::string::npos) << flag;
  }
}

TEST(SieveCli, InspectDescribesTheFixture) {
  const std::string model = fixture_path("models/qwen3_moe");
  Proc p = run_sieve("inspect --json --model " + model);
  ASSERT_EQ(p.code, 0) << p.err;
  json j = json::parse(p.out);
  EXPECT_EQ(j["architecture"], "Qwen3MoeForCausalLM");
  EXPECT_EQ(j["layers"], 3);
  EXPECT_EQ(j["experts"], 16);
  EXPECT_EQ(j["experts_per_token"], 4);
  // The parameter count must equal the element count of the checkpoint's tensors, which the
  // fixture's golden.json lists independently.
  json golden = read_json(model + "/golden.json");
  int64_t numel = 0;
  for (const auto& [name, shape] : golden["checkpoint_tensors"].items()) {
    int64_t n = 1;
    for (const auto& d : (shape.is_object() ? shape["shape"] : shape))
      n *= d.get<int64_t>();
    numel += n;
  }
  EXPECT_EQ(j["params_total"].get<int64_t>(), numel);
  Proc human = run_sieve("inspect --model " + model);
  EXPECT_EQ(human.code, 0);
  EXPECT_NE(human.out.find("top-4"), std::string::npos) << human.out;
}

TEST(SieveCli, InspectSplitsTheExpertsOverRanks) {
  const std::string model = fixture_path("models/qwen3_moe");
  const json whole = json::parse(run_sieve("inspect --json --model " + model).out);
  const int64_t total = whole["params_total"].get<int64_t>();
  const int64_t experts = whole["experts"].get<int64_t>();  // 16
  for (int n : {2, 3}) {
    Proc p = run_sieve("inspect --json --expert-parallel-size " + std::to_string(n) + " --model " +
                       model);
    ASSERT_EQ(p.code, 0) << p.err;
    const json ep = json::parse(p.out)["expert_parallel"];
    EXPECT_EQ(ep["size"], n);
    ASSERT_EQ(ep["ranks"].size(), static_cast<size_t>(n));
    const int64_t replicated = ep["replicated_params"].get<int64_t>();
    int64_t expert_params = 0, held = 0, next = 0;
    for (int r = 0; r < n; ++r) {
      const json& rank = ep["ranks"][r];
      EXPECT_EQ(rank["rank"], r);
      // Contiguous ranges, the first experts % n ranks holding one more (16 = 6 + 5 + 5).
      const int64_t count = experts / n + (r < experts % n ? 1 : 0);
      EXPECT_EQ(rank["num_experts"], count) << r;
      EXPECT_EQ(rank["experts"], json::array({next, next + count - 1})) << r;
      next += count;
      held += count;
      const int64_t params = rank["params"].get<int64_t>();
      EXPECT_EQ(params, replicated + rank["expert_params"].get<int64_t>()) << r;
      EXPECT_EQ(rank["weight_bytes_bf16"].get<int64_t>(), 2 * params) << r;
      EXPECT_EQ(rank["weight_bytes_fp32"].get<int64_t>(), 4 * params) << r;
      // Attention is replicated: every rank keeps the whole KV of a token.
      EXPECT_EQ(rank["kv_bytes_per_token_bf16"], whole["kv_bytes_per_token_bf16"]) << r;
      expert_params += rank["expert_params"].get<int64_t>();
    }
    EXPECT_EQ(held, experts);
    EXPECT_EQ(replicated + expert_params, total) << n;
    // Every rank holds less than the whole model, but at least the replicated part.
    EXPECT_LT(ep["ranks"][n - 1]["params"].get<int64_t>(), total);
    EXPECT_GT(ep["ranks"][n - 1]["params"].get<int64_t>(), replicated);
  }
  Proc human = run_sieve("inspect --expert-parallel-size 3 --model " + model);
  ASSERT_EQ(human.code, 0) << human.err;
  EXPECT_NE(human.out.find("experts 0-5 on rank 0, experts 6-10 on rank 1"), std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("rank 2"), std::string::npos) << human.out;
  for (const std::string bad : {"0", "-1", "17"}) {
    Proc p = run_sieve("inspect --expert-parallel-size " + bad + " --model " + model);
    EXPECT_EQ(p.code, 1) << bad;
    EXPECT_NE(p.err.find("--expert-parallel-size"), std::string::npos) << p.err;
  }
  Proc help = run_sieve("inspect --help");
  EXPECT_NE(help.out.find("the first E % N ranks hold one more"), std::string::npos) << help.out;
}

TEST(SieveCli, InspectReportsABrokenCheckpoint) {
  const std::string dir = make_temp_dir("broken");
  write_file(dir, "config.json", R"({"model_type": "qwen3_moe"})");
  write_file(dir, "model.safetensors", "garbage");
  Proc p = run_sieve("inspect --model " + dir);
  EXPECT_EQ(p.code, 1);
  EXPECT_NE(p.err.find("model.safetensors"), std::string::npos) << p.err;
  Proc missing = run_sieve("inspect --model " + dir + "/nope");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("no such model directory"), std::string::npos) << missing.err;
}

TEST(SieveCli, RunMatchesTransformersAndReportsBadLines) {
  const std::string model = fixture_path("models/qwen3_moe");
  json golden = read_json(model + "/golden.json");
  const auto prompts = golden["prompts"].get<std::vector<std::vector<int>>>();
  const std::string dir = make_temp_dir("run");
  std::string input;
  for (size_t i = 0; i < prompts.size(); ++i) {
    json line = {{"id", "greedy-" + std::to_string(i)},
                 {"prompt_token_ids", prompts[i]},
                 {"max_tokens", 16},
                 {"temperature", 0},
                 {"ignore_eos", true}};
    input += line.dump() + "\n";
  }
  input += "{not json\n";
  input += R"({"id": "wrong-type", "prompt_token_ids": [1, 2], "max_tokens": "many"})"
           "\n";
  input += R"({"id": "text", "prompt": "hello"})"
           "\n";
  input += R"({"id": "oov", "prompt_token_ids": [1, 99999]})"
           "\n";
  input += R"({"id": "typo", "prompt_token_ids": [1, 2], "max_token": 3})"
           "\n";
  json lp = {{"id", "logprobs"}, {"prompt_token_ids", prompts[0]},
             {"max_tokens", 1},  {"temperature", 0},
             {"logprobs", 3},    {"prompt_logprobs", 2}};
  input += lp.dump() + "\n";
  input +=
      R"({"id": "sampled", "prompt_token_ids": [5, 6, 7], "max_tokens": 8, "temperature": 0.8, "top_p": 0.9, "top_k": 20, "seed": 7})"
      "\n";
  const std::string in = write_file(dir, "in.jsonl", input);
  const std::string out = dir + "/out.jsonl";

  Proc p = run_sieve("run --model " + model + " --dtype fp32 --threads 2 --input " + in +
                     " --output " + out);
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.err.find("done:"), std::string::npos) << p.err;
  auto lines = read_jsonl(out);
  ASSERT_EQ(lines.size(), 10u);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(lines[i]["id"], "greedy-" + std::to_string(i));
    EXPECT_EQ(lines[i]["output_token_ids"], golden["greedy"][i]["new_tokens"]) << i;
    EXPECT_EQ(lines[i]["finish_reason"], "length");
    EXPECT_EQ(lines[i]["prompt_token_ids"], prompts[i]);
  }
  EXPECT_EQ(lines[3]["id"], 4);  // no id could be read: the line number
  EXPECT_NE(lines[3]["error"].get<std::string>().find("not valid JSON"), std::string::npos);
  EXPECT_NE(lines[4]["error"].get<std::string>().find("max_tokens"), std::string::npos);
  EXPECT_NE(lines[5]["error"].get<std::string>().find("prompt_token_ids"), std::string::npos);
  EXPECT_NE(lines[6]["error"].get<std::string>().find("vocabulary"), std::string::npos);
  EXPECT_NE(lines[7]["error"].get<std::string>().find("max_token"), std::string::npos);

  // Logprobs against the golden logits: the generated token's, and every prompt token's.
  const json& l = lines[8];
  ASSERT_FALSE(l.contains("error")) << l.dump();
  auto last = log_softmax(golden["logits_last"][0].get<std::vector<double>>());
  ASSERT_EQ(l["logprobs"].size(), 1u);
  ASSERT_EQ(l["logprobs"][0].size(), 4u);  // the sampled token and 3 others
  const int chosen = l["output_token_ids"][0];
  EXPECT_EQ(l["logprobs"][0][0]["token_id"], chosen);
  EXPECT_NEAR(l["logprobs"][0][0]["logprob"].get<double>(), last[chosen], 1e-4);
  for (const auto& e : l["logprobs"][0]) {
    EXPECT_NEAR(e["logprob"].get<double>(), last[e["token_id"].get<int>()], 1e-4);
  }
  const auto& plp = l["prompt_logprobs"];
  ASSERT_EQ(plp.size(), prompts[0].size());
  EXPECT_TRUE(plp[0].is_null());
  for (size_t pos = 1; pos < prompts[0].size(); ++pos) {
    auto ls = log_softmax(golden["logits_full_prompt0"][pos - 1].get<std::vector<double>>());
    EXPECT_EQ(plp[pos][0]["token_id"], prompts[0][pos]);
    EXPECT_NEAR(plp[pos][0]["logprob"].get<double>(), ls[prompts[0][pos]], 1e-4) << pos;
    EXPECT_EQ(plp[pos].size(), 3u);
  }
  EXPECT_EQ(lines[9]["output_token_ids"].size(), 8u);

  // Same seed, same tokens; the batch around a request does not change it.
  const std::string in2 =
      write_file(dir, "in2.jsonl", input.substr(input.rfind("{\"id\": \"sampled\"")));
  Proc again = run_sieve("run --model " + model + " --dtype fp32 --input " + in2 + " --output " +
                         dir + "/out2.jsonl");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(read_jsonl(dir + "/out2.jsonl")[0]["output_token_ids"], lines[9]["output_token_ids"]);
}

TEST(SieveCli, RunReadsFlagsFromAConfigFile) {
  const std::string model = fixture_path("models/mixtral");
  const std::string dir = make_temp_dir("cfg");
  const std::string in = write_file(dir, "in.jsonl",
                                    R"({"prompt_token_ids": [3, 4, 5]})"
                                    "\n");
  const std::string cfg = write_file(
      dir, "run.json",
      json({{"model", model}, {"max_tokens", 5}, {"max-num-seqs", 2}, {"dtype", "fp32"}}).dump());
  Proc p = run_sieve("run --config " + cfg + " --input " + in + " --output " + dir +
                     "/out.jsonl --max-tokens 3");
  ASSERT_EQ(p.code, 0) << p.err;
  auto lines = read_jsonl(dir + "/out.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["output_token_ids"].size(), 3u);  // the command line wins over the file
  EXPECT_EQ(lines[0]["id"], 1);
}

// make-checkpoint → inspect → run, for every family, sharded, in both dtypes.
TEST(SieveCli, MadeCheckpointsInspectAndRun) {
  for (const std::string& family : supported_model_types()) {
    for (const char* dtype : {"bf16", "fp32"}) {
      SCOPED_TRACE(family + " " + dtype);
      const std::string dir = make_temp_dir("made");
      Proc made = run_sieve(std::string("make-checkpoint --like ") + family + " --dtype " + dtype +
                            " --seed 3 --max-shard-gb 0.0005 --out " + dir + "/model");
      ASSERT_EQ(made.code, 0) << made.err;
      Proc info = run_sieve("inspect --json --model " + dir + "/model");
      ASSERT_EQ(info.code, 0) << info.err;
      json j = json::parse(info.out);
      EXPECT_EQ(j["model_type"], family);
      EXPECT_GT(j["checkpoint_files"].get<int>(), 1);  // sharded
      const std::string in = write_file(
          dir, "in.jsonl",
          R"({"id": 1, "prompt_token_ids": [1, 2, 3, 4], "max_tokens": 6, "temperature": 0, "ignore_eos": true})"
          "\n");
      Proc run = run_sieve("run --model " + dir + "/model --input " + in + " --output " + dir +
                           "/out.jsonl");
      ASSERT_EQ(run.code, 0) << run.err;
      auto lines = read_jsonl(dir + "/out.jsonl");
      ASSERT_EQ(lines.size(), 1u);
      EXPECT_EQ(lines[0]["output_token_ids"].size(), 6u) << lines[0].dump();
    }
  }
}

// Quantized checkpoints through the binary: make-checkpoint --quantization writes them,
// inspect describes their storage, run loads them (dequantized), and --from writes the
// dequantized copy, which runs to the same tokens.
TEST(SieveCli, QuantizedCheckpointsInspectRunAndDequantize) {
  for (const char* method : {"fp8", "mxfp4"}) {
    SCOPED_TRACE(method);
    const std::string dir = make_temp_dir("quant");
    Proc made = run_sieve(std::string("make-checkpoint --like mixtral --dtype fp32 --seed 2 ") +
                          "--quantization " + method + " --fp8-block 48x40 --out " + dir + "/q");
    ASSERT_EQ(made.code, 0) << made.err;
    Proc info = run_sieve("inspect --json --model " + dir + "/q");
    ASSERT_EQ(info.code, 0) << info.err;
    const json j = json::parse(info.out);
    EXPECT_EQ(j["quantization"]["method"], method);
    bool experts_quantized = false, embeddings_plain = false;
    for (const auto& row : j["storage"]) {
      if (row["group"] == "routed experts") {
        experts_quantized = row["format"] == (std::string(method) == "fp8" ? "fp8-block" : "mxfp4");
        EXPECT_GT(row["scale_bytes"].get<int64_t>(), 0);
      }
      if (row["group"] == "embeddings") embeddings_plain = row["format"] == "plain";
    }
    EXPECT_TRUE(experts_quantized && embeddings_plain) << j["storage"].dump();
    // Kept quantized (the CPU backend), the model holds fewer bytes than at bf16.
    EXPECT_LT(j["weight_bytes_kept_quantized"].get<double>(), j["weight_bytes_bf16"].get<double>());
    Proc human = run_sieve("inspect --model " + dir + "/q");
    EXPECT_NE(human.out.find("quantization      " + std::string(method)), std::string::npos)
        << human.out;

    Proc deq = run_sieve("make-checkpoint --from " + dir + "/q --dtype fp32 --out " + dir + "/d");
    ASSERT_EQ(deq.code, 0) << deq.err;
    const json d = json::parse(run_sieve("inspect --json --model " + dir + "/d").out);
    EXPECT_EQ(d["quantization"]["method"], "none");

    const std::string in = write_file(
        dir, "in.jsonl",
        R"({"id": 1, "prompt_token_ids": [1, 2, 3, 4], "max_tokens": 8, "temperature": 0, "ignore_eos": true})"
        "\n");
    std::vector<json> outputs;
    for (const char* model : {"/q", "/d"}) {
      Proc run = run_sieve("run --model " + dir + model + " --input " + in + " --output " + dir +
                           model + ".jsonl");
      ASSERT_EQ(run.code, 0) << run.err;
      auto lines = read_jsonl(dir + model + ".jsonl");
      ASSERT_EQ(lines.size(), 1u);
      outputs.push_back(lines[0]["output_token_ids"]);
    }
    EXPECT_EQ(outputs[0].size(), 8u);
    EXPECT_EQ(outputs[0], outputs[1]);
  }
  const std::string dir = make_temp_dir("quant-bad");
  Proc bad_method = run_sieve("make-checkpoint --quantization int3 --out " + dir + "/x");
  EXPECT_NE(bad_method.code, 0);
  Proc bad_block =
      run_sieve("make-checkpoint --quantization fp8 --fp8-block 128 --out " + dir + "/x");
  EXPECT_NE(bad_block.code, 0);
  EXPECT_NE(bad_block.err.find("--fp8-block"), std::string::npos) << bad_block.err;
  Proc from_and_like = run_sieve("make-checkpoint --from " + fixture_path("models/olmoe") +
                                 " --like olmoe --out " + dir + "/y");
  EXPECT_NE(from_and_like.code, 0);
  EXPECT_NE(from_and_like.err.find("--from"), std::string::npos) << from_and_like.err;
  Proc help = run_sieve("make-checkpoint --help");
  for (const char* word : {"--quantization", "--fp8-block", "--from", "routers", "lm_head"})
    EXPECT_NE(help.out.find(word), std::string::npos) << word;
}

TEST(SieveCli, MakeCheckpointPresetsHaveTheRealShapes) {
  const std::string dir = make_temp_dir("preset");
  // The real shapes with fewer layers and a smaller vocabulary, so the test stays small.
  Proc made = run_sieve(
      "make-checkpoint --preset qwen3-30b-a3b --layers 1 --experts 8 --vocab 1000 "
      "--out " +
      dir);
  ASSERT_EQ(made.code, 0) << made.err;
  json c = read_json(dir + "/config.json");
  EXPECT_EQ(c["hidden_size"], 2048);
  EXPECT_EQ(c["num_attention_heads"], 32);
  EXPECT_EQ(c["num_key_value_heads"], 4);
  EXPECT_EQ(c["head_dim"], 128);
  EXPECT_EQ(c["moe_intermediate_size"], 768);
  EXPECT_EQ(c["num_experts_per_tok"], 8);
  EXPECT_EQ(c["num_experts"], 8);
  Proc bad = run_sieve("make-checkpoint --like llama --out " + dir + "/x");
  EXPECT_NE(bad.code, 0);
}

TEST(SieveCli, RunFailsClearlyWithoutAModel) {
  Proc p = run_sieve("run --model /nonexistent --input /dev/null --output /dev/null");
  EXPECT_EQ(p.code, 1);
  EXPECT_NE(p.err.find("/nonexistent"), std::string::npos) << p.err;
  Proc unknown = run_sieve("frobnicate");
  EXPECT_NE(unknown.code, 0);
}

// Every request parameter `sieve run --help` lists is taken from an input line (penalties and
// priority used to be refused as unknown fields although the help listed them).
TEST(SieveCli, RunTakesEveryRequestParameterItsHelpLists) {
  Proc help = run_sieve("run --help");
  ASSERT_EQ(help.code, 0);
  const std::string marker = "Request parameters of an input line";
  const size_t at = help.out.find(marker);
  ASSERT_NE(at, std::string::npos) << help.out;
  // A value for each field, not its default; a field the help lists without one here fails.
  const json values = {{"max_tokens", 4},
                       {"temperature", 0.8},
                       {"top_p", 0.9},
                       {"top_k", 50},
                       {"min_p", 0.01},
                       {"presence_penalty", 0.5},
                       {"frequency_penalty", 0.25},
                       {"repetition_penalty", 1.1},
                       {"seed", 7},
                       {"stop", json::array({"zzzz"})},
                       {"stop_token_ids", json::array({0})},
                       {"ignore_eos", true},
                       {"include_stop_str_in_output", true},
                       {"skip_special_tokens", false},
                       {"logprobs", 2},
                       {"prompt_logprobs", 1},
                       {"priority", 3}};
  std::istringstream lines(help.out.substr(at));
  std::string line;
  std::getline(lines, line);  // the heading
  json every = {{"id", "every"}, {"prompt", "Hello"}};
  int listed = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("  ", 0) != 0 || line.size() < 3 || line[2] == ' ') break;
    const std::string name = line.substr(2, line.find(' ', 2) - 2);
    ASSERT_TRUE(values.contains(name)) << "--help lists '" << name << "': give it a value here";
    every[name] = values[name];
    ++listed;
  }
  EXPECT_EQ(listed, static_cast<int>(values.size()));

  const std::string dir = make_temp_dir("cli-params");
  const std::string in = write_file(
      dir, "in.jsonl",
      every.dump() + "\n" + R"({"id": "penalty", "prompt": "Hello", "presence_penalty": 0.5})" +
          "\n" + R"({"id": "priority", "prompt": "Hello", "priority": -1, "max_tokens": 2})" +
          "\n" + R"({"id": "range", "prompt": "Hello", "repetition_penalty": 0})" + "\n");
  Proc p = run_sieve(std::string("run --model ") + SIEVE_DEFAULT_MODEL + " --input " + in +
                     " --output " + dir + "/out.jsonl");
  ASSERT_EQ(p.code, 0) << p.err;
  const auto out = read_jsonl(dir + "/out.jsonl");
  ASSERT_EQ(out.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(out[i].contains("error")) << out[i].dump();
    EXPECT_FALSE(out[i]["output_token_ids"].empty()) << out[i].dump();
  }
  EXPECT_EQ(out[0]["logprobs"].size(), out[0]["output_token_ids"].size());
  EXPECT_EQ(out[0]["prompt_logprobs"][0], nullptr);
  EXPECT_NE(out[3]["error"].get<std::string>().find("repetition_penalty"), std::string::npos)
      << out[3].dump();
}

// --backend cuda where it cannot run (no device, or a build without CUDA) says why and what to
// do; where a GPU is present the same run must succeed instead.
TEST(SieveCli, BackendCudaWithoutADeviceSaysWhy) {
  const std::string dir = make_temp_dir("cli-backend");
  std::ofstream(dir + "/in.jsonl") << R"({"prompt_token_ids": [1, 2, 3], "max_tokens": 2})"
                                   << "\n";
  Proc p = run_sieve(std::string("run --backend cuda --model ") + SIEVE_DEFAULT_MODEL +
                     " --input " + dir + "/in.jsonl --output " + dir + "/out.jsonl");
  if (p.code == 0) {
    EXPECT_NE(p.err.find("cuda ("), std::string::npos) << p.err;  // it ran on the GPU
  } else {
    EXPECT_EQ(p.code, 1);
    EXPECT_NE(p.err.find("--backend cuda: "), std::string::npos) << p.err;
    EXPECT_NE(p.err.find("--backend cpu"), std::string::npos) << p.err;
  }
  Proc bad = run_sieve(std::string("run --backend tpu --model ") + SIEVE_DEFAULT_MODEL +
                       " --input /dev/null --output /dev/null");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("--backend"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace sieve::testing
