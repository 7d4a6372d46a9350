#include "engine/experts/expert_parallel_moe.h"

#include <chrono>
#include <memory>
#include <type_traits>
#include <vector>

#include "engine/distributed/communicator.h"

namespace sieve {
namespace {

// One micro-batch of a layer: tokens [t0, t1) of its input, on their trip to the experts' owners
// and back.
struct Trip {
  int64_t t0 = 0, t1 = 0;
  std::vector<int64_t> send_rows, recv_rows;  // [rank]: choices out to it, in from it
  int64_t sent = 0, received = 0;
  Tensor slot_of;  // [(t1 - t0) * k] int32: choice → its row in the sent (and returned) rows
  Tensor send_x, send_ids, recv_x, recv_ids, y, back;
  std::unique_ptr<PendingAllToAll> x_out, ids_out, y_back;
};

class Exchanger {
 public:
  Exchanger(Backend& be, const ExpertShard& shard, const MoeArgs& m)
      : be_(be), place_(shard.placement), comm_(*shard.comm), m_(m) {
    SIEVE_CHECK_MSG(comm_.device() == be_.device(),
                    "expert parallelism: the " << comm_.name()
                                               << " communicator cannot exchange this backend's "
                                                  "tensors ("
                                               << be_.name() << ")");
    H_ = m.x->dim(1);
    k_ = m.topk_ids->dim(1);
    ids_.resize(static_cast<size_t>(m.topk_ids->numel()));
    be_.copy_to_host(*m.topk_ids, ids_.data());  // waits for the router
  }

  // Groups the trip's choices by owner and gathers the rows to send.
  void plan(Trip& trip) {
    const int world = place_.world;
    const int64_t n = (trip.t1 - trip.t0) * k_;
    const int32_t* ids = ids_.data() + trip.t0 * k_;
    trip.send_rows.assign(world, 0);
    trip.recv_rows.assign(world, 0);
    for (int64_t i = 0; i < n; ++i)
      ++trip.send_rows[place_.owner[ids[i]]];
    std::vector<int64_t> cursor(world, 0);
    for (int r = 1; r < world; ++r)
      cursor[r] = cursor[r - 1] + trip.send_rows[r - 1];
    std::vector<int32_t> slot_of(n), token_of(n), local_of(n);
    for (int64_t i = 0; i < n; ++i) {
      const int32_t row = static_cast<int32_t>(cursor[place_.owner[ids[i]]]++);
      slot_of[i] = row;
      token_of[row] = static_cast<int32_t>(trip.t0 + i / k_);
      local_of[row] = place_.local_index[ids[i]];
    }
    trip.sent = n;
    trip.slot_of = upload(slot_of, {n});
    trip.send_ids = upload(local_of, {n});
    trip.send_x = be_.scratch({n, H_}, DType::kF32);
    be_.gather_rows(*m_.x, upload(token_of, {n}), trip.send_x);
  }

  void exchange_counts(Trip& trip) {
    (void)timed([&] { return comm_.all_to_all_counts(trip.send_rows, trip.recv_rows); });
    trip.received = 0;
    for (int64_t r : trip.recv_rows)
      trip.received += r;
    trip.recv_x = be_.scratch({trip.received, H_}, DType::kF32);
    trip.recv_ids = be_.scratch({trip.received, 1}, DType::kI32);
  }

  // The rows and their experts' local indices out to the owners (the send buffers must be
  // ready: synchronize() first).
  void dispatch(Trip& trip) {
    const int64_t row_bytes = H_ * static_cast<int64_t>(sizeof(float));
    trip.x_out = start(trip.send_x.raw(), bytes(trip.send_rows, row_bytes), trip.recv_x.raw(),
                       bytes(trip.recv_rows, row_bytes));
    trip.ids_out = start(trip.send_ids.raw(), bytes(trip.send_rows, sizeof(int32_t)),
                         trip.recv_ids.raw(), bytes(trip.recv_rows, sizeof(int32_t)));
  }

  // This rank's experts on what it received: one choice per row, weight 1.
  void run_experts(Trip& trip) {
    wait(trip.x_out);
    wait(trip.ids_out);
    trip.y = be_.scratch({trip.received, H_}, DType::kF32);
    if (trip.received == 0) return;
    const std::vector<float> ones(static_cast<size_t>(trip.received), 1.0f);
    Tensor w = upload(ones, {trip.received, 1});
    MoeArgs local;
    local.x = &trip.recv_x;
    local.topk_ids = &trip.recv_ids;
    local.topk_weights = &w;
    local.experts = m_.experts;
    local.out = &trip.y;
    local.activation = m_.activation;
    be_.moe_experts(local);
  }

  // The results back to where the choices came from, in the order they were sent.
  void send_back(Trip& trip) {
    const int64_t row_bytes = H_ * static_cast<int64_t>(sizeof(float));
    trip.back = be_.scratch({trip.sent, H_}, DType::kF32);
    trip.y_back = start(trip.y.raw(), bytes(trip.recv_rows, row_bytes), trip.back.raw(),
                        bytes(trip.send_rows, row_bytes));
  }

  void combine(Trip& trip) {
    wait(trip.y_back);
    Tensor out = m_.out->rows(trip.t0, trip.t1);
    be_.combine_rows(trip.back, trip.slot_of, m_.topk_weights->rows(trip.t0, trip.t1), out);
  }

  void count(const Trip& trip, ExpertParallelStats& st, int64_t layer, int64_t num_layers) {
    if (st.layers.size() < static_cast<size_t>(num_layers)) st.layers.resize(num_layers);
    ExpertParallelStats::Layer& l = st.layers[layer];
    l.expert_rows.resize(m_.experts->gate_up.size(), 0);
    std::vector<int32_t> local(static_cast<size_t>(trip.received));
    be_.copy_to_host(trip.recv_ids, local.data());
    for (int32_t e : local)
      ++l.expert_rows[e];
    const int64_t row_bytes = H_ * static_cast<int64_t>(sizeof(float));
    const int64_t out_bytes = row_bytes + static_cast<int64_t>(sizeof(int32_t));
    for (int q = 0; q < place_.world; ++q) {
      l.rows_sent += trip.send_rows[q];
      l.rows_received += trip.recv_rows[q];
      // Rows and ids out, results back; and the mirror image in.
      l.bytes_sent += trip.send_rows[q] * out_bytes + trip.recv_rows[q] * row_bytes;
      l.bytes_received += trip.recv_rows[q] * out_bytes + trip.send_rows[q] * row_bytes;
    }
  }

  double exchange_seconds() const { return exchange_s_; }

 private:
  template <class T>
  Tensor upload(const std::vector<T>& host, std::vector<int64_t> shape) {
    Tensor t = be_.scratch(std::move(shape), std::is_same_v<T, float> ? DType::kF32 : DType::kI32);
    be_.copy_from_host(host.data(), t);
    return t;
  }

  static std::vector<int64_t> bytes(const std::vector<int64_t>& rows, int64_t row_bytes) {
    std::vector<int64_t> b(rows.size());
    for (size_t r = 0; r < rows.size(); ++r)
      b[r] = rows[r] * row_bytes;
    return b;
  }

  // Runs one communicator call, timing it: the time blocked on peers is the exchange's cost.
  template <class Call>
  std::invoke_result_t<const Call&> timed(const Call& call) {
    const auto t0 = std::chrono::steady_clock::now();
    auto result = call();
    exchange_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if constexpr (std::is_same_v<decltype(result), Status>) {
      check(result);
    } else {
      check(result.status());
    }
    return result;
  }

  std::unique_ptr<PendingAllToAll> start(const void* send, const std::vector<int64_t>& send_bytes,
                                         void* recv, const std::vector<int64_t>& recv_bytes) {
    return std::move(timed([&] {
                       return comm_.start_all_to_all_v(send, send_bytes, recv, recv_bytes);
                     }).value());
  }

  void wait(std::unique_ptr<PendingAllToAll>& p) {
    (void)timed([&] { return p->wait(); });
    p.reset();
  }

  static void check(const Status& s) {
    SIEVE_CHECK_MSG(s.ok(), "expert-parallel exchange failed: " << s.message());
  }

  Backend& be_;
  const ExpertPlacement& place_;
  Communicator& comm_;
  const MoeArgs& m_;
  int64_t H_ = 0, k_ = 0;
  std::vector<int32_t> ids_;  // the router's choices, on the host
  double exchange_s_ = 0;
};

}  // namespace

void expert_parallel_moe(Backend& be, const ExpertShard& shard, const MoeArgs& m, int64_t layer,
                         int64_t num_layers) {
  Exchanger ex(be, shard, m);
  const int64_t T = m.x->dim(0);
  // Every rank makes the same calls, so the number of micro-batches depends only on the flag.
  std::vector<Trip> trips(shard.overlap ? 2 : 1);
  for (size_t i = 0; i < trips.size(); ++i) {
    trips[i].t0 = T * static_cast<int64_t>(i) / static_cast<int64_t>(trips.size());
    trips[i].t1 = T * static_cast<int64_t>(i + 1) / static_cast<int64_t>(trips.size());
    ex.plan(trips[i]);
  }
  for (Trip& t : trips)
    ex.exchange_counts(t);
  be.synchronize();  // the gathered rows are the all-to-all's input
  for (Trip& t : trips)
    ex.dispatch(t);
  for (Trip& t : trips) {
    ex.run_experts(t);
    be.synchronize();
    ex.send_back(t);
  }
  for (Trip& t : trips)
    ex.combine(t);
  if (ExpertParallelStats* st = shard.stats) {
    for (const Trip& t : trips)
      ex.count(t, *st, layer, num_layers);
    st->layers[layer].exchange_seconds += ex.exchange_seconds();
  }
}

}  // namespace sieve
