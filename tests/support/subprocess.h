// Running a binary as a subprocess for end-to-end tests: exit code, stdout and stderr.
#pragma once

#include <string>

namespace sieve::testing {

struct Proc {
  int code = -1;  // exit code; -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs `binary args` through the shell (args are shell words), capturing stdout and stderr
// separately.
Proc run_binary(const std::string& binary, const std::string& args);

// A whole file's contents ("" when it cannot be read).
std::string slurp(const std::string& path);

// Starts `command` (a shell command line) in the background with its stderr in `log` and its
// stdout discarded; returns its pid (the shell execs the command, so it is the command's).
int spawn_logged(const std::string& command, const std::string& log);

}  // namespace sieve::testing
