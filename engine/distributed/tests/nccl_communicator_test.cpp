// NcclCommunicator on one rank (bootstrapped through a SelfCommunicator): all_to_all_v to
// itself on device buffers, two in flight, and the control collectives it delegates. Without a
// usable CUDA device the binary exits 77, which CTest reports as "Not Run". Across GPUs it runs
// the same way under mpirun with an MpiCommunicator (tools/sieve/distributed.cpp).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "engine/distributed/nccl_communicator.h"
#include "engine/distributed/self_communicator.h"

namespace sieve {
namespace {

// One rank, bootstrapped without MPI (no mpirun or Open MPI runtime needed on the GPU machine).
std::unique_ptr<NcclCommunicator> make_comm() {
  auto comm = NcclCommunicator::create(std::make_unique<SelfCommunicator>(), 60.0);
  SIEVE_CHECK_MSG(comm.ok(), comm.status().to_string());
  return std::move(comm).value();
}

TEST(NcclCommunicator, AllToAllVOnDevice) {
  auto comm = make_comm();
  EXPECT_EQ(comm->device(), Device::kCuda);
  EXPECT_EQ(comm->name(), "nccl");
  EXPECT_NE(comm->stream(), nullptr);
  const int n = comm->size();
  // Rank r sends (r + 1) * 1 MiB + d * 3 + 1 bytes to rank d, the same on every rank.
  auto bytes_between = [](int s, int d) { return int64_t{s + 1} * (1 << 20) + d * 3 + 1; };
  const int me = comm->rank();
  std::vector<int64_t> send_bytes(n), recv_bytes(n);
  for (int r = 0; r < n; ++r) {
    send_bytes[r] = bytes_between(me, r);
    recv_bytes[r] = bytes_between(r, me);
  }
  const int64_t send_total = std::accumulate(send_bytes.begin(), send_bytes.end(), int64_t{0});
  const int64_t recv_total = std::accumulate(recv_bytes.begin(), recv_bytes.end(), int64_t{0});
  std::vector<uint8_t> host_send(send_total);
  int64_t at = 0;
  for (int d = 0; d < n; ++d) {
    for (int64_t i = 0; i < send_bytes[d]; ++i)
      host_send[at++] = uint8_t(me * 17 + d * 5 + i);
  }
  void* dev_send = nullptr;
  void* dev_recv = nullptr;
  ASSERT_EQ(cudaMalloc(&dev_send, send_total), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dev_recv, recv_total), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dev_send, host_send.data(), send_total, cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemset(dev_recv, 0xEE, recv_total), cudaSuccess);
  const Status st = comm->all_to_all_v(dev_send, send_bytes, dev_recv, recv_bytes);
  ASSERT_TRUE(st.ok()) << st.to_string();
  std::vector<uint8_t> host_recv(recv_total);
  ASSERT_EQ(cudaMemcpy(host_recv.data(), dev_recv, recv_total, cudaMemcpyDeviceToHost),
            cudaSuccess);
  at = 0;
  for (int s = 0; s < n; ++s) {
    for (int64_t i = 0; i < recv_bytes[s]; ++i, ++at) {
      ASSERT_EQ(host_recv[at], uint8_t(s * 17 + me * 5 + i)) << "byte " << i << " from " << s;
    }
  }
  // Nothing to exchange is still a collective call that succeeds.
  const std::vector<int64_t> zeros(n, 0);
  EXPECT_TRUE(comm->all_to_all_v(nullptr, zeros, nullptr, zeros).ok());
  cudaFree(dev_send);
  cudaFree(dev_recv);
}

// Two exchanges in flight on the communicator's stream, waited for in reverse order.
TEST(NcclCommunicator, TwoAllToAllVInFlight) {
  auto comm = make_comm();
  const int n = comm->size(), me = comm->rank();
  const int64_t per_peer = (1 << 20) + 5;
  const std::vector<int64_t> bytes(n, per_peer);
  const int64_t total = per_peer * n;
  std::vector<void*> send(2), recv(2);
  for (int x = 0; x < 2; ++x) {
    std::vector<uint8_t> host(total);
    for (int d = 0; d < n; ++d) {
      for (int64_t i = 0; i < per_peer; ++i)
        host[d * per_peer + i] = uint8_t(x * 101 + me * 17 + d * 5 + i);
    }
    ASSERT_EQ(cudaMalloc(&send[x], total), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&recv[x], total), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(send[x], host.data(), total, cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<std::unique_ptr<PendingAllToAll>> pending;
  for (int x = 0; x < 2; ++x) {
    auto p = comm->start_all_to_all_v(send[x], bytes, recv[x], bytes);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    pending.push_back(std::move(p).value());
  }
  for (int x = 1; x >= 0; --x) {
    const Status st = pending[x]->wait();
    ASSERT_TRUE(st.ok()) << st.to_string();
    std::vector<uint8_t> host(total);
    ASSERT_EQ(cudaMemcpy(host.data(), recv[x], total, cudaMemcpyDeviceToHost), cudaSuccess);
    for (int s = 0; s < n; ++s) {
      for (int64_t i = 0; i < per_peer; ++i) {
        ASSERT_EQ(host[s * per_peer + i], uint8_t(x * 101 + s * 17 + me * 5 + i))
            << "exchange " << x << " byte " << i << " from " << s;
      }
    }
  }
  for (int x = 0; x < 2; ++x) {
    cudaFree(send[x]);
    cudaFree(recv[x]);
  }
}

TEST(NcclCommunicator, ControlCollectivesAreDelegated) {
  auto comm = make_comm();
  std::vector<uint8_t> bytes = {1, 2, 3};
  ASSERT_TRUE(comm->broadcast(bytes, 0).ok());
  EXPECT_EQ(bytes, (std::vector<uint8_t>{1, 2, 3}));
  std::vector<int64_t> values = {5};
  ASSERT_TRUE(comm->all_reduce_sum(values).ok());
  EXPECT_EQ(values[0], 5 * comm->size());
  EXPECT_TRUE(comm->barrier().ok());
}

}  // namespace
}  // namespace sieve
