// The placement cost model's constants, measured on the machine it runs on: how fast a tier runs
// experts of the model's shape (Backend::moe_experts on random weights, never zeros, whose
// products cost what real ones do), and how fast the host↔device link copies. The server measures
// at start-up; `sieve bench placement` measures the host tier of the machine it runs on.
//
// Every figure is the median of `repeats` timed rounds after one untimed warm-up round, the
// rounds interleaving the configurations, so drift on a shared machine (its memory bandwidth
// moves by half within seconds) shifts all of them alike rather than biasing one. Medians, not
// best-of: the planner should expect what a step typically sees, not the machine's best moment.
#pragma once

#include <cstdint>

#include "engine/backends/backend.h"
#include "engine/base/status.h"
#include "engine/experts/placement_cost_model.h"

namespace sieve {

struct MeasureOptions {
  int repeats = 3;           // timed rounds (each configuration once per round)
  double max_seconds = 2.0;  // no new round starts after this long (set-up included); the
                             // warm-up and the first timed round always run
  uint64_t seed = 0;         // of the random weights and activations
};

// Times Backend::moe_experts on `tier` for experts of `shape` at several token counts (1 token:
// weight-bandwidth bound; many: compute bound) on random weights (never zeros), and fits TierRates:
//   per_expert_s        (time of 64 tiny experts − time of one) / 63, one token each;
//   weight_bytes_per_s  weight bytes / (time per expert − per_expert_s), one token to each of
//                       enough experts that their weights (≥ 128 MiB) cannot stay in a cache;
//   flops_per_s         tokens' FLOPs / (time − per_expert_s) on one expert at 32 to 256
//                       tokens: the geometric middle of the lowest and highest (kernels
//                       reach higher rates on larger groups; the roofline has one rate).
// Shapes that cannot be measured (a dimension ≤ 0, a weight dtype other than f32 or bf16, an
// expert over 4 GiB) are errors, as are options out of range.
Result<TierRates> measure_expert_rates(Backend& tier, const ExpertShape& shape,
                                       const MeasureOptions& o = {});

struct LinkRates {
  double h2d_bytes_per_s = 0, d2h_bytes_per_s = 0, transfer_s = 0;
};

// Times copy_from_host / copy_to_host of `device` at a few sizes (256 KiB to 64 MiB) and fits
// bandwidth and per-transfer cost: a least-squares line time = a + bytes / rate per direction;
// transfer_s is the mean of the two intercepts (each at least 0). Host buffers are ordinary
// (pageable) memory, which is what Backend's copies are given.
Result<LinkRates> measure_link(Backend& device, const MeasureOptions& o = {});

}  // namespace sieve
