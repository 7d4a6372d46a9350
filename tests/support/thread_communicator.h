// An in-process Communicator for tests: N threads, one per rank, sharing memory. Lets the
// expert-parallel model code be tested without MPI (the MPI communicator has its own tests under
// mpirun). No timeouts: a test that breaks the protocol hangs, so keep the protocol simple.
#pragma once

#include <barrier>
#include <cstring>
#include <memory>
#include <vector>

#include "engine/distributed/communicator.h"

namespace sieve::testing {

// What the ranks of one ThreadCommunicator group share.
struct ThreadGroup {
  explicit ThreadGroup(int n) : size(n), sync(n), ptrs(n), sizes(n), counts(n * n), sums(n) {}
  int size;
  std::barrier<> sync;
  std::vector<const void*> ptrs;            // each rank's buffer for the current call
  std::vector<std::vector<int64_t>> sizes;  // each rank's byte counts for the current call
  std::vector<int64_t> counts;              // [from * n + to]
  std::vector<std::vector<int64_t>> sums;   // each rank's values for all_reduce_sum
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<ThreadGroup> group, int rank)
      : g_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_->size; }
  Device device() const override { return Device::kCpu; }
  std::string name() const override { return "threads"; }

  // Runs the exchange at once (every rank starts them in the same order, so this cannot
  // deadlock) and hands back a finished one.
  Result<std::unique_ptr<PendingAllToAll>> start_all_to_all_v(
      const void* send, std::span<const int64_t> send_bytes, void* recv,
      std::span<const int64_t> recv_bytes) override {
    Status s = exchange(send, send_bytes, recv, recv_bytes);
    if (!s.ok()) return s;
    return std::unique_ptr<PendingAllToAll>(std::make_unique<Done>());
  }

  Status exchange(const void* send, std::span<const int64_t> send_bytes, void* recv,
                  std::span<const int64_t> recv_bytes) {
    g_->ptrs[rank_] = send;
    g_->sizes[rank_].assign(send_bytes.begin(), send_bytes.end());
    g_->sync.arrive_and_wait();
    int64_t at = 0;
    for (int r = 0; r < g_->size; ++r) {
      int64_t offset = 0;  // of what rank r sends to me, in r's buffer
      for (int q = 0; q < rank_; ++q)
        offset += g_->sizes[r][q];
      if (g_->sizes[r][rank_] != recv_bytes[r]) {
        g_->sync.arrive_and_wait();
        return invalid_argument("all_to_all_v: byte counts disagree");
      }
      std::memcpy(static_cast<char*>(recv) + at, static_cast<const char*>(g_->ptrs[r]) + offset,
                  recv_bytes[r]);
      at += recv_bytes[r];
    }
    g_->sync.arrive_and_wait();  // nobody reuses its send buffer before all have copied
    return Status::Ok();
  }

  Status all_to_all_counts(std::span<const int64_t> send, std::span<int64_t> recv) override {
    for (int r = 0; r < g_->size; ++r)
      g_->counts[rank_ * g_->size + r] = send[r];
    g_->sync.arrive_and_wait();
    for (int r = 0; r < g_->size; ++r)
      recv[r] = g_->counts[r * g_->size + rank_];
    g_->sync.arrive_and_wait();
    return Status::Ok();
  }

  Status broadcast(std::vector<uint8_t>& bytes, int root) override {
    if (rank_ == root) g_->ptrs[root] = &bytes;
    g_->sync.arrive_and_wait();
    if (rank_ != root) bytes = *static_cast<const std::vector<uint8_t>*>(g_->ptrs[root]);
    g_->sync.arrive_and_wait();
    return Status::Ok();
  }

  Status gather(std::span<const uint8_t> mine, std::vector<std::vector<uint8_t>>* all,
                int root) override {
    g_->ptrs[rank_] = &mine;
    g_->sync.arrive_and_wait();
    if (rank_ == root) {
      all->clear();
      for (int r = 0; r < g_->size; ++r) {
        const auto* s = static_cast<const std::span<const uint8_t>*>(g_->ptrs[r]);
        all->emplace_back(s->begin(), s->end());
      }
    }
    g_->sync.arrive_and_wait();
    return Status::Ok();
  }

  Status all_reduce_sum(std::span<int64_t> values) override {
    g_->sums[rank_].assign(values.begin(), values.end());
    g_->sync.arrive_and_wait();
    for (size_t i = 0; i < values.size(); ++i) {
      int64_t total = 0;
      for (int r = 0; r < g_->size; ++r)
        total += g_->sums[r][i];
      values[i] = total;
    }
    g_->sync.arrive_and_wait();
    return Status::Ok();
  }

  Status barrier() override {
    g_->sync.arrive_and_wait();
    return Status::Ok();
  }

 private:
  struct Done final : PendingAllToAll {
    Status wait() override { return Status::Ok(); }
  };
  std::shared_ptr<ThreadGroup> g_;
  int rank_;
};

}  // namespace sieve::testing
