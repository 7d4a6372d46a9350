// Where the shared fixtures live: $SIEVE_FIXTURES, else ../shared/fixtures beside the source
// tree. A missing fixture is a test failure, never a skip.
#pragma once

#include <string>

namespace sieve::testing {

// The fixtures root. Aborts the test binary with a clear message when it does not exist.
std::string fixtures_dir();
// fixtures_dir() + "/" + relative; fails the binary when the path does not exist.
std::string fixture_path(const std::string& relative);
// A fresh, empty directory under the system temp dir, removed at exit.
std::string make_temp_dir(const std::string& tag);

}  // namespace sieve::testing
