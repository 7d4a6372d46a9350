#include "models/blocks/weight_source.h"

#include "models/blocks/expert_sources.h"

namespace sieve {
namespace {

uint64_t total_held_bytes(const std::vector<FilledTensor>& tensors, DType weight_dtype) {
  uint64_t total = 0;
  for (const FilledTensor& t : tensors)
    total += held_bytes(t.shape, weight_dtype);
  return total;
}

}  // namespace

QuantFormat stored_format_to_keep(std::span<const StoredMatrix> parts, QuantFormat requested,
                                  const Backend& be) {
  if (parts.empty()) return QuantFormat::kNone;
  const QuantFormat q = stored_quant_format(parts[0].format);
  if (q == QuantFormat::kNone || !be.holds(q)) return QuantFormat::kNone;
  if (requested != QuantFormat::kNone && requested != q) return QuantFormat::kNone;
  for (const StoredMatrix& m : parts) {
    if (stored_quant_format(m.format) != q || m.count() != 1) return QuantFormat::kNone;
  }
  return q;
}

uint64_t held_bytes(const std::vector<int64_t>& shape, DType weight_dtype) {
  uint64_t n = 1;
  for (int64_t d : shape)
    n *= static_cast<uint64_t>(d);
  return n * (shape.size() == 1 ? sizeof(float) : dtype_size(weight_dtype));
}

Result<ExpertMatrices> WeightSource::held_expert(const ExpertSource& source, int64_t expert) {
  SIEVE_ASSIGN_OR_RETURN(ExpertMatrices m, source.make(be_, expert));
  held_ += static_cast<int64_t>(m.gate_up->bytes() + m.down->bytes());
  for (const Tensor* b : {&m.gate_up_bias, &m.down_bias})
    if (b->defined()) held_ += static_cast<int64_t>(b->nbytes());
  return m;
}

std::shared_ptr<Matrix> WeightSource::matrix_from_table(const Tensor& table) {
  return held(be_.make_matrix(table.raw(), table.dtype(), table.dim(0), table.dim(1),
                              format_of(MatrixRole::kDense)));
}

Result<Tensor> CheckpointSource::vector(const std::string& name) {
  SIEVE_ASSIGN_OR_RETURN(const CheckpointTensor* t, lookup(name));
  std::vector<float> host(t->entry->numel());
  SIEVE_RETURN_IF_ERROR(ckpt_.read(name, DType::kF32, host.data()));
  advance_past(t);
  return held(be_.upload(host.data(), DType::kF32, t->entry->shape, DType::kF32));
}

Result<Tensor> CheckpointSource::table(const std::string& name) {
  SIEVE_ASSIGN_OR_RETURN(const CheckpointTensor* t, lookup(name));
  std::vector<uint8_t> host(t->entry->numel() * dtype_size(dtype_));
  SIEVE_RETURN_IF_ERROR(ckpt_.read(name, dtype_, host.data()));
  advance_past(t);
  return held(be_.upload(host.data(), dtype_, t->entry->shape, dtype_));
}

Result<std::shared_ptr<Matrix>> CheckpointSource::matrix(std::initializer_list<std::string> names,
                                                         MatrixRole role) {
  // The packers refuse values their format cannot hold (a NaN, a scale out of range) by
  // throwing; the error names the tensor it came from.
  try {
    return make(names, role);
  } catch (const std::invalid_argument& e) {
    std::string which;
    for (const std::string& name : names)
      which += (which.empty() ? "'" : "' + '") + name;
    return invalid_argument("tensor " + which + "': " + e.what());
  }
}

Result<std::shared_ptr<Matrix>> CheckpointSource::make(std::initializer_list<std::string> names,
                                                       MatrixRole role) {
  const MatrixFormat format = format_of(role);
  int64_t n = 0, k = -1;
  std::vector<StoredMatrix> parts;
  for (const std::string& name : names) {
    SIEVE_ASSIGN_OR_RETURN(StoredMatrix m, ckpt_.stored_matrix(name));
    n += m.rows();
    k = m.cols();
    parts.push_back(std::move(m));
  }
  if (role != MatrixRole::kRouter && format_.keep_stored &&
      stored_format_to_keep(parts, format.quant, be_) != QuantFormat::kNone) {
    // Kept as the checkpoint quantized it.
    auto kept = be_.make_stored_matrix(parts, dtype_);
    for (const StoredMatrix& m : parts)
      advance(m.value_bytes + m.scale_bytes);
    return held(std::move(kept));
  }
  if (parts.size() == 1 && parts[0].format == StoredFormat::kPlain) {
    // Packed straight from the mapped file: no intermediate copy.
    const StoredMatrix& m = parts[0];
    auto packed = be_.make_matrix(m.values, m.dtype, n, k, format);
    advance(m.value_bytes);
    return held(std::move(packed));
  }
  // Stacked, or quantized: converted (dequantized) into one host buffer, then packed.
  const size_t elem = dtype_size(dtype_);
  host_.resize(static_cast<size_t>(n * k) * elem);
  size_t offset = 0;
  for (const StoredMatrix& m : parts) {
    SIEVE_RETURN_IF_ERROR(ckpt_.read(m.name, dtype_, host_.data() + offset));
    offset += static_cast<size_t>(m.numel()) * elem;
    advance(m.value_bytes + m.scale_bytes);
  }
  return held(be_.make_matrix(host_.data(), dtype_, n, k, format));
}

Status CheckpointSource::skip(std::initializer_list<std::string> names) {
  for (const std::string& name : names) {
    SIEVE_ASSIGN_OR_RETURN(StoredMatrix m, ckpt_.stored_matrix(name));
    advance(m.value_bytes + m.scale_bytes);
  }
  return Status::Ok();
}

// The stored matrix with the files that own its bytes (values and, quantized, scales), so a
// source made of it outlives the checkpoint.
Result<MappedTensor> CheckpointSource::mapped(const std::string& name) {
  MappedTensor out;
  SIEVE_ASSIGN_OR_RETURN(out.stored, ckpt_.stored_matrix(name));
  for (const std::string& part :
       {name, fp8_scale_name(name), mxfp4_blocks_name(name), mxfp4_scales_name(name)}) {
    const CheckpointTensor* t = ckpt_.find(part);
    if (!t) continue;
    for (const auto& f : ckpt_.files()) {
      if (f.get() == t->file) out.files.push_back(f);
    }
  }
  if (out.files.empty()) {
    return internal_error(ckpt_.dir() + ": tensor '" + name + "' is in no file of the checkpoint");
  }
  return out;
}

Result<std::shared_ptr<const ExpertSource>> CheckpointSource::stacked_experts(
    const StackedExpertNames& layer) {
  StackedMappedTensors t;
  SIEVE_ASSIGN_OR_RETURN(t.gate_up, mapped(layer.gate_up));
  SIEVE_ASSIGN_OR_RETURN(t.down, mapped(layer.down));
  SIEVE_ASSIGN_OR_RETURN(t.gate_up_bias, mapped(layer.gate_up_bias));
  SIEVE_ASSIGN_OR_RETURN(t.down_bias, mapped(layer.down_bias));
  return mapped_stacked_experts(std::move(t), layer.num_experts, layer.hidden, layer.intermediate,
                                format_of(MatrixRole::kRoutedExpert), format_.keep_stored);
}

Result<std::shared_ptr<const ExpertSource>> CheckpointSource::experts(
    const LayerExpertNames& layer) {
  std::vector<MappedExpert> experts;
  for (const ExpertTensorNames& e : layer.names) {
    MappedExpert x;
    for (const std::string& name : e.gate_up) {
      SIEVE_ASSIGN_OR_RETURN(MappedTensor t, mapped(name));
      x.gate_up.push_back(std::move(t));
    }
    SIEVE_ASSIGN_OR_RETURN(x.down, mapped(e.down));
    experts.push_back(std::move(x));
  }
  return mapped_experts(std::move(experts), layer.hidden, layer.intermediate,
                        format_of(MatrixRole::kRoutedExpert), format_.keep_stored);
}

Result<const CheckpointTensor*> CheckpointSource::lookup(const std::string& name) {
  const CheckpointTensor* t = ckpt_.find(name);
  if (!t) return not_found(ckpt_.dir() + ": tensor '" + name + "' is missing");
  return t;
}

FilledSource::FilledSource(const std::vector<FilledTensor>& tensors, Backend& be,
                           WeightFormat format, const LoadProgress& progress)
    : WeightSource(be, format, progress, total_held_bytes(tensors, format.dtype)) {
  for (const FilledTensor& t : tensors)
    entries_.emplace(t.name, Entry{t.shape, t.fill, t.row_blocks});
}

Result<Tensor> FilledSource::vector(const std::string& name) {
  SIEVE_ASSIGN_OR_RETURN(const Entry* e, lookup(name));
  SIEVE_CHECK(e->row_blocks.empty());  // row blocks are for matrices
  // Rounded to the weight dtype first, as a checkpoint of the same fills stores it (a bias or a
  // sink differs from its fp32 fill, a norm's 1 does not).
  int64_t n = 1;
  for (int64_t d : e->shape)
    n *= d;
  std::vector<uint8_t> host(static_cast<size_t>(n) * dtype_size(dtype_));
  fill_host_range(e->fill, 0, n, dtype_, host.data());
  Tensor t = be_.upload(host.data(), dtype_, e->shape, DType::kF32);
  advance(t.nbytes());
  return held(std::move(t));
}

Result<Tensor> FilledSource::table(const std::string& name) {
  SIEVE_ASSIGN_OR_RETURN(const Entry* e, lookup(name));
  SIEVE_CHECK(e->row_blocks.empty());  // row blocks are for matrices
  Tensor t = be_.make_filled(e->shape, e->fill, dtype_);
  advance(t.nbytes());
  return held(std::move(t));
}

Result<std::shared_ptr<Matrix>> FilledSource::matrix(std::initializer_list<std::string> names,
                                                     MatrixRole role) {
  std::vector<RowBlockFill> blocks;
  int64_t n = 0, k = 0;
  for (const std::string& name : names) {
    SIEVE_ASSIGN_OR_RETURN(const Entry* e, lookup(name));
    if (e->row_blocks.empty()) {
      blocks.push_back({e->shape[0], e->fill});
    } else {
      blocks.insert(blocks.end(), e->row_blocks.begin(), e->row_blocks.end());
    }
    n += e->shape[0];
    k = e->shape[1];
  }
  auto m = be_.make_filled_matrix(n, k, blocks, format_of(role));
  advance(static_cast<uint64_t>(n * k) * dtype_size(dtype_));
  return held(std::move(m));
}

Status FilledSource::skip(std::initializer_list<std::string> names) {
  for (const std::string& name : names) {
    SIEVE_ASSIGN_OR_RETURN(const Entry* e, lookup(name));
    advance(held_bytes(e->shape, dtype_));
  }
  return Status::Ok();
}

Result<std::shared_ptr<const ExpertSource>> FilledSource::stacked_experts(
    const StackedExpertNames& layer) {
  StackedFills f;
  for (auto [name, fill] : {std::pair{&layer.gate_up, &f.gate_up},
                            {&layer.down, &f.down},
                            {&layer.gate_up_bias, &f.gate_up_bias},
                            {&layer.down_bias, &f.down_bias}}) {
    SIEVE_ASSIGN_OR_RETURN(const Entry* e, lookup(*name));
    *fill = e->fill;
  }
  return filled_stacked_experts(f, layer.num_experts, layer.hidden, layer.intermediate,
                                format_of(MatrixRole::kRoutedExpert));
}

Result<std::shared_ptr<const ExpertSource>> FilledSource::experts(const LayerExpertNames& layer) {
  std::vector<FilledExpert> experts;
  for (const ExpertTensorNames& e : layer.names) {
    FilledExpert x;
    for (const std::string& name : e.gate_up) {
      SIEVE_ASSIGN_OR_RETURN(const Entry* t, lookup(name));
      x.gate_up.push_back({t->shape[0], t->fill});
    }
    SIEVE_ASSIGN_OR_RETURN(const Entry* down, lookup(e.down));
    x.down = down->fill;
    experts.push_back(std::move(x));
  }
  return filled_experts(std::move(experts), layer.hidden, layer.intermediate,
                        format_of(MatrixRole::kRoutedExpert));
}

Result<const FilledSource::Entry*> FilledSource::lookup(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return internal_error("dummy weights: no tensor '" + name + "'");
  return &it->second;
}

}  // namespace sieve
