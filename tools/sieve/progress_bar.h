// A one-line progress bar on stderr for long work (loading weights, batch runs). Draws only
// when stderr is a terminal, at most ~10 times a second; otherwise it is silent and the caller's
// one-line summary is all that appears.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sieve {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  ~ProgressBar();
  // `detail` is shown after the counts, e.g. "312 tok/s".
  void update(int64_t done, const std::string& detail = "");
  // Draws the final state and ends the line.
  void finish(const std::string& detail = "");
  // Formats counts: bytes as "1.2 GB", plain numbers otherwise.
  void show_as_bytes() { bytes_ = true; }

 private:
  void draw(int64_t done, const std::string& detail);
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool bytes_ = false;
  bool finished_ = false;
  int64_t last_done_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

std::string format_bytes(double bytes);

}  // namespace sieve
