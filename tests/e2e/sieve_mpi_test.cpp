// `sieve run` and `sieve serve` under mpirun: real MPI processes on the CPU backend, experts
// split over 2 and 4 ranks. Outputs must equal the single-process run's and the transformers
// goldens; a rank that hangs makes the others give up with a clear error within
// --distributed-timeout (and a server answers 503 meanwhile).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/experts/routing_trace.h"
#include "models/registry.h"
#include "tests/support/fixtures.h"
#include "tests/support/jsonl.h"
#include "tests/support/subprocess.h"

namespace sieve::testing {
namespace {

using nlohmann::json;

const std::string kMpirun = std::string(SIEVE_MPIEXEC) + " --allow-run-as-root --oversubscribe";

// The fixture's prompts as `sieve run` input (greedy, 16 tokens, with log-probabilities of the
// fp32 logits), plus a seeded sampled copy of each, so sampling is compared across rank counts
// too.
std::string write_input(const std::string& dir, const json& golden) {
  const std::string path = dir + "/in.jsonl";
  std::ofstream out(path);
  int id = 0;
  for (const auto& p : golden["prompts"]) {
    out << json{{"id", id++},       {"prompt_token_ids", p}, {"max_tokens", 16},
                {"temperature", 0}, {"logprobs", 3},         {"ignore_eos", true}}
               .dump()
        << "\n";
    out << json{{"id", id++},   {"prompt_token_ids", p}, {"max_tokens", 12},  {"temperature", 0.8},
                {"top_p", 0.9}, {"seed", 77 + id},       {"ignore_eos", true}}
               .dump()
        << "\n";
  }
  return path;
}

class MpiRunTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MpiRunTest, RanksGiveTheSingleProcessOutputsAndTheGoldens) {
  const std::string model = fixture_path("models/" + GetParam());
  const json golden = json::parse(slurp(model + "/golden.json"));
  const std::string dir = make_temp_dir("mpi-run-" + GetParam());
  const std::string in = write_input(dir, golden);
  const std::string common = " run --model " + model + " --input " + in + " --threads 1";
  Proc single = run_binary(SIEVE_BINARY, common + " --output " + dir + "/single.jsonl");
  ASSERT_EQ(single.code, 0) << single.err;
  const auto want = read_jsonl(dir + "/single.jsonl");
  for (size_t i = 0; i < golden["prompts"].size(); ++i) {
    EXPECT_EQ(want[2 * i]["output_token_ids"], golden["greedy"][i]["new_tokens"]) << i;
  }
  for (const auto& [n, overlap] : {std::pair{2, false}, {4, false}, {2, true}, {4, true}}) {
    SCOPED_TRACE(std::to_string(n) + " ranks" + (overlap ? ", overlapped" : ""));
    const std::string out =
        dir + "/ranks" + std::to_string(n) + (overlap ? "-overlap" : "") + ".jsonl";
    Proc p = run_binary(kMpirun + " -np " + std::to_string(n),
                        std::string(SIEVE_BINARY) + common + " --output " + out +
                            " --expert-parallel-size " + std::to_string(n) +
                            (overlap ? " --expert-parallel-overlap" : ""));
    ASSERT_EQ(p.code, 0) << p.err;
    EXPECT_NE(p.err.find("expert parallelism over " + std::to_string(n) + " ranks"),
              std::string::npos)
        << p.err;
    const auto got = read_jsonl(out);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i]["id"], want[i]["id"]);
      EXPECT_EQ(got[i]["output_token_ids"], want[i]["output_token_ids"]) << "line " << i;
      // Whole lines, log-probabilities of the fp32 logits included, bit for bit.
      EXPECT_EQ(got[i], want[i]) << "line " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MpiRunTest, ::testing::ValuesIn(supported_model_types()));

TEST(MpiRun, SizeMustMatchTheProcesses) {
  const std::string model = fixture_path("models/qwen3_moe");
  Proc p = run_binary(kMpirun + " -np 2", std::string(SIEVE_BINARY) + " run --model " + model +
                                              " --input /dev/null --output /dev/null");
  EXPECT_NE(p.code, 0);
  EXPECT_NE(p.err.find("--expert-parallel-size 1 but 2 processes"), std::string::npos) << p.err;
  Proc alone = run_binary(SIEVE_BINARY, " run --model " + model +
                                            " --input /dev/null --output /dev/null "
                                            "--expert-parallel-size 2");
  EXPECT_NE(alone.code, 0);
  EXPECT_NE(alone.err.find("mpirun -np N"), std::string::npos) << alone.err;
}

// --record-routing under mpirun: the ranks sum their counts every step and rank 0 writes one
// trace. Each rank runs other sequences, so the steps differ from one process's, but over the
// whole run every expert saw exactly the tokens it sees in one process (without prefix caching,
// which one process uses more: the input's prompts come in pairs, and a pair is split between
// the ranks).
TEST(MpiRun, RecordedRoutingIsSummedOverTheRanks) {
  const std::string model = fixture_path("models/qwen3_moe");
  const json golden = json::parse(slurp(model + "/golden.json"));
  const std::string dir = make_temp_dir("mpi-routing");
  const std::string in = write_input(dir, golden);
  const std::string common =
      " run --model " + model + " --input " + in + " --threads 1 --no-enable-prefix-caching";
  Proc single = run_binary(SIEVE_BINARY, common + " --output " + dir + "/single.jsonl" +
                                             " --record-routing " + dir + "/single-trace.jsonl");
  ASSERT_EQ(single.code, 0) << single.err;
  Proc ranks =
      run_binary(kMpirun + " -np 2", std::string(SIEVE_BINARY) + common + " --output " + dir +
                                         "/ranks.jsonl --expert-parallel-size 2" +
                                         " --record-routing " + dir + "/ranks-trace.jsonl");
  ASSERT_EQ(ranks.code, 0) << ranks.err;
  auto one = read_routing_trace(dir + "/single-trace.jsonl");
  auto two = read_routing_trace(dir + "/ranks-trace.jsonl");
  ASSERT_TRUE(one.ok()) << one.status().message();
  ASSERT_TRUE(two.ok()) << two.status().message();
  EXPECT_NE(two->header.source.find("2 ranks summed"), std::string::npos) << two->header.source;
  auto totals = [](const RoutingTrace& t) {
    std::vector<int64_t> sum(t.header.moe_layers.size() * t.header.num_experts + 1, 0);
    for (const RoutingStep& s : t.steps) {
      sum.back() += s.tokens;
      for (size_t l = 0; l < s.counts.size(); ++l) {
        for (int64_t e = 0; e < t.header.num_experts; ++e)
          sum[l * t.header.num_experts + e] += s.counts[l][e];
      }
    }
    return sum;
  };
  EXPECT_EQ(totals(*two), totals(*one));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()),
            5)  // in, two outputs, two traces: no file per rank
      << "files in " << dir;
}

// pids of the processes whose parent is `parent`.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string pid, comm, state;
    pid_t ppid = 0;
    stat >> pid >> comm >> state >> ppid;
    if (ppid == parent) out.push_back(std::stoi(pid));
  }
  return out;
}

// The rank of an MPI process, from its environment.
int rank_of(pid_t pid) {
  std::ifstream env("/proc/" + std::to_string(pid) + "/environ");
  std::string var;
  while (std::getline(env, var, '\0')) {
    if (var.rfind("OMPI_COMM_WORLD_RANK=", 0) == 0) return std::stoi(var.substr(21));
  }
  return -1;
}

// A rank stopped mid-run (SIGSTOP: alive, never answering) makes the other rank give up within
// the timeout with an error that says what happened, instead of hanging.
TEST(MpiRun, AHungRankMakesTheOthersExitWithAClearError) {
  const std::string model = fixture_path("models/qwen3_moe");
  const std::string dir = make_temp_dir("mpi-hang");
  {
    std::ofstream in(dir + "/in.jsonl");
    for (int i = 0; i < 4; ++i) {
      in << json{{"prompt_token_ids", {1, 2, 3, i}}, {"max_tokens", 100000}, {"ignore_eos", true}}
                .dump()
         << "\n";
    }
  }
  const std::string log = dir + "/err.log";
  const pid_t mpirun = spawn_logged(kMpirun + " -np 2 " + SIEVE_BINARY + " run --model " + model +
                                        " --input " + dir + "/in.jsonl --output " + dir +
                                        "/out.jsonl --threads 1 --max-model-len 4096 "
                                        "--expert-parallel-size 2 --distributed-timeout 3",
                                    log);
  // Wait until both ranks are generating, then freeze rank 1.
  pid_t victim = -1;
  for (int i = 0; i < 300 && victim < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (slurp(log).find("running") == std::string::npos) continue;
    for (pid_t c : children_of(mpirun)) {
      if (rank_of(c) == 1) victim = c;
    }
  }
  ASSERT_GT(victim, 0) << slurp(log);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(victim, SIGSTOP);
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  pid_t done = 0;
  while (done == 0 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30)) {
    done = waitpid(mpirun, &status, WNOHANG);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (done == 0) {  // still hanging: clean up, then fail
    kill(victim, SIGKILL);
    kill(mpirun, SIGKILL);
    waitpid(mpirun, &status, 0);
    FAIL() << "mpirun still running 30 s after a rank hung\n" << slurp(log);
  }
  kill(victim, SIGKILL);  // mpirun may have left the stopped rank behind
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_LT(secs, 20.0);
  const std::string err = slurp(log);
  EXPECT_NE(err.find("waited"), std::string::npos) << err;
  EXPECT_NE(err.find("a rank died or hangs"), std::string::npos) << err;
}

// One HTTP/1.1 request on a fresh connection (Connection: close): the status and the body.
// Status -1 when nothing came back within `timeout_s`.
std::pair<int, std::string> http_request(int port, const std::string& method,
                                         const std::string& path, const std::string& body,
                                         double timeout_s) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{static_cast<time_t>(timeout_s),
             static_cast<suseconds_t>((timeout_s - static_cast<int>(timeout_s)) * 1e6)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return {-1, "connect failed"};
  }
  const std::string req = method + " " + path +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Connection: close\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    resp.append(buf, static_cast<size_t>(n));
  close(fd);
  int status = -1;
  if (resp.rfind("HTTP/1.1 ", 0) == 0) status = std::stoi(resp.substr(9, 3));
  const size_t split = resp.find("\r\n\r\n");
  return {status, split == std::string::npos ? resp : resp.substr(split + 4)};
}

std::pair<int, std::string> http_post(int port, const std::string& path, const std::string& body,
                                      double timeout_s) {
  return http_request(port, "POST", path, body, timeout_s);
}

std::pair<int, std::string> http_get(int port, const std::string& path, double timeout_s) {
  return http_request(port, "GET", path, "", timeout_s);
}

// `sieve serve` on 2 ranks: a rank frozen while the server is up makes requests and /health get
// 503 with a clear message while rank 0 waits, then every process exits non-zero within the
// timeout.
TEST(MpiServe, AHungRankGives503AndThenTheServerExits) {
  const std::string model = fixture_path("models/qwen3_moe");
  const std::string dir = make_temp_dir("mpi-serve-hang");
  const std::string log = dir + "/err.log";
  const pid_t mpirun = spawn_logged(kMpirun + " -np 2 " + SIEVE_BINARY + " serve --model " + model +
                                        " --host 127.0.0.1 --port 0 --threads 1 "
                                        "--max-model-len 4096 --expert-parallel-size 2 "
                                        "--distributed-timeout 3",
                                    log);
  int port = -1;
  for (int i = 0; i < 600 && port < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::smatch m;
    const std::string err = slurp(log);
    if (std::regex_search(err, m, std::regex("on http://127.0.0.1:(\\d+)"))) port = std::stoi(m[1]);
  }
  pid_t victim = -1;
  for (pid_t c : children_of(mpirun)) {
    if (rank_of(c) == 1) victim = c;
  }
  auto cleanup = [&] {
    if (victim > 0) kill(victim, SIGKILL);
    kill(mpirun, SIGKILL);
    int st = 0;
    waitpid(mpirun, &st, 0);
  };
  if (port < 0 || victim < 0) {
    cleanup();
    FAIL() << "the 2-rank server did not start\n" << slurp(log);
  }
  const std::string body = json{
      {"prompt", {1, 2, 3, 4}},
      {"max_tokens", 4},
      {"temperature", 0},
      {"ignore_eos", true}}.dump();
  const auto ok = http_post(port, "/v1/completions", body, 30);
  EXPECT_EQ(ok.first, 200) << ok.second;
  const auto healthy = http_get(port, "/health", 10);
  EXPECT_EQ(healthy.first, 200) << healthy.second;

  kill(victim, SIGSTOP);
  const auto t0 = std::chrono::steady_clock::now();
  // Rank 0 starts waiting on rank 1 within a heartbeat (0.5 s) and gives up after 3 s.
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  const auto r0 = std::chrono::steady_clock::now();
  const auto refused = http_post(port, "/v1/completions", body, 10);
  const double answer_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
  EXPECT_EQ(refused.first, 503) << refused.second;
  EXPECT_NE(refused.second.find("ranks are not responding"), std::string::npos) << refused.second;
  EXPECT_LT(answer_s, 0.5);
  const auto unhealthy = http_get(port, "/health", 1);
  EXPECT_EQ(unhealthy.first, 503) << unhealthy.second;
  EXPECT_NE(unhealthy.second.find("ranks are not responding"), std::string::npos)
      << unhealthy.second;

  int status = 0;
  pid_t done = 0;
  while (done == 0 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30)) {
    done = waitpid(mpirun, &status, WNOHANG);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (done == 0) {
    cleanup();
    FAIL() << "mpirun still running 30 s after a rank hung\n" << slurp(log);
  }
  kill(victim, SIGKILL);  // mpirun may have left the stopped rank behind
  std::cerr << "503 after " << answer_s << " s; all exited " << secs << " s after the hang\n";
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_LT(secs, 3 + 0.5 + 6.0);
  const std::string err = slurp(log);
  EXPECT_NE(err.find("rank 0: the distributed step failed"), std::string::npos) << err;
  EXPECT_NE(err.find("a rank died or hangs"), std::string::npos) << err;
}

}  // namespace
}  // namespace sieve::testing
