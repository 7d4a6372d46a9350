// The hybrid executor's two tiers of routed-expert weights: a host copy of every expert of every
// MoE layer on the host tier's CPU backend, and device copies of the resident ones on the device
// tier. Device copies come from each layer's ExpertSource (the mapped checkpoint or the dummy
// fills): at load, by an upload on the thread that runs steps (the planner chose to pay for it
// inside the layer), or in the background on a helper thread (residency swaps), installed only
// between steps so that no step waits for one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/base/status.h"
#include "engine/experts/expert_source.h"
#include "engine/experts/hybrid/serial_worker.h"

namespace sieve {

class TieredExperts {
 public:
  // Layers are the model's (dense ones are never adopted); every MoE layer has `num_experts`.
  // Both backends outlive this.
  TieredExperts(Backend& device, Backend& host, int64_t num_layers, int64_t num_experts);
  ~TieredExperts();  // finishes the background copies already started first

  // While the model loads: keeps the layer's source and makes its host copies.
  Status adopt(int64_t layer, std::shared_ptr<const ExpertSource> source);
  bool adopted(int64_t layer) const { return sources_[layer] != nullptr; }

  // Every expert of `layer` on the host tier, by expert number.
  const ExpertWeights& host(int64_t layer) const { return host_[layer]; }
  // The device copies of `layer`, compact: expert e is entry local_index(layer, e). The object
  // stays the same while its entries change (the CUDA backend keys its pointer tables by it).
  const ExpertWeights& device(int64_t layer);
  int32_t local_index(int64_t layer, int64_t expert);  // -1: no device copy
  bool on_device(int64_t layer, int64_t expert) const {
    return device_by_expert_[at(layer, expert)].gate_up != nullptr;
  }
  int64_t num_on_device() const { return num_on_device_; }

  // A device copy made now, from the thread that runs steps.
  Status upload(int64_t layer, int64_t expert);
  // Frees a device copy (the host copy stays).
  void drop(int64_t layer, int64_t expert);

  // --- background copies (residency swaps)
  // Starts making a device copy on the helper thread; nothing changes until install_landed.
  void start_copy(int64_t layer, int64_t expert);
  bool copying(int64_t layer, int64_t expert) const { return copying_[at(layer, expert)] != 0; }
  int64_t copies_in_flight() const { return in_flight_; }
  struct Landed {
    int64_t layer = 0, expert = 0;
    Status status;           // a failed copy leaves the expert on the host only
    bool installed = false;  // false: failed, already on the device, or no longer wanted
  };
  // The copies finished since the last call, installed where `wanted(layer, expert)` still says
  // so (and the expert has no device copy yet); the others are freed.
  std::vector<Landed> install_landed(const std::function<bool(int64_t, int64_t)>& wanted);
  // Waits until no copy is in progress (its result still waits for install_landed).
  void wait_for_copies() { copier_.wait_idle(); }

 private:
  size_t at(int64_t layer, int64_t expert) const {
    return static_cast<size_t>(layer * experts_ + expert);
  }
  void install(int64_t layer, int64_t expert, ExpertMatrices m);

  Backend& device_be_;
  Backend& host_be_;
  int64_t layers_, experts_;
  std::vector<std::shared_ptr<const ExpertSource>> sources_;  // [layer]
  std::vector<ExpertWeights> host_;                           // [layer]
  std::vector<ExpertMatrices> device_by_expert_;              // [layer * experts + expert]
  std::vector<ExpertWeights> device_;                         // [layer], compact
  std::vector<std::vector<int32_t>> local_;                   // [layer][expert]
  std::vector<uint8_t> dirty_;                                // [layer]: rebuild device_
  int64_t num_on_device_ = 0;

  // Background copies: `copying_` and `in_flight_` belong to the thread that runs steps; the
  // helper thread hands results over through `landed_`.
  std::vector<uint8_t> copying_;  // [layer * experts + expert]
  int64_t in_flight_ = 0;
  struct Copy {
    int64_t layer = 0, expert = 0;
    Status status;
    ExpertMatrices matrices;
  };
  std::mutex landed_mu_;
  std::vector<Copy> landed_;
  ExpertHostWeights staging_;  // the helper thread's
  SerialWorker copier_;        // last: joined first, while the rest still exists
};

}  // namespace sieve
