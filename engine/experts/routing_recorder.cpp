#include "engine/experts/routing_recorder.h"

namespace sieve {

Result<std::unique_ptr<RoutingRecorder>> RoutingRecorder::open(const std::string& path,
                                                               const RoutingTraceHeader& header,
                                                               Communicator* comm) {
  std::unique_ptr<RoutingRecorder> r(new RoutingRecorder());
  r->path_ = path;
  r->comm_ = comm;
  Status opened = Status::Ok();
  if (!comm || comm->rank() == 0) {
    auto w = RoutingTraceWriter::open(path, header);
    if (w.ok()) {
      r->writer_.emplace(std::move(w).value());
    } else {
      opened = w.status();
    }
  }
  if (comm) {
    std::vector<int64_t> failed = {opened.ok() ? 0 : 1};
    SIEVE_RETURN_IF_ERROR(comm->all_reduce_sum(failed));
    if (failed[0] != 0 && opened.ok()) {
      return invalid_argument("rank 0 cannot write the routing trace " + path);
    }
  }
  SIEVE_RETURN_IF_ERROR(opened);
  return r;
}

Status RoutingRecorder::record(const RoutingStep& step) {
  RoutingStep total;
  const RoutingStep* out = &step;
  if (comm_) {
    sum_.assign(1, step.tokens);
    for (const auto& layer : step.counts)
      sum_.insert(sum_.end(), layer.begin(), layer.end());
    SIEVE_RETURN_IF_ERROR(comm_->all_reduce_sum(sum_));
    total.tokens = sum_[0];
    size_t at = 1;
    for (const auto& layer : step.counts) {
      total.counts.emplace_back(sum_.begin() + at, sum_.begin() + at + layer.size());
      at += layer.size();
    }
    out = &total;
  }
  if (!writer_ || out->tokens == 0) return Status::Ok();
  if (Status s = writer_->write(*out); !s.ok()) {
    written_ = writer_->steps_written();
    writer_.reset();
    return internal_error("writing the routing trace " + path_ + " failed after " +
                          std::to_string(written_) +
                          " steps (disk full?); the run goes on without recording");
  }
  return Status::Ok();
}

}  // namespace sieve
