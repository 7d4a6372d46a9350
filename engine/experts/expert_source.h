// Where one MoE layer's routed experts come from, for an executor that decides where they live.
// While a model loads, each MoE layer hands its executor one of these (MoeExecutor::
// adopt_experts); an executor that keeps experts of its own — the hybrid one: host copies of every
// expert, device copies of the resident ones — makes them from it then, and again later (an
// upload to the device) without the model keeping a second copy. Implementations (models/blocks/
// weight_source.h) read the memory-mapped checkpoint, or make the fills of --load-format dummy,
// each time they are asked.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/base/status.h"

namespace sieve {

// One routed SwiGLU expert's weights on a backend.
struct ExpertMatrices {
  std::shared_ptr<Matrix> gate_up;  // [2 * inter, hidden]: gate rows first, then up rows
  std::shared_ptr<Matrix> down;     // [hidden, inter]
  // Experts with biases (gpt-oss): fp32 [2 * inter] (gate then up) and [hidden]; else undefined.
  Tensor gate_up_bias{}, down_bias{};
};

// Expert m as the next of `w`'s experts (its biases too, where it has them).
inline void append_expert(ExpertWeights& w, ExpertMatrices m) {
  w.gate_up.push_back(std::move(m.gate_up));
  w.down.push_back(std::move(m.down));
  if (m.gate_up_bias.defined()) {
    w.gate_up_bias.push_back(std::move(m.gate_up_bias));
    w.down_bias.push_back(std::move(m.down_bias));
  }
}

// The same weights as row-major host arrays at the model's weight dtype.
struct ExpertHostWeights {
  std::vector<uint8_t> gate_up;                // [2 * inter, hidden]
  std::vector<uint8_t> down;                   // [hidden, inter]
  std::vector<float> gate_up_bias, down_bias;  // empty without biases
};

class ExpertSource {
 public:
  virtual ~ExpertSource() = default;
  virtual int64_t num_experts() const = 0;
  virtual int64_t hidden() const = 0;
  virtual int64_t intermediate() const = 0;
  // The dtype the model holds weights in (what read() produces).
  virtual DType weight_dtype() const = 0;
  // How make() holds them: at weight_dtype(), or quantized; a copy made from read()'s arrays
  // passes this to make_matrix so that it holds the same.
  virtual MatrixFormat matrix_format() const = 0;
  // Expert `expert` made on `be`, the way the model's loader makes weights on it (packed from
  // the mapped file, or filled on the backend). Called from the thread that runs steps.
  virtual Result<ExpertMatrices> make(Backend& be, int64_t expert) const = 0;
  // Expert `expert` into host arrays, for a copy made on another thread
  // (Backend::make_matrix_in_background). Safe from any thread; `out`'s buffers are reused.
  virtual Status read(int64_t expert, ExpertHostWeights& out) const = 0;
};

}  // namespace sieve
