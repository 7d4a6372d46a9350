#include "engine/experts/hybrid/serial_worker.h"

namespace sieve {

SerialWorker::SerialWorker() : thread_([this] { loop(); }) {}

SerialWorker::~SerialWorker() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void SerialWorker::post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
    ++unfinished_;
  }
  wake_.notify_one();
}

void SerialWorker::wait_idle() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return unfinished_ == 0; });
}

int64_t SerialWorker::pending() const {
  std::lock_guard lock(mu_);
  return unfinished_;
}

void SerialWorker::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return quit_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // quitting, nothing left
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
    if (--unfinished_ == 0) idle_.notify_all();
  }
}

}  // namespace sieve
