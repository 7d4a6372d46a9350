#include "tests/support/fixtures.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

namespace sieve::testing {
namespace fs = std::filesystem;

namespace {
[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr,
               "FIXTURE MISSING: %s\nSet SIEVE_FIXTURES to the shared fixtures folder "
               "(default: ../shared/fixtures beside the source tree).\n",
               what.c_str());
  std::fflush(stderr);
  std::exit(1);
}

std::vector<std::string>& temp_dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}
}  // namespace

std::string fixtures_dir() {
  const char* env = std::getenv("SIEVE_FIXTURES");
  std::string dir = env && *env ? env : SIEVE_FIXTURES_DEFAULT;
  if (!fs::is_directory(dir)) die(dir + " is not a directory");
  return dir;
}

std::string fixture_path(const std::string& relative) {
  std::string p = fixtures_dir() + "/" + relative;
  if (!fs::exists(p)) die(p);
  return p;
}

std::string make_temp_dir(const std::string& tag) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::string templ = (fs::temp_directory_path() / ("sieve-" + tag + "-XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) die("cannot create temp dir " + templ);
  std::string dir(buf.data());
  if (temp_dirs().empty()) {
    std::atexit([] {
      std::error_code ec;
      for (auto& d : temp_dirs())
        fs::remove_all(d, ec);
    });
  }
  temp_dirs().push_back(dir);
  return dir;
}

}  // namespace sieve::testing
