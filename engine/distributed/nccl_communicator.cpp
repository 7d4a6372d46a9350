#include "engine/distributed/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

namespace sieve {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::microseconds kSpin{50};
constexpr std::chrono::microseconds kNapMin{50};
constexpr std::chrono::microseconds kNapMax{200};

Clock::time_point deadline_after(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

std::string nccl_error(ncclComm_t comm, ncclResult_t rc) {
  std::string text = ncclGetErrorString(rc);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && *last != '\0') text += std::string(" (") + last + ")";
  return text;
}

// Local rank on this node: OpenMPI's variable, else the rank itself (one rank per node).
int local_rank(int rank) {
  const char* env = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  return env != nullptr ? std::atoi(env) : rank;
}

enum class Wait { kDone, kTimedOut, kError };

// Polls `done` (spinning, then napping) until it reports completion, an error, or the deadline.
// `done` returns kDone, kError (with *why set) or kTimedOut for "not yet".
template <class Fn>
Wait poll_until(Clock::time_point deadline, Fn&& done) {
  const auto start = Clock::now();
  auto nap = kNapMin;
  for (;;) {
    const Wait w = done();
    if (w != Wait::kTimedOut) return w;
    const auto now = Clock::now();
    if (now >= deadline) return Wait::kTimedOut;
    if (now - start < kSpin) continue;
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, kNapMax);
  }
}

// Waits until the non-blocking communicator has no operation in progress.
Wait wait_comm(ncclComm_t comm, Clock::time_point deadline, std::string* why) {
  return poll_until(deadline, [&] {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t rc = ncclCommGetAsyncError(comm, &state);
    if (rc != ncclSuccess || (state != ncclSuccess && state != ncclInProgress)) {
      *why = nccl_error(comm, rc != ncclSuccess ? rc : state);
      return Wait::kError;
    }
    return state == ncclSuccess ? Wait::kDone : Wait::kTimedOut;
  });
}

}  // namespace

struct NcclCommunicator::Nccl {
  ncclComm_t comm = nullptr;
  bool aborted = false;
  void abort() {
    if (comm != nullptr && !aborted) ncclCommAbort(comm);
    aborted = true;
  }
};

Result<std::unique_ptr<NcclCommunicator>> NcclCommunicator::create(
    std::unique_ptr<Communicator> control, double timeout_s) {
  SIEVE_CHECK(control != nullptr);
  SIEVE_CHECK(control->device() == Device::kCpu);
  if (!(timeout_s > 0)) return invalid_argument("communicator timeout must be > 0 seconds");
  const int rank = control->rank();
  // Every rank picks its device; all learn whether one failed, so that all fail together.
  int count = 0;
  int device = -1;
  std::string why;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    why = err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device";
  } else {
    device = local_rank(rank) % count;
    err = cudaSetDevice(device);
    if (err != cudaSuccess) why = cudaGetErrorString(err);
  }
  std::vector<int64_t> failed = {why.empty() ? 0 : 1};
  SIEVE_RETURN_IF_ERROR(control->all_reduce_sum(failed));
  if (!why.empty())
    return unavailable("NcclCommunicator: rank " + std::to_string(rank) + ": " + why);
  if (failed[0] > 0) {
    return unavailable("NcclCommunicator: " + std::to_string(failed[0]) +
                       " rank(s) found no usable CUDA device");
  }

  std::vector<uint8_t> id_bytes;
  ncclUniqueId id;
  if (rank == 0) {
    const ncclResult_t rc = ncclGetUniqueId(&id);
    if (rc != ncclSuccess)
      why = std::string("ncclGetUniqueId: ") + ncclGetErrorString(rc);
    else
      id_bytes.assign(reinterpret_cast<const uint8_t*>(&id),
                      reinterpret_cast<const uint8_t*>(&id) + sizeof(id));
  }
  // An empty id tells the other ranks that rank 0 failed.
  SIEVE_RETURN_IF_ERROR(control->broadcast(id_bytes, 0));
  if (id_bytes.size() != sizeof(id)) {
    return unavailable(why.empty() ? "NcclCommunicator: rank 0 could not make an NCCL id" : why);
  }
  std::memcpy(&id, id_bytes.data(), sizeof(id));

  auto nccl = std::make_unique<Nccl>();
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // calls return at once; waits below poll with a deadline
  ncclResult_t rc = ncclCommInitRankConfig(&nccl->comm, control->size(), id, rank, &config);
  if (rc != ncclSuccess && rc != ncclInProgress) {
    nccl->abort();
    return unavailable("ncclCommInitRankConfig: " + nccl_error(nccl->comm, rc));
  }
  switch (wait_comm(nccl->comm, deadline_after(timeout_s), &why)) {
    case Wait::kDone:
      break;
    case Wait::kError:
      nccl->abort();
      return unavailable("ncclCommInitRankConfig: rank " + std::to_string(rank) + ": " + why);
    case Wait::kTimedOut:
      nccl->abort();
      std::ostringstream os;
      os << "ncclCommInitRankConfig: rank " << rank << " waited " << timeout_s
         << " s for its peers (a rank died or hangs)";
      return unavailable(os.str());
  }
  cudaStream_t stream = nullptr;
  err = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (err != cudaSuccess) {
    nccl->abort();
    return unavailable(std::string("cudaStreamCreate: ") + cudaGetErrorString(err));
  }
  return std::unique_ptr<NcclCommunicator>(
      new NcclCommunicator(std::move(control), timeout_s, std::move(nccl), stream, device));
}

NcclCommunicator::NcclCommunicator(std::unique_ptr<Communicator> control, double timeout_s,
                                   std::unique_ptr<Nccl> nccl, void* stream, int cuda_device)
    : control_(std::move(control)),
      timeout_s_(timeout_s),
      nccl_(std::move(nccl)),
      stream_(stream),
      cuda_device_(cuda_device) {}

NcclCommunicator::~NcclCommunicator() {
  // Flush and free; a peer that never finalises turns it into an abort. An aborted
  // communicator is already gone.
  if (!nccl_->aborted) {
    std::string why;
    const ncclResult_t rc = ncclCommFinalize(nccl_->comm);
    if ((rc == ncclSuccess || rc == ncclInProgress) &&
        wait_comm(nccl_->comm, deadline_after(timeout_s_), &why) == Wait::kDone) {
      ncclCommDestroy(nccl_->comm);
    } else {
      nccl_->abort();
    }
  }
  cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

Status NcclCommunicator::fail(std::string message) {
  nccl_->abort();
  if (broken_.empty()) broken_ = message;
  return unavailable(std::move(message));
}

// A grouped send/receive launched on the communicator's stream, marked by an event recorded
// after it: several can be in flight (the stream runs them in order), each waited for alone.
class NcclCommunicator::PendingNcclAllToAll final : public PendingAllToAll {
 public:
  PendingNcclAllToAll(NcclCommunicator& comm, cudaEvent_t done, std::string where)
      : comm_(comm), done_(done), where_(std::move(where)) {}
  ~PendingNcclAllToAll() override {
    if (!waited_) (void)wait();
    cudaEventDestroy(done_);
  }
  Status wait() override {
    if (waited_) return Status::Ok();
    waited_ = true;
    ncclComm_t comm = comm_.nccl_->comm;
    std::string why;
    const Wait w = poll_until(deadline_after(comm_.timeout_s_), [&] {
      const cudaError_t err = cudaEventQuery(done_);
      if (err == cudaSuccess) return Wait::kDone;
      if (err != cudaErrorNotReady) {
        why = cudaGetErrorString(err);
        return Wait::kError;
      }
      ncclResult_t state = ncclSuccess;
      ncclCommGetAsyncError(comm, &state);
      if (state != ncclSuccess && state != ncclInProgress) {
        why = nccl_error(comm, state);
        return Wait::kError;
      }
      return Wait::kTimedOut;
    });
    switch (w) {
      case Wait::kDone:
        return Status::Ok();
      case Wait::kError:
        return comm_.fail(where_ + ": " + why);
      case Wait::kTimedOut:
        break;
    }
    std::ostringstream os;
    os << where_ << " waited " << comm_.timeout_s_ << " s for its peers (a rank died or hangs)";
    return comm_.fail(os.str());
  }

 private:
  NcclCommunicator& comm_;
  cudaEvent_t done_;
  std::string where_;
  bool waited_ = false;
};

Result<std::unique_ptr<PendingAllToAll>> NcclCommunicator::start_all_to_all_v(
    const void* send, std::span<const int64_t> send_bytes, void* recv,
    std::span<const int64_t> recv_bytes) {
  static constexpr const char* kCall = "all_to_all_v";
  if (!broken_.empty()) {
    return unavailable(std::string(kCall) + ": communicator unusable after an earlier failure (" +
                       broken_ + ")");
  }
  const int n = size();
  SIEVE_CHECK_EQ(send_bytes.size(), static_cast<size_t>(n));
  SIEVE_CHECK_EQ(recv_bytes.size(), static_cast<size_t>(n));
  const std::string where = std::string(kCall) + ": rank " + std::to_string(rank());
  ncclComm_t comm = nccl_->comm;
  auto stream = static_cast<cudaStream_t>(stream_);
  const auto* src = static_cast<const char*>(send);
  auto* dst = static_cast<char*>(recv);
  ncclResult_t rc = ncclGroupStart();
  for (int r = 0; r < n && rc == ncclSuccess; ++r) {
    SIEVE_CHECK(send_bytes[r] >= 0 && recv_bytes[r] >= 0);
    if (send_bytes[r] > 0) {
      rc = ncclSend(src, static_cast<size_t>(send_bytes[r]), ncclChar, r, comm, stream);
      src += send_bytes[r];
    }
    if (rc == ncclSuccess && recv_bytes[r] > 0) {
      rc = ncclRecv(dst, static_cast<size_t>(recv_bytes[r]), ncclChar, r, comm, stream);
      dst += recv_bytes[r];
    }
  }
  const ncclResult_t end = ncclGroupEnd();
  if (rc == ncclSuccess) rc = end;
  if (rc != ncclSuccess && rc != ncclInProgress) return fail(where + ": " + nccl_error(comm, rc));

  // The group's launch (non-blocking communicator) must finish before its work is on the
  // stream and an event after it means anything.
  std::string why;
  const auto deadline = deadline_after(timeout_s_);
  switch (wait_comm(comm, deadline, &why)) {
    case Wait::kDone:
      break;
    case Wait::kError:
      return fail(where + ": " + why);
    case Wait::kTimedOut: {
      std::ostringstream os;
      os << where << " waited " << timeout_s_
         << " s for its peers to launch (a rank died or hangs)";
      return fail(os.str());
    }
  }
  cudaEvent_t done = nullptr;
  cudaError_t err = cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
  if (err == cudaSuccess) err = cudaEventRecord(done, stream);
  if (err != cudaSuccess) {
    if (done != nullptr) cudaEventDestroy(done);
    return fail(where + ": " + cudaGetErrorString(err));
  }
  return std::unique_ptr<PendingAllToAll>(
      std::make_unique<PendingNcclAllToAll>(*this, done, where));
}

}  // namespace sieve
