// Fake models for scheduler tests: the next token is predictable, every step is recorded.
#pragma once

#include <chrono>
#include <thread>
#include <vector>

#include "engine/backends/model.h"

namespace sieve {

constexpr int64_t kVocab = 16;

// Logits make token (t + 1) % kVocab the most likely after token t, and record every step.
// A fake that writes its logits on the host (tests run it on the CPU backend): forward_logits
// wraps them in a host tensor.
class HostFakeModel : public Model {
 public:
  Tensor forward_logits(const ForwardBatch& b, KvCache& kv, ForwardTrace* trace) override {
    Tensor t = Tensor::empty({static_cast<int64_t>(b.logit_rows.size()), config().vocab_size},
                             DType::kF32);
    forward(b, kv, t.data<float>(), trace);
    return t;
  }
};

class CountingModel final : public HostFakeModel {
 public:
  CountingModel() {
    c_.model_type = "fake";
    c_.vocab_size = kVocab;
    c_.hidden_size = 4;
    c_.num_layers = 1;
    c_.num_heads = 1;
    c_.num_kv_heads = 1;
    c_.head_dim = 4;
    c_.layer_is_moe = {false};
    c_.max_position_embeddings = 64;
    c_.eos_token_ids = {0};
  }
  const ModelConfig& config() const override { return c_; }
  int64_t weight_bytes() const override { return 0; }
  void forward(const ForwardBatch& b, KvCache&, float* logits, ForwardTrace*) override {
    if (step_delay.count() > 0) std::this_thread::sleep_for(step_delay);
    steps.push_back(b);
    for (size_t r = 0; r < b.logit_rows.size(); ++r) {
      const int32_t t = b.token_ids[b.logit_rows[r]];
      for (int64_t v = 0; v < kVocab; ++v)
        logits[r * kVocab + v] = 0.f;
      logits[r * kVocab + (t + 1) % kVocab] = 10.f;
    }
  }
  ModelConfig c_;
  std::vector<ForwardBatch> steps;
  std::chrono::microseconds step_delay{0};  // to make steps take time (shutdown tests)
};

}  // namespace sieve
