// The ExpertSources a loading model hands its MoE executor (engine/experts/expert_source.h): a
// layer's routed experts read from the memory-mapped checkpoint, or made from the fills of
// --load-format dummy, each time the executor asks. A device copy made after loading (an upload)
// therefore costs no host copy of the model: the mapping is the checkpoint's pages, a fill is a
// formula, and only a stacked gate_up passes through a one-expert staging buffer.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/checkpoint/quantization.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/checkpoint/weight_fill.h"
#include "engine/experts/expert_source.h"

namespace sieve {

// One matrix as the mapped checkpoint stores it (plain, or quantized with its scales); `files`
// keep the mappings its pointers point into alive.
struct MappedTensor {
  std::vector<std::shared_ptr<const SafetensorsFile>> files;
  StoredMatrix stored;
};

struct MappedExpert {
  std::vector<MappedTensor> gate_up;  // stacked in order along the output dimension
  MappedTensor down;
};

struct FilledExpert {
  std::vector<RowBlockFill> gate_up;  // row blocks in order
  WeightFill down;
};

// A layer's experts stored stacked (weight_source.h, StackedExpertNames): the four tensors.
struct StackedMappedTensors {
  MappedTensor gate_up, down, gate_up_bias, down_bias;
};
struct StackedFills {
  WeightFill gate_up, down, gate_up_bias, down_bias;
};

// Experts held as `format` (its dtype kF32 or kBF16, perhaps quantized), `hidden` and
// `intermediate` features each.
// With `keep_stored`, make() keeps quantized experts in the checkpoint's format where the
// backend holds it (stored_format_to_keep); read() always dequantizes.
std::shared_ptr<const ExpertSource> mapped_experts(std::vector<MappedExpert> experts,
                                                   int64_t hidden, int64_t intermediate,
                                                   MatrixFormat format, bool keep_stored = false);
std::shared_ptr<const ExpertSource> filled_experts(std::vector<FilledExpert> experts,
                                                   int64_t hidden, int64_t intermediate,
                                                   MatrixFormat format);

// Stacked experts: expert e is slice e of each tensor, turned into the engine's [n, k] layout
// (gate rows first, then up rows) on the host as it is made. Plain tensors are [experts, k, n];
// mxfp4 ones [experts, n, k / 32, 16] (the release quantizes W along k), kept quantized with
// `keep_stored` where the backend holds mxfp4.
std::shared_ptr<const ExpertSource> mapped_stacked_experts(StackedMappedTensors tensors,
                                                           int64_t num_experts, int64_t hidden,
                                                           int64_t intermediate,
                                                           MatrixFormat format, bool keep_stored);
std::shared_ptr<const ExpertSource> filled_stacked_experts(const StackedFills& fills,
                                                           int64_t num_experts, int64_t hidden,
                                                           int64_t intermediate,
                                                           MatrixFormat format);

}  // namespace sieve
