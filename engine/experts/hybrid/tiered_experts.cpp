#include "engine/experts/hybrid/tiered_experts.h"

namespace sieve {

TieredExperts::TieredExperts(Backend& device, Backend& host, int64_t num_layers,
                             int64_t num_experts)
    : device_be_(device),
      host_be_(host),
      layers_(num_layers),
      experts_(num_experts),
      sources_(num_layers),
      host_(num_layers),
      device_by_expert_(num_layers * num_experts),
      device_(num_layers),
      local_(num_layers, std::vector<int32_t>(num_experts, -1)),
      dirty_(num_layers, 0),
      copying_(num_layers * num_experts, 0) {}

TieredExperts::~TieredExperts() {
  copier_.wait_idle();
}

Status TieredExperts::adopt(int64_t layer, std::shared_ptr<const ExpertSource> source) {
  SIEVE_CHECK(layer >= 0 && layer < layers_);
  if (source->num_experts() != experts_) {
    return invalid_argument("layer " + std::to_string(layer) + " has " +
                            std::to_string(source->num_experts()) + " experts, expected " +
                            std::to_string(experts_));
  }
  ExpertWeights& h = host_[layer];
  h = {};
  for (int64_t e = 0; e < experts_; ++e) {
    SIEVE_ASSIGN_OR_RETURN(ExpertMatrices m, source->make(host_be_, e));
    append_expert(h, std::move(m));
  }
  sources_[layer] = std::move(source);
  return Status::Ok();
}

const ExpertWeights& TieredExperts::device(int64_t layer) {
  if (dirty_[layer]) {
    ExpertWeights& d = device_[layer];
    d = {};
    for (int64_t e = 0; e < experts_; ++e) {
      const ExpertMatrices& m = device_by_expert_[at(layer, e)];
      local_[layer][e] = m.gate_up ? static_cast<int32_t>(d.gate_up.size()) : -1;
      if (!m.gate_up) continue;
      append_expert(d, m);
    }
    dirty_[layer] = 0;
  }
  return device_[layer];
}

int32_t TieredExperts::local_index(int64_t layer, int64_t expert) {
  (void)device(layer);
  return local_[layer][expert];
}

void TieredExperts::install(int64_t layer, int64_t expert, ExpertMatrices m) {
  ExpertMatrices& slot = device_by_expert_[at(layer, expert)];
  if (!slot.gate_up) ++num_on_device_;
  slot = std::move(m);
  dirty_[layer] = 1;
}

Status TieredExperts::upload(int64_t layer, int64_t expert) {
  SIEVE_CHECK_MSG(adopted(layer), "layer " << layer << " has no experts to upload");
  SIEVE_ASSIGN_OR_RETURN(ExpertMatrices m, sources_[layer]->make(device_be_, expert));
  install(layer, expert, std::move(m));
  return Status::Ok();
}

void TieredExperts::drop(int64_t layer, int64_t expert) {
  ExpertMatrices& slot = device_by_expert_[at(layer, expert)];
  if (!slot.gate_up) return;
  slot = {};
  --num_on_device_;
  dirty_[layer] = 1;
}

void TieredExperts::start_copy(int64_t layer, int64_t expert) {
  SIEVE_CHECK_MSG(adopted(layer), "layer " << layer << " has no experts to copy");
  if (copying_[at(layer, expert)]) return;
  copying_[at(layer, expert)] = 1;
  ++in_flight_;
  std::shared_ptr<const ExpertSource> source = sources_[layer];
  copier_.post([this, source, layer, expert] {
    Copy c{layer, expert, source->read(expert, staging_), {}};
    if (c.status.ok()) {
      const DType dt = source->weight_dtype();
      const MatrixFormat f = source->matrix_format();
      const int64_t H = source->hidden(), I = source->intermediate();
      c.matrices.gate_up =
          device_be_.make_matrix_in_background(staging_.gate_up.data(), dt, 2 * I, H, f);
      c.matrices.down = device_be_.make_matrix_in_background(staging_.down.data(), dt, H, I, f);
      // Biases are a few KB: a plain copy (no step's stream or scratch involved).
      if (!staging_.gate_up_bias.empty()) {
        c.matrices.gate_up_bias =
            device_be_.upload(staging_.gate_up_bias.data(), DType::kF32, {2 * I}, DType::kF32);
        c.matrices.down_bias =
            device_be_.upload(staging_.down_bias.data(), DType::kF32, {H}, DType::kF32);
      }
    }
    std::lock_guard lock(landed_mu_);
    landed_.push_back(std::move(c));
  });
}

std::vector<TieredExperts::Landed> TieredExperts::install_landed(
    const std::function<bool(int64_t, int64_t)>& wanted) {
  std::vector<Copy> copies;
  {
    std::lock_guard lock(landed_mu_);
    copies.swap(landed_);
  }
  std::vector<Landed> out;
  for (Copy& c : copies) {
    copying_[at(c.layer, c.expert)] = 0;
    --in_flight_;
    Landed l{c.layer, c.expert, c.status, false};
    if (c.status.ok() && !on_device(c.layer, c.expert) && wanted(c.layer, c.expert)) {
      install(c.layer, c.expert, std::move(c.matrices));
      l.installed = true;
    }
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace sieve
