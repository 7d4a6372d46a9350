// End-to-end tests of --expert-placement through the `sieve` binary, as a user types it: every
// policy on every family's fixture gives the transformers goldens (on this CPU-only machine the
// device tier is the stand-in, and the log says so); `sieve serve` exports the placement series on
// /metrics; `sieve bench throughput` reports where the experts ran; and wrong flags fail before
// any weight loads, with a message that names what to change.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
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

// A cost model under which the sieve planner uses every tier on the fixtures' tiny experts.
std::string cost_model_file(const std::string& dir) {
  return write_file(dir, "cost.json", R"({
    "device": {"flops_per_s": 1e12, "weight_bytes_per_s": 1e11, "per_expert_s": 1e-6,
               "source": "test"},
    "host": {"flops_per_s": 1e10, "weight_bytes_per_s": 1e10, "per_expert_s": 5e-6,
             "source": "test"},
    "link": {"h2d_bytes_per_s": 1e10, "d2h_bytes_per_s": 1e10, "transfer_s": 1e-6,
             "source": "test"}})");
}

// A routing trace of `model` in which expert e of every MoE layer got E - e tokens per step.
std::string profile_file(const std::string& dir, const std::string& model) {
  auto dir_or = open_model_dir(model);
  EXPECT_TRUE(dir_or.ok()) << dir_or.status().to_string();
  const ModelConfig& c = dir_or->config;
  json moe_layers = json::array();
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (c.layer_is_moe[l]) moe_layers.push_back(l);
  }
  std::string text = json{{"format", "sieve-routing-trace"},
                          {"version", 1},
                          {"source", "test"},
                          {"model_type", c.model_type},
                          {"num_layers", c.num_layers},
                          {"num_experts", c.num_experts},
                          {"top_k", c.top_k},
                          {"moe_layers", moe_layers}}
                         .dump() +
                     "\n";
  // E - e tokens for expert e: E·(E+1)/2 choices, which must be tokens × top_k.
  const int64_t E = c.num_experts, choices = E * (E + 1) / 2;
  json layer = json::array();
  for (int64_t e = 0; e < E; ++e) {
    layer.push_back(e);
    layer.push_back(E - e);
  }
  json layers = json::array();
  for (size_t l = 0; l < moe_layers.size(); ++l)
    layers.push_back(layer);
  EXPECT_EQ(choices % c.top_k, 0) << "the test's profile needs E(E+1)/2 divisible by top_k";
  text += json{{"tokens", choices / c.top_k}, {"layers", layers}}.dump() + "\n";
  return write_file(dir, "profile.jsonl", text);
}

std::string greedy_input(const std::string& dir, const json& golden) {
  std::string input;
  const auto prompts = golden["prompts"].get<std::vector<std::vector<int>>>();
  for (size_t i = 0; i < prompts.size(); ++i) {
    input += json{{"id", i},
                  {"prompt_token_ids", prompts[i]},
                  {"max_tokens", 16},
                  {"temperature", 0},
                  {"ignore_eos", true}}
                 .dump() +
             "\n";
  }
  return write_file(dir, "in.jsonl", input);
}

TEST(SievePlacement, EveryPolicyRunsTheGoldensWithTheStandInDevice) {
  for (const std::string& family : supported_model_types()) {
    const std::string model = fixture_path("models/" + family);
    const json golden = read_json(model + "/golden.json");
    const std::string dir = make_temp_dir("placement-run");
    const std::string in = greedy_input(dir, golden);
    const std::string cost = cost_model_file(dir);
    const std::string profile = profile_file(dir, model);
    for (const std::string& flags : std::vector<std::string>{
             "--expert-placement sieve --device-expert-memory 0.0004",
             "--expert-placement sieve --device-expert-memory 0", "--expert-placement host",
             "--expert-placement static-hot --device-expert-memory 0.0002 --placement-profile " +
                 profile,
             "--expert-placement device"}) {
      SCOPED_TRACE(family + ": " + flags);
      const std::string out = dir + "/out.jsonl";
      Proc p = run_sieve("run --model " + model + " --dtype fp32 --threads 2 --input " + in +
                         " --output " + out + " --placement-cost-model " + cost + " " + flags);
      ASSERT_EQ(p.code, 0) << p.err;
      const auto lines = read_jsonl(out);
      ASSERT_EQ(lines.size(), golden["prompts"].size());
      for (size_t i = 0; i < lines.size(); ++i)
        EXPECT_EQ(lines[i]["output_token_ids"], golden["greedy"][i]["new_tokens"]) << i;
      EXPECT_NE(p.err.find("placement cost model: device 1 TFLOP/s"), std::string::npos) << p.err;
      EXPECT_NE(p.err.find("no GPU: the device tier is a stand-in"), std::string::npos) << p.err;
      EXPECT_NE(p.err.find("with 1 threads and its own copies"), std::string::npos) << p.err;
      std::smatch m;
      ASSERT_TRUE(std::regex_search(p.err, m,
                                    std::regex("rows on the device ([0-9]+)%, uploaded "
                                               "([0-9]+)%, on the host ([0-9]+)%")))
          << p.err;
      const int device = std::stoi(m[1]), uploaded = std::stoi(m[2]), host = std::stoi(m[3]);
      if (flags == "--expert-placement host" || flags.ends_with("memory 0")) {
        EXPECT_EQ(host, 100);
      }
      if (flags == "--expert-placement device") {
        EXPECT_EQ(device, 100);
      }
      if (flags.ends_with("memory 0.0004")) {
        EXPECT_GT(device + uploaded, 0);
      }
    }
  }
}

TEST(SievePlacement, FlagsThatCannotWorkFailBeforeTheWeightsLoad) {
  const std::string model = fixture_path("models/qwen3_moe");
  const std::string dir = make_temp_dir("placement-flags");
  const std::string in = write_file(dir, "in.jsonl",
                                    R"({"prompt_token_ids": [1, 2, 3]})"
                                    "\n");
  const std::string cost = cost_model_file(dir);
  const std::string bad_cost = write_file(dir, "bad.json", R"({"device": {}})");
  const std::string mixtral_profile = profile_file(dir, fixture_path("models/mixtral"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--expert-placement fastest", "--expert-placement"},
      {"--device-expert-memory 1", "--device-expert-memory goes with --expert-placement"},
      {"--placement-profile x.jsonl", "--placement-profile goes with --expert-placement"},
      {"--expert-placement sieve", "needs --device-expert-memory"},
      {"--expert-placement static-hot --device-expert-memory 1", "needs --placement-profile"},
      {"--expert-placement sieve --device-expert-memory 1 --placement-profile x.jsonl",
       "--placement-profile is for --expert-placement static-hot"},
      {"--expert-placement device --device-expert-memory 0.0001 --placement-cost-model " + cost,
       "--expert-placement device keeps every expert on the device"},
      {"--expert-placement static-hot --device-expert-memory 1 --placement-profile " + dir +
           "/none.jsonl --placement-cost-model " + cost,
       "no such routing trace"},
      {"--expert-placement static-hot --device-expert-memory 1 --placement-profile " +
           mixtral_profile + " --placement-cost-model " + cost,
       "experts per layer, the model 16"},
      {"--expert-placement sieve --device-expert-memory 1 --placement-cost-model " + bad_cost,
       "bad.json: placement cost model: 'device.flops_per_s' must be a positive number"},
      {"--expert-placement sieve --device-expert-memory 1 --placement-cost-model /nonexistent/c",
       "no directory /nonexistent"},
      {"--expert-placement sieve --device-expert-memory 1 --expert-parallel-size 2",
       "do not go together"},
      {"--expert-placement sieve --device-expert-memory -1", "--device-expert-memory"},
  };
  for (const auto& [flags, message] : cases) {
    SCOPED_TRACE(flags);
    Proc p = run_sieve("run --model " + model + " --input " + in + " --output " + dir +
                       "/out.jsonl " + flags);
    EXPECT_NE(p.code, 0);
    EXPECT_NE(p.err.find(message), std::string::npos) << p.err;
    EXPECT_EQ(p.err.find("loaded "), std::string::npos) << p.err;
  }
}

TEST(SievePlacement, HelpOfEveryEngineCommandListsTheFlags) {
  for (const char* command : {"run", "serve", "bench throughput"}) {
    Proc help = run_sieve(std::string(command) + " --help");
    ASSERT_EQ(help.code, 0) << command;
    for (const char* flag : {"--expert-placement", "--device-expert-memory",
                             "--placement-cost-model", "--placement-profile", "--cpu-moe"}) {
      EXPECT_NE(help.out.find(flag), std::string::npos) << command << " " << flag;
    }
  }
}

TEST(SievePlacement, BenchThroughputSaysWhereTheExpertsRan) {
  const std::string model = fixture_path("models/olmoe");
  const std::string dir = make_temp_dir("placement-bench");
  Proc p = run_sieve("bench throughput --model " + model +
                     " --num-prompts 4 --input-len 12 --output-len 4 --threads 2 "
                     "--expert-placement sieve --device-expert-memory 0.0003 "
                     "--placement-cost-model " +
                     cost_model_file(dir) + " --output-json " + dir + "/r.json");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("expert placement sieve: "), std::string::npos) << p.out;
  const json r = read_json(dir + "/r.json");
  EXPECT_EQ(r["output_tokens"], 16);
  EXPECT_NE(r["expert_placement"].get<std::string>().find("rows on the device"), std::string::npos);
}

// One HTTP/1.1 exchange over a fresh connection; the whole response.
std::string http(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  (void)!write(fd, request.data(), request.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(SievePlacement, ServeExportsThePlacementSeries) {
  const std::string model = fixture_path("models/qwen3_moe");
  const std::string dir = make_temp_dir("placement-serve");
  const std::string log = dir + "/serve.log";
  const std::string cost = cost_model_file(dir);
  const pid_t pid = fork();
  if (pid == 0) {
    std::freopen(log.c_str(), "w", stderr);
    std::freopen("/dev/null", "w", stdout);
    execl(SIEVE_BINARY, SIEVE_BINARY, "serve", "--model", model.c_str(), "--host", "127.0.0.1",
          "--port", "0", "--threads", "2", "--expert-placement", "sieve", "--device-expert-memory",
          "0.0004", "--placement-cost-model", cost.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int port = 0;
  const std::regex re("serving '[^']*' on http://127\\.0\\.0\\.1:([0-9]+)");
  for (int i = 0; i < 600 && port == 0; ++i) {
    std::smatch m;
    const std::string text = slurp(log);
    if (std::regex_search(text, m, re)) port = std::stoi(m[1]);
    if (waitpid(pid, nullptr, WNOHANG) == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GT(port, 0) << slurp(log);
  const std::string body =
      R"({"prompt": [1, 2, 3, 4, 5, 6, 7, 8], "max_tokens": 4, "temperature": 0})";
  const std::string completion =
      http(port,
           "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Connection: close\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_NE(completion.find("200 OK"), std::string::npos) << completion;
  // 11 tokens ran: the 8 of the prompt, then 3 decodes (the fourth token is sampled from the
  // third's logits); each is top-4 rows of layer 0. The counters are published after the step
  // whose tokens finished the request, so they may lag its response for a moment.
  const std::regex row("sieve_placement_rows_total\\{[^}]*layer=\"0\"[^}]*\\} ([0-9]+)");
  std::string metrics;
  int64_t rows = 0;
  for (int i = 0; i < 50 && rows != 11 * 4; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    metrics = http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    rows = 0;
    for (auto it = std::sregex_iterator(metrics.begin(), metrics.end(), row);
         it != std::sregex_iterator(); ++it)
      rows += std::stoll((*it)[1]);
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(log);
  EXPECT_EQ(rows, 11 * 4) << metrics;
  EXPECT_NE(
      metrics.find(R"(sieve_placement_device_slots{model_name="qwen3_moe",policy="sieve"} 17)"),
      std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("sieve_placement_resident_experts{"), std::string::npos);
  EXPECT_NE(slurp(log).find("expert placement sieve: "), std::string::npos) << slurp(log);
}

}  // namespace
}  // namespace sieve::testing
