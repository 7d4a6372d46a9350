// One helper thread that runs the jobs posted to it, in order. The hybrid MoE executor keeps two:
// one runs a layer's host experts while the calling thread runs its device experts, the other
// makes the device copies of background residency swaps. Jobs must not throw (no exception
// crosses a thread): they report through what they capture.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace sieve {

class SerialWorker {
 public:
  SerialWorker();
  ~SerialWorker();  // runs the jobs already posted, then joins
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  void post(std::function<void()> job);
  // Returns once every job posted so far has finished.
  void wait_idle();
  // Jobs posted and not yet finished.
  int64_t pending() const;

 private:
  void loop();

  mutable std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<std::function<void()>> jobs_;
  int64_t unfinished_ = 0;
  bool quit_ = false;
  std::thread thread_;
};

}  // namespace sieve
