#include "tests/support/subprocess.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/support/fixtures.h"

namespace sieve::testing {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int spawn_logged(const std::string& command, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::freopen(log.c_str(), "w", stderr);
    std::freopen("/dev/null", "w", stdout);
    execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

Proc run_binary(const std::string& binary, const std::string& args) {
  const std::string dir = make_temp_dir("proc");
  const std::string cmd = binary + " " + args + " >" + dir + "/out 2>" + dir + "/err";
  Proc p;
  const int status = std::system(cmd.c_str());
  p.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  p.out = slurp(dir + "/out");
  p.err = slurp(dir + "/err");
  return p;
}

}  // namespace sieve::testing
