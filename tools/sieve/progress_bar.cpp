#include "tools/sieve/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace sieve {

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", bytes, units[u]);
  return buf;
}

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), enabled_(isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && !finished_ && last_draw_ != std::chrono::steady_clock::time_point{}) {
    std::fputc('\n', stderr);
  }
}

void ProgressBar::update(int64_t done, const std::string& detail) {
  last_done_ = done;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
  last_draw_ = now;
  draw(done, detail);
}

void ProgressBar::finish(const std::string& detail) {
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw(last_done_, detail);
  std::fputc('\n', stderr);
}

void ProgressBar::draw(int64_t done, const std::string& detail) {
  constexpr int kWidth = 30;
  const double frac = total_ > 0 ? static_cast<double>(done) / total_ : 1.0;
  const int filled = static_cast<int>(frac * kWidth + 0.5);
  std::string bar(filled, '#');
  bar.resize(kWidth, ' ');
  const std::string counts = bytes_ ? format_bytes(done) + "/" + format_bytes(total_)
                                    : std::to_string(done) + "/" + std::to_string(total_);
  std::fprintf(stderr, "\r%s [%s] %3d%% %s %s\x1b[K", label_.c_str(), bar.c_str(),
               static_cast<int>(frac * 100), counts.c_str(), detail.c_str());
  std::fflush(stderr);
}

}  // namespace sieve
