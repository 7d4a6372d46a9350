#include "engine/distributed/mpi_communicator.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

namespace sieve {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::microseconds kSpin{50};     // busy polling first: collectives are short
constexpr std::chrono::microseconds kNapMin{50};   // then sleeps growing from this...
constexpr std::chrono::microseconds kNapMax{200};  // ...to this
constexpr int64_t kDefaultChunkBytes = int64_t{1} << 30;

std::string mpi_error_string(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(text, static_cast<size_t>(len));
}

enum class Poll { kDone, kTimedOut, kError };

// Polls `*request` (spinning, then napping) until it completes or `deadline` passes.
Poll poll_until(MPI_Request* request, Clock::time_point deadline, int* rc) {
  const auto start = Clock::now();
  auto nap = kNapMin;
  for (;;) {
    int done = 0;
    *rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (*rc != MPI_SUCCESS) return Poll::kError;
    if (done) return Poll::kDone;
    const auto now = Clock::now();
    if (now >= deadline) return Poll::kTimedOut;
    if (now - start < kSpin) continue;
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, kNapMax);
  }
}

Clock::time_point deadline_after(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// What an abandoned (timed-out) operation may still write to: kept for the life of the process,
// since a late peer can complete the operation at any time, even after the communicator is gone.
void keep_forever(std::shared_ptr<void> scratch) {
  static auto* kept = new std::vector<std::shared_ptr<void>>();  // never freed, by design
  if (scratch) kept->push_back(std::move(scratch));
}

// A datatype for `bytes` contiguous bytes starting `offset` bytes into a buffer, with 64-bit
// offsets and counts: `chunk`-byte blocks and a remainder. Committed; the caller frees it.
MPI_Datatype make_block_type(int64_t offset, int64_t bytes, int64_t chunk) {
  const int64_t blocks = bytes / chunk;
  const int64_t rem = bytes % chunk;
  SIEVE_CHECK_LE(blocks, INT_MAX);
  MPI_Datatype chunk_type = MPI_DATATYPE_NULL;
  int lens[2];
  MPI_Aint displs[2];
  MPI_Datatype types[2];
  int n = 0;
  if (blocks > 0) {
    SIEVE_CHECK_EQ(MPI_Type_contiguous(static_cast<int>(chunk), MPI_BYTE, &chunk_type),
                   MPI_SUCCESS);
    lens[n] = static_cast<int>(blocks);
    displs[n] = static_cast<MPI_Aint>(offset);
    types[n++] = chunk_type;
  }
  if (rem > 0) {
    lens[n] = static_cast<int>(rem);
    displs[n] = static_cast<MPI_Aint>(offset + blocks * chunk);
    types[n++] = MPI_BYTE;
  }
  MPI_Datatype type = MPI_DATATYPE_NULL;
  SIEVE_CHECK_EQ(MPI_Type_create_struct(n, lens, displs, types, &type), MPI_SUCCESS);
  SIEVE_CHECK_EQ(MPI_Type_commit(&type), MPI_SUCCESS);
  if (chunk_type != MPI_DATATYPE_NULL) MPI_Type_free(&chunk_type);
  return type;
}

// Per-peer arguments of MPI_Ialltoallw for one side (send or receive) of all_to_all_v: plain
// byte counts and offsets where they fit in an int, a derived type elsewhere. Each rank picks
// its own types (only the byte signatures must match), so the choice needs no agreement.
struct AlltoallwSide {
  std::vector<int> counts, displs;
  std::vector<MPI_Datatype> types;

  AlltoallwSide(std::span<const int64_t> bytes, int64_t max_plain, int64_t chunk) {
    const size_t n = bytes.size();
    counts.assign(n, 0);
    displs.assign(n, 0);
    types.assign(n, MPI_BYTE);
    int64_t offset = 0;
    for (size_t r = 0; r < n; ++r) {
      SIEVE_CHECK_GE(bytes[r], 0);
      if (bytes[r] > 0 && bytes[r] <= max_plain && offset <= max_plain) {
        counts[r] = static_cast<int>(bytes[r]);
        displs[r] = static_cast<int>(offset);
      } else if (bytes[r] > 0) {
        counts[r] = 1;
        types[r] = make_block_type(offset, bytes[r], chunk);
      }
      offset += bytes[r];
    }
  }
  ~AlltoallwSide() {
    for (MPI_Datatype& t : types) {
      if (t != MPI_BYTE) MPI_Type_free(&t);  // freeing a type in use by a pending op is allowed
    }
  }
  AlltoallwSide(const AlltoallwSide&) = delete;
  AlltoallwSide& operator=(const AlltoallwSide&) = delete;
};

struct AlltoallwScratch {
  AlltoallwScratch(std::span<const int64_t> send_bytes, std::span<const int64_t> recv_bytes,
                   int64_t max_plain, int64_t chunk)
      : send(send_bytes, max_plain, chunk), recv(recv_bytes, max_plain, chunk) {}
  AlltoallwSide send, recv;
};

}  // namespace

bool launched_under_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr;
}

// ---------------------------------------------------------------------------------------------
// MpiSession

Result<std::unique_ptr<MpiSession>> MpiSession::start(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return failed_precondition("MPI is already initialised (one MpiSession)");
  int provided = 0;
  const int rc = MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
  if (rc != MPI_SUCCESS) return unavailable("MPI_Init_thread failed: " + mpi_error_string(rc));
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    return unimplemented("this MPI library does not provide MPI_THREAD_SERIALIZED (got level " +
                         std::to_string(provided) + ")");
  }
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return std::unique_ptr<MpiSession>(new MpiSession(rank, size));
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

// ---------------------------------------------------------------------------------------------
// MpiCommunicator: set-up

Result<std::unique_ptr<MpiCommunicator>> MpiCommunicator::create(double timeout_s, MPI_Comm base) {
  if (!(timeout_s > 0)) return invalid_argument("communicator timeout must be > 0 seconds");
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return failed_precondition("MPI is not initialised (start an MpiSession)");
  MPI_Comm comm = MPI_COMM_NULL;
  MPI_Request request = MPI_REQUEST_NULL;
  int rc = MPI_Comm_idup(base, &comm, &request);
  if (rc != MPI_SUCCESS) return unavailable("MPI_Comm_idup: " + mpi_error_string(rc));
  switch (poll_until(&request, deadline_after(timeout_s), &rc)) {
    case Poll::kDone:
      break;
    case Poll::kTimedOut:
      return unavailable("MpiCommunicator::create: waited " + std::to_string(timeout_s) +
                         " s for its peers to duplicate the communicator (a rank died or hangs)");
    case Poll::kError:
      return unavailable("MpiCommunicator::create: " + mpi_error_string(rc));
  }
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(comm, timeout_s));
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, double timeout_s)
    : comm_(comm),
      timeout_s_(timeout_s),
      max_plain_bytes_(INT_MAX),
      chunk_bytes_(kDefaultChunkBytes) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // A broken communicator may have operations pending: it is left for MPI_Finalize.
  if (!finalized && broken_.empty()) MPI_Comm_free(&comm_);
}

void MpiCommunicator::set_limits_for_test(int64_t max_plain_bytes, int64_t chunk_bytes) {
  SIEVE_CHECK(max_plain_bytes > 0 && max_plain_bytes <= INT_MAX);
  SIEVE_CHECK(chunk_bytes > 0 && chunk_bytes <= INT_MAX);
  max_plain_bytes_ = max_plain_bytes;
  chunk_bytes_ = chunk_bytes;
}

// ---------------------------------------------------------------------------------------------
// MpiCommunicator: waiting and errors

Status MpiCommunicator::usable(const char* call) const {
  if (broken_.empty()) return Status::Ok();
  return unavailable(std::string(call) + ": communicator unusable after an earlier failure (" +
                     broken_ + ")");
}

Status MpiCommunicator::fail(std::string message) {
  if (broken_.empty()) broken_ = message;
  return unavailable(std::move(message));
}

Status MpiCommunicator::check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return Status::Ok();
  return fail(std::string(call) + ": rank " + std::to_string(rank_) + ": " + mpi_error_string(rc));
}

Status MpiCommunicator::wait(MPI_Request* request, const char* call,
                             std::shared_ptr<void> scratch) {
  int rc = MPI_SUCCESS;
  switch (poll_until(request, deadline_after(timeout_s_), &rc)) {
    case Poll::kDone:
      return Status::Ok();
    case Poll::kError:
      keep_forever(std::move(scratch));
      return check(rc, call);
    case Poll::kTimedOut:
      break;
  }
  keep_forever(std::move(scratch));
  std::ostringstream os;
  os << call << ": rank " << rank_ << " waited " << timeout_s_
     << " s for its peers (a rank died or hangs)";
  return fail(os.str());
}

// ---------------------------------------------------------------------------------------------
// MpiCommunicator: collectives

// An MPI_Ialltoallw in flight, with the per-peer types it reads.
class MpiCommunicator::PendingMpiAllToAll final : public PendingAllToAll {
 public:
  PendingMpiAllToAll(MpiCommunicator& comm, MPI_Request request,
                     std::shared_ptr<AlltoallwScratch> scratch)
      : comm_(comm), request_(request), scratch_(std::move(scratch)) {}
  ~PendingMpiAllToAll() override {
    if (!waited_) (void)wait();
  }
  Status wait() override {
    if (waited_) return Status::Ok();
    waited_ = true;
    return comm_.wait(&request_, kCall, std::move(scratch_));
  }
  static constexpr const char* kCall = "all_to_all_v";

 private:
  MpiCommunicator& comm_;
  MPI_Request request_;
  std::shared_ptr<AlltoallwScratch> scratch_;
  bool waited_ = false;
};

Result<std::unique_ptr<PendingAllToAll>> MpiCommunicator::start_all_to_all_v(
    const void* send, std::span<const int64_t> send_bytes, void* recv,
    std::span<const int64_t> recv_bytes) {
  const char* kCall = PendingMpiAllToAll::kCall;
  SIEVE_RETURN_IF_ERROR(usable(kCall));
  SIEVE_CHECK_EQ(send_bytes.size(), static_cast<size_t>(size_));
  SIEVE_CHECK_EQ(recv_bytes.size(), static_cast<size_t>(size_));
  // MPI_Ialltoallw rather than MPI_Ialltoallv: its per-peer types carry 64-bit offsets and
  // counts past 2 GiB, decided by each rank alone.
  auto s =
      std::make_shared<AlltoallwScratch>(send_bytes, recv_bytes, max_plain_bytes_, chunk_bytes_);
  MPI_Request request = MPI_REQUEST_NULL;
  SIEVE_RETURN_IF_ERROR(
      check(MPI_Ialltoallw(send, s->send.counts.data(), s->send.displs.data(), s->send.types.data(),
                           recv, s->recv.counts.data(), s->recv.displs.data(), s->recv.types.data(),
                           comm_, &request),
            kCall));
  return std::unique_ptr<PendingAllToAll>(
      std::make_unique<PendingMpiAllToAll>(*this, request, std::move(s)));
}

Status MpiCommunicator::all_to_all_counts(std::span<const int64_t> send, std::span<int64_t> recv) {
  static constexpr const char* kCall = "all_to_all_counts";
  SIEVE_RETURN_IF_ERROR(usable(kCall));
  SIEVE_CHECK_EQ(send.size(), static_cast<size_t>(size_));
  SIEVE_CHECK_EQ(recv.size(), static_cast<size_t>(size_));
  auto s = std::make_shared<std::vector<int64_t>>(2 * static_cast<size_t>(size_));
  std::copy(send.begin(), send.end(), s->begin());
  MPI_Request request = MPI_REQUEST_NULL;
  SIEVE_RETURN_IF_ERROR(check(
      MPI_Ialltoall(s->data(), 1, MPI_INT64_T, s->data() + size_, 1, MPI_INT64_T, comm_, &request),
      kCall));
  SIEVE_RETURN_IF_ERROR(wait(&request, kCall, s));
  std::copy(s->begin() + size_, s->end(), recv.begin());
  return Status::Ok();
}

Status MpiCommunicator::broadcast(std::vector<uint8_t>& bytes, int root) {
  static constexpr const char* kCall = "broadcast";
  SIEVE_RETURN_IF_ERROR(usable(kCall));
  SIEVE_CHECK(root >= 0 && root < size_);
  auto size = std::make_shared<int64_t>(static_cast<int64_t>(bytes.size()));
  MPI_Request request = MPI_REQUEST_NULL;
  SIEVE_RETURN_IF_ERROR(
      check(MPI_Ibcast(size.get(), 1, MPI_INT64_T, root, comm_, &request), kCall));
  SIEVE_RETURN_IF_ERROR(wait(&request, kCall, size));
  if (rank_ != root) bytes.resize(static_cast<size_t>(*size));
  for (int64_t offset = 0; offset < *size; offset += max_plain_bytes_) {
    const int count = static_cast<int>(std::min(max_plain_bytes_, *size - offset));
    SIEVE_RETURN_IF_ERROR(
        check(MPI_Ibcast(bytes.data() + offset, count, MPI_BYTE, root, comm_, &request), kCall));
    SIEVE_RETURN_IF_ERROR(wait(&request, kCall, nullptr));
  }
  return Status::Ok();
}

Status MpiCommunicator::gather(std::span<const uint8_t> mine,
                               std::vector<std::vector<uint8_t>>* all, int root) {
  static constexpr const char* kCall = "gather";
  SIEVE_RETURN_IF_ERROR(usable(kCall));
  SIEVE_CHECK(root >= 0 && root < size_);
  SIEVE_CHECK(rank_ != root || all != nullptr);
  const auto n = static_cast<size_t>(size_);
  // Everyone learns every size, so that all ranks agree on the rounds below.
  struct Scratch {
    int64_t mine = 0;
    std::vector<int64_t> sizes;
    std::vector<int> counts, displs;
    std::vector<uint8_t> flat;
  };
  auto s = std::make_shared<Scratch>();
  s->mine = static_cast<int64_t>(mine.size());
  s->sizes.resize(n);
  MPI_Request request = MPI_REQUEST_NULL;
  SIEVE_RETURN_IF_ERROR(check(
      MPI_Iallgather(&s->mine, 1, MPI_INT64_T, s->sizes.data(), 1, MPI_INT64_T, comm_, &request),
      kCall));
  SIEVE_RETURN_IF_ERROR(wait(&request, kCall, s));

  // Rounds of at most `per_rank` bytes from each rank keep the root's int offsets in range.
  const int64_t per_rank = std::max<int64_t>(1, max_plain_bytes_ / size_);
  const int64_t largest = *std::max_element(s->sizes.begin(), s->sizes.end());
  const int64_t rounds = (largest + per_rank - 1) / per_rank;
  if (rank_ == root) {
    all->assign(n, {});
    for (size_t r = 0; r < n; ++r)
      (*all)[r].resize(static_cast<size_t>(s->sizes[r]));
    s->counts.resize(n);
    s->displs.resize(n);
  }
  for (int64_t k = 0; k < rounds; ++k) {
    const int64_t begin = k * per_rank;
    auto part = [&](int64_t total) { return std::clamp<int64_t>(total - begin, 0, per_rank); };
    const int my_count = static_cast<int>(part(s->mine));
    if (rank_ == root) {
      int offset = 0;
      for (size_t r = 0; r < n; ++r) {
        s->counts[r] = static_cast<int>(part(s->sizes[r]));
        s->displs[r] = offset;
        offset += s->counts[r];
      }
      s->flat.resize(static_cast<size_t>(offset));
    }
    SIEVE_RETURN_IF_ERROR(check(
        MPI_Igatherv(mine.data() + std::min(begin, s->mine), my_count, MPI_BYTE, s->flat.data(),
                     s->counts.data(), s->displs.data(), MPI_BYTE, root, comm_, &request),
        kCall));
    SIEVE_RETURN_IF_ERROR(wait(&request, kCall, s));
    if (rank_ == root) {
      for (size_t r = 0; r < n; ++r) {
        if (s->counts[r] == 0) continue;
        std::memcpy((*all)[r].data() + begin, s->flat.data() + s->displs[r],
                    static_cast<size_t>(s->counts[r]));
      }
    }
  }
  return Status::Ok();
}

Status MpiCommunicator::all_reduce_sum(std::span<int64_t> values) {
  static constexpr const char* kCall = "all_reduce_sum";
  SIEVE_RETURN_IF_ERROR(usable(kCall));
  auto s = std::make_shared<std::vector<int64_t>>(values.begin(), values.end());
  MPI_Request request = MPI_REQUEST_NULL;
  // One call even for no values: every rank must take part.
  for (size_t offset = 0; offset < s->size() || offset == 0; offset += INT_MAX) {
    const int count = static_cast<int>(std::min<size_t>(INT_MAX, s->size() - offset));
    SIEVE_RETURN_IF_ERROR(check(MPI_Iallreduce(MPI_IN_PLACE, s->data() + offset, count, MPI_INT64_T,
                                               MPI_SUM, comm_, &request),
                                kCall));
    SIEVE_RETURN_IF_ERROR(wait(&request, kCall, s));
    if (s->empty()) break;
  }
  std::copy(s->begin(), s->end(), values.begin());
  return Status::Ok();
}

Status MpiCommunicator::barrier() {
  static constexpr const char* kCall = "barrier";
  SIEVE_RETURN_IF_ERROR(usable(kCall));
  MPI_Request request = MPI_REQUEST_NULL;
  SIEVE_RETURN_IF_ERROR(check(MPI_Ibarrier(comm_, &request), kCall));
  return wait(&request, kCall, nullptr);
}

}  // namespace sieve
