// End-to-end tests of `sieve bench`: the real binary against a real `sieve serve` on the
// built-in default model (a child process on a free port), and against a server that is down.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/fixtures.h"
#include "tests/support/subprocess.h"

namespace sieve::testing {
namespace {

using nlohmann::json;

Proc run_sieve(const std::string& args) {
  return run_binary(SIEVE_BINARY, args);
}

// `sieve serve` on the default model for the whole suite; SIGTERM at the end.
class Server {
 public:
  // `api_key`: started with --api-key KEY when not empty.
  explicit Server(const std::string& api_key = "") {
    log_ = make_temp_dir("bench-serve") + "/serve.log";
    pid_ = fork();
    if (pid_ == 0) {
      const std::string redirect = log_;
      std::freopen(redirect.c_str(), "w", stderr);
      std::freopen("/dev/null", "w", stdout);
      if (api_key.empty()) {
        execl(SIEVE_BINARY, SIEVE_BINARY, "serve", "--host", "127.0.0.1", "--port", "0",
              static_cast<char*>(nullptr));
      } else {
        execl(SIEVE_BINARY, SIEVE_BINARY, "serve", "--host", "127.0.0.1", "--port", "0",
              "--api-key", api_key.c_str(), static_cast<char*>(nullptr));
      }
      _exit(127);
    }
    const std::regex re("serving '[^']*' on (http://127\\.0\\.0\\.1:[0-9]+)");
    for (int i = 0; i < 600 && url_.empty(); ++i) {
      std::smatch m;
      const std::string text = slurp(log_);
      if (std::regex_search(text, m, re)) {
        url_ = m[1];
        break;
      }
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~Server() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& url() const { return url_; }
  std::string log() const { return slurp(log_); }

 private:
  pid_t pid_ = -1;
  std::string log_;
  std::string url_;
};

Server* g_server = nullptr;

Server& server() {
  if (!g_server) g_server = new Server();
  return *g_server;
}

// Stops the server (if a test started one) after the last test.
class ServerEnv : public ::testing::Environment {
 public:
  void TearDown() override {
    delete g_server;
    g_server = nullptr;
  }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ServerEnv);

// A port nothing listens on: bound, then closed.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
    ++n;
  return n;
}

TEST(SieveBench, SweepOfTwoRatesMatchesTheServersTokenCounts) {
  ASSERT_FALSE(server().url().empty()) << server().log();
  const std::string dir = make_temp_dir("bench-result");
  constexpr int kPrompts = 24, kIn = 32, kOut = 16;
  Proc p = run_sieve("bench serve --base-url " + server().url() + " --num-prompts " +
                     std::to_string(kPrompts) + " --request-rate 4,inf --input-len " +
                     std::to_string(kIn) + " --output-len " + std::to_string(kOut) +
                     " --num-warmups 2 --seed 7 --slo ttft=60s,tpot=60s --result-dir " + dir +
                     " --result-filename sweep");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("output throughput (tok/s)"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("TTFT p99 (ms)"), std::string::npos) << p.out;

  std::ifstream in(dir + "/sweep.json");
  ASSERT_TRUE(in) << p.err;
  const json j = json::parse(in);
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][0]["request_rate"], 4.0);
  EXPECT_EQ(j["runs"][1]["request_rate"], "inf");
  for (const json& run : j["runs"]) {
    SCOPED_TRACE(run.dump());
    EXPECT_EQ(run["completed"], kPrompts);
    EXPECT_EQ(run["failed"], 0);
    EXPECT_TRUE(run["errors"].empty());
    // usage totals: ignore_eos makes every output exactly kOut tokens.
    EXPECT_EQ(run["total_output_tokens"], kPrompts * kOut);
    EXPECT_EQ(run["total_input_tokens"], kPrompts * kIn);
    // The stream carried as many token ids as usage says, request by request.
    EXPECT_EQ(run["stream_output_tokens"], kPrompts * kOut);
    EXPECT_EQ(run["token_count_mismatches"], 0);
    EXPECT_EQ(run["requests_without_usage"], 0);
    // The server's own counter moved by exactly the run's usage total.
    EXPECT_EQ(run["server_counters"]["generation_tokens"].get<double>(),
              run["total_output_tokens"].get<double>());
    EXPECT_GT(run["output_throughput"].get<double>(), 0);
    EXPECT_EQ(run["good_requests"], kPrompts);
    const json& ttft = run["ttft_ms"];
    EXPECT_GT(ttft["p50"].get<double>(), 0);
    EXPECT_LE(ttft["p50"].get<double>(), ttft["p90"].get<double>());
    EXPECT_LE(ttft["p90"].get<double>(), ttft["p99"].get<double>());
    // Tokens are timed as they arrive, not when the stream ends: a decode step of the default
    // model takes ~1 ms, so chunks cannot all come in one burst.
    EXPECT_GT(run["tpot_ms"]["p50"].get<double>(), 0.2);
    EXPECT_GT(run["itl_ms"]["mean"].get<double>(), 0.2);
    EXPECT_GT(run["e2e_ms"]["p50"].get<double>(), run["ttft_ms"]["p50"].get<double>());
    EXPECT_LE(run["ttft_ms"]["p99"].get<double>(), run["e2e_ms"]["p99"].get<double>() + 1e-9);
  }
  // Poisson at 4 req/s spreads 24 requests over seconds; all at once does not wait.
  EXPECT_GT(j["runs"][0]["duration_s"].get<double>(), 2.0);

  const std::string svg = slurp(dir + "/sweep.svg");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(count(svg, "<svg "), 1u);
  EXPECT_EQ(count(svg, "</svg>"), 1u);
  EXPECT_EQ(count(svg, "<polyline"), 6u);  // p50/p90/p99 of TTFT and of TPOT
  EXPECT_EQ(count(svg, "<circle"), 12u);   // one point per run on each line
  EXPECT_EQ(svg.find("nan"), std::string::npos);

  // compare: a file against itself is 1.000 everywhere.
  Proc cmp = run_sieve("bench compare " + dir + "/sweep.json " + dir + "/sweep.json");
  ASSERT_EQ(cmp.code, 0) << cmp.err;
  EXPECT_NE(cmp.out.find("output_throughput"), std::string::npos) << cmp.out;
  EXPECT_NE(cmp.out.find("1.000"), std::string::npos) << cmp.out;
  EXPECT_EQ(cmp.out.find("0.999"), std::string::npos) << cmp.out;
}

TEST(SieveBench, SharedPrefixConcurrencyAndDataset) {
  ASSERT_FALSE(server().url().empty()) << server().log();
  const std::string dir = make_temp_dir("bench-prefix");
  Proc p = run_sieve("bench serve --base-url " + server().url() +
                     " --num-prompts 8 --max-concurrency 2 --shared-prefix-len 24 --input-len 8 "
                     "--output-len 4 --length-dist fixed --num-warmups 0 --result-dir " +
                     dir + " --result-filename prefix");
  ASSERT_EQ(p.code, 0) << p.err;
  json j = json::parse(slurp(dir + "/prefix.json"));
  EXPECT_EQ(j["runs"][0]["max_concurrency"], 2);
  EXPECT_EQ(j["runs"][0]["total_input_tokens"], 8 * (24 + 8));
  EXPECT_EQ(j["runs"][0]["total_output_tokens"], 8 * 4);

  std::ofstream(dir + "/data.jsonl") << R"({"prompt": [1001, 1002, 1003], "output_len": 5})"
                                        "\n"
                                     << R"({"prompt": "The capital of France is"})"
                                        "\n"
                                     << R"({"messages": [{"role": "user", "content": "Hi!"}]})"
                                        "\n";
  Proc d = run_sieve("bench serve --base-url " + server().url() +
                     " --num-prompts 3 --output-len 3 --num-warmups 0 --dataset-path " + dir +
                     "/data.jsonl --result-dir " + dir + " --result-filename data");
  ASSERT_EQ(d.code, 0) << d.err;
  j = json::parse(slurp(dir + "/data.json"));
  EXPECT_EQ(j["runs"][0]["completed"], 3) << j.dump();
  EXPECT_EQ(j["runs"][0]["total_output_tokens"], 5 + 3 + 3);
}

TEST(SieveBench, DurationCyclesThroughTheWorkloadInAClosedLoop) {
  ASSERT_FALSE(server().url().empty()) << server().log();
  const std::string dir = make_temp_dir("bench-duration");
  Proc p = run_sieve("bench serve --base-url " + server().url() +
                     " --num-prompts 3 --duration 2 --request-rate inf --max-concurrency 2 "
                     "--input-len 8 --output-len 4 --num-warmups 0 --result-dir " +
                     dir + " --result-filename dur");
  ASSERT_EQ(p.code, 0) << p.err;
  const json run = json::parse(slurp(dir + "/dur.json"))["runs"][0];
  EXPECT_GT(run["completed"].get<int>(), 3);  // more requests than prompts: cycled
  EXPECT_EQ(run["failed"], 0);
  EXPECT_GE(run["duration_s"].get<double>(), 2.0);
  EXPECT_LT(run["duration_s"].get<double>(), 4.0);
  EXPECT_EQ(run["total_output_tokens"], run["completed"].get<int>() * 4);
  EXPECT_EQ(run["server_counters"]["generation_tokens"].get<double>(),
            run["total_output_tokens"].get<double>());
  Proc open =
      run_sieve("bench serve --base-url " + server().url() + " --duration 2 --request-rate inf");
  EXPECT_EQ(open.code, 2);
  EXPECT_NE(open.err.find("needs --max-concurrency"), std::string::npos) << open.err;
}

TEST(SieveBench, ServerErrorsAreCountedByKind) {
  ASSERT_FALSE(server().url().empty()) << server().log();
  const std::string dir = make_temp_dir("bench-errors");
  std::ofstream(dir + "/mixed.jsonl") << R"({"prompt": [1001, 1002]})"
                                         "\n"
                                      << R"({"prompt": [999999]})"
                                         "\n";
  Proc p = run_sieve("bench serve --base-url " + server().url() +
                     " --num-prompts 4 --output-len 2 --num-warmups 0 --dataset-path " + dir +
                     "/mixed.jsonl --result-dir " + dir + " --result-filename mixed");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("http_400=2"), std::string::npos) << p.out;
  const json run = json::parse(slurp(dir + "/mixed.json"))["runs"][0];
  EXPECT_EQ(run["completed"], 2);
  EXPECT_EQ(run["failed"], 2);
  EXPECT_EQ(run["errors"]["http_400"], 2);
  EXPECT_NE(run["error_samples"][0].get<std::string>().find("outside the vocabulary"),
            std::string::npos)
      << run.dump();
  // Nothing completed: an error, not a table of zeros passed off as a result.
  std::ofstream(dir + "/bad.jsonl") << R"({"prompt": [999999]})"
                                       "\n";
  Proc bad = run_sieve("bench serve --base-url " + server().url() +
                       " --num-prompts 2 --num-warmups 0 --dataset-path " + dir +
                       "/bad.jsonl --result-dir " + dir);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("no request completed"), std::string::npos) << bad.err;
}

TEST(SieveBench, CtrlCPrintsWhatWasMeasured) {
  ASSERT_FALSE(server().url().empty()) << server().log();
  const std::string dir = make_temp_dir("bench-interrupt");
  const std::string cmd = "exec " + std::string(SIEVE_BINARY) + " bench serve --base-url " +
                          server().url() +
                          " --num-prompts 100 --request-rate 4 --arrival constant --input-len 8 "
                          "--output-len 4 --num-warmups 0 --result-dir " +
                          dir + " --result-filename cut >" + dir + "/out 2>" + dir + "/err";
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const std::string out = slurp(dir + "/out");
  EXPECT_NE(out.find("(interrupted)"), std::string::npos) << out << slurp(dir + "/err");
  const json j = json::parse(slurp(dir + "/cut.json"));
  EXPECT_TRUE(j["interrupted"].get<bool>());
  const json& run = j["runs"][0];
  EXPECT_TRUE(run["interrupted"].get<bool>());
  EXPECT_GT(run["completed"].get<int>(), 3);
  EXPECT_LT(run["completed"].get<int>(), 100);
  EXPECT_EQ(run["failed"], 0);
  EXPECT_EQ(run["total_output_tokens"], run["completed"].get<int>() * 4);
}

TEST(SieveBench, AServerThatIsDownFailsClearly) {
  const std::string dir = make_temp_dir("bench-down");
  const std::string url = "http://127.0.0.1:" + std::to_string(free_port());
  Proc p = run_sieve("bench serve --base-url " + url + " --num-prompts 4 --result-dir " + dir);
  EXPECT_EQ(p.code, 1);
  EXPECT_NE(p.err.find("cannot reach the server at " + url), std::string::npos) << p.err;
  EXPECT_EQ(p.out.find("output throughput"), std::string::npos) << p.out;  // no table of zeros
}

TEST(SieveBench, OfflineThroughputRunsEveryTokenThroughTheEngine) {
  const std::string dir = make_temp_dir("bench-throughput");
  Proc p =
      run_sieve(std::string("bench throughput --model ") + SIEVE_DEFAULT_MODEL +
                " --num-prompts 8 --input-len 16 --output-len 8 --output-json " + dir + "/tp.json");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("output tokens       64"), std::string::npos) << p.out;
  const json j = json::parse(slurp(dir + "/tp.json"));
  EXPECT_EQ(j["requests"], 8);
  EXPECT_EQ(j["prompt_tokens"], 8 * 16);
  EXPECT_EQ(j["output_tokens"], 8 * 8);
  EXPECT_GT(j["output_throughput"].get<double>(), 0);
  EXPECT_GT(j["prompt_throughput"].get<double>(), 0);
  Proc missing = run_sieve("bench throughput --model " + dir + "/nope");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("no such model directory"), std::string::npos) << missing.err;
}

TEST(SieveBench, ApiKeyIsSentToAServerThatWantsOne) {
  Server keyed("s3cret");
  ASSERT_FALSE(keyed.url().empty()) << keyed.log();
  const std::string dir = make_temp_dir("bench-key");
  const std::string args = "bench serve --base-url " + keyed.url() +
                           " --num-prompts 2 --input-len 8 --output-len 2 --num-warmups 0 "
                           "--result-filename keyed --result-dir " +
                           dir;
  Proc without = run_sieve(args);
  EXPECT_EQ(without.code, 1);
  EXPECT_NE(without.err.find("answered 401"), std::string::npos) << without.err;
  EXPECT_NE(without.err.find("--api-key"), std::string::npos) << without.err;
  Proc with = run_sieve(args + " --api-key s3cret");
  ASSERT_EQ(with.code, 0) << with.err;
  const json j = json::parse(slurp(dir + "/keyed.json"));
  EXPECT_EQ(j["runs"][0]["completed"], 2) << j.dump();
  EXPECT_EQ(j["runs"][0]["failed"], 0) << j.dump();
}

TEST(SieveBench, OfflineThroughputOnDummyWeights) {
  // A config.json alone: the model's weights are made in memory (--load-format dummy).
  const std::string dir = make_temp_dir("bench-dummy");
  Proc cfg = run_sieve("make-checkpoint --like mixtral --config-only --out " + dir + "/m");
  ASSERT_EQ(cfg.code, 0) << cfg.err;
  ASSERT_FALSE(std::filesystem::exists(dir + "/m/model.safetensors"));
  Proc p = run_sieve("bench throughput --model " + dir +
                     "/m --load-format dummy --num-prompts 4 --input-len 8 --output-len 4 "
                     "--output-json " +
                     dir + "/tp.json");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.err.find("dummy weights"), std::string::npos) << p.err;
  const json j = json::parse(slurp(dir + "/tp.json"));
  EXPECT_EQ(j["output_tokens"], 4 * 4);
  // Without --load-format dummy the missing weights are an error that says what is missing.
  Proc real = run_sieve("bench throughput --model " + dir + "/m --num-prompts 1");
  EXPECT_EQ(real.code, 1);
  EXPECT_NE(real.err.find("safetensors"), std::string::npos) << real.err;
}

TEST(SieveBench, BadFlagsAreNamed) {
  Proc rate = run_sieve("bench serve --base-url http://127.0.0.1:1 --request-rate 2,fast");
  EXPECT_EQ(rate.code, 2);
  EXPECT_NE(rate.err.find("--request-rate: 'fast'"), std::string::npos) << rate.err;
  Proc slo = run_sieve("bench serve --base-url http://127.0.0.1:1 --slo ttft=fast");
  EXPECT_EQ(slo.code, 2);
  EXPECT_NE(slo.err.find("--slo"), std::string::npos) << slo.err;
  // Flags from --config reach the nested subcommand.
  const std::string dir = make_temp_dir("bench-config");
  std::ofstream(dir + "/c.json") << R"({"request-rate": "2,fast"})";
  Proc cfg = run_sieve("bench serve --config " + dir + "/c.json --base-url http://127.0.0.1:1");
  EXPECT_EQ(cfg.code, 2);
  EXPECT_NE(cfg.err.find("--request-rate: 'fast'"), std::string::npos) << cfg.err;
  Proc url = run_sieve("bench serve --base-url localhost:8000");
  EXPECT_EQ(url.code, 2);
  EXPECT_NE(url.err.find("--base-url"), std::string::npos) << url.err;
}

}  // namespace
}  // namespace sieve::testing
