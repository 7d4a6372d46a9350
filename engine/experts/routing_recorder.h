// Recording a run's routing (`--record-routing FILE`): every step that runs the model appends
// each MoE layer's per-expert token counts to a routing trace (routing_trace.h).
//
// Multi-rank runs (expert parallelism under mpirun): each rank's router sees only the tokens of
// its own sequences, while each expert's owner computes the choices of every rank. So every step
// the ranks sum their counts — a collective, so every rank has a recorder and records every step,
// its idle lockstep steps included — and rank 0 alone writes: one file whose lines are the loads
// the experts had in each step, what one process running all the ranks' sequences together
// would record. Steps in which no rank ran a token are left out.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/distributed/communicator.h"
#include "engine/experts/routing_trace.h"

namespace sieve {

class RoutingRecorder {
 public:
  // Opens `path` (truncated) and writes the header; before the model loads, so that a bad path
  // fails early. With `comm` (a multi-rank run), only rank 0 opens the file and every rank
  // learns whether it could (a collective): all ranks fail together.
  static Result<std::unique_ptr<RoutingRecorder>> open(const std::string& path,
                                                       const RoutingTraceHeader& header,
                                                       Communicator* comm = nullptr);

  // One step of this rank (header.moe_layers × num_experts counts). Sums over the ranks first
  // when there are several (kUnavailable when a rank is lost: the run cannot go on). A write
  // that fails (disk full) stops the recording with an error; later steps are not written, and
  // the collective still runs so that the other ranks are not left waiting.
  Status record(const RoutingStep& step);

  const std::string& path() const { return path_; }
  int64_t steps_written() const { return writer_ ? writer_->steps_written() : written_; }

 private:
  RoutingRecorder() = default;

  std::string path_;
  Communicator* comm_ = nullptr;
  std::optional<RoutingTraceWriter> writer_;  // rank 0 (or the only process) while writing
  int64_t written_ = 0;                       // steps written before the writer was dropped
  std::vector<int64_t> sum_;                  // [tokens, counts...]: the collective's buffer
};

}  // namespace sieve
