#include "models/blocks/expert_sources.h"

#include "engine/backends/host_convert.h"
#include "engine/checkpoint/quant_codec.h"
#include "models/blocks/weight_source.h"

namespace sieve {
namespace {

// What both sources share: the shapes and how the model holds the weights.
class LayerSource : public ExpertSource {
 public:
  LayerSource(int64_t num_experts, int64_t hidden, int64_t intermediate, MatrixFormat format)
      : num_experts_(num_experts),
        hidden_(hidden),
        inter_(intermediate),
        dtype_(format.dtype),
        format_(format) {}
  int64_t num_experts() const override { return num_experts_; }
  int64_t hidden() const override { return hidden_; }
  int64_t intermediate() const override { return inter_; }
  DType weight_dtype() const override { return dtype_; }
  MatrixFormat matrix_format() const override { return format_; }

 protected:
  Status check(int64_t expert) const {
    if (expert < 0 || expert >= num_experts_) {
      return invalid_argument("expert " + std::to_string(expert) + " of a layer of " +
                              std::to_string(num_experts_));
    }
    return Status::Ok();
  }
  size_t bytes(int64_t rows, int64_t cols) const {
    return static_cast<size_t>(rows * cols) * dtype_size(dtype_);
  }

  int64_t num_experts_, hidden_, inter_;
  DType dtype_;
  MatrixFormat format_;
};

class MappedExperts final : public LayerSource {
 public:
  MappedExperts(std::vector<MappedExpert> experts, int64_t hidden, int64_t inter,
                MatrixFormat format, bool keep_stored)
      : LayerSource(static_cast<int64_t>(experts.size()), hidden, inter, format),
        experts_(std::move(experts)),
        keep_stored_(keep_stored) {}

  // As the checkpoint loader makes them: a single plain tensor packed straight from the mapping;
  // a stacked or quantized one converted (dequantized) into a staging buffer first.
  Result<ExpertMatrices> make(Backend& be, int64_t expert) const override {
    SIEVE_RETURN_IF_ERROR(check(expert));
    const MappedExpert& x = experts_[expert];
    ExpertMatrices m;
    if (keep_stored_) {
      std::vector<StoredMatrix> gate_up;
      for (const MappedTensor& t : x.gate_up)
        gate_up.push_back(t.stored);
      const StoredMatrix down[] = {x.down.stored};
      if (stored_format_to_keep(gate_up, format_.quant, be) != QuantFormat::kNone &&
          stored_format_to_keep(down, format_.quant, be) != QuantFormat::kNone) {
        m.gate_up = be.make_stored_matrix(gate_up, dtype_);
        m.down = be.make_stored_matrix(down, dtype_);
        return m;
      }
    }
    std::vector<uint8_t> staging;
    if (x.gate_up.size() == 1 && plain(x.gate_up[0])) {
      const StoredMatrix& g = x.gate_up[0].stored;
      m.gate_up = be.make_matrix(g.values, g.dtype, rows(x.gate_up), hidden_, format_);
    } else {
      SIEVE_RETURN_IF_ERROR(stack(x.gate_up, staging));
      m.gate_up = be.make_matrix(staging.data(), dtype_, rows(x.gate_up), hidden_, format_);
    }
    if (plain(x.down)) {
      m.down = be.make_matrix(x.down.stored.values, x.down.stored.dtype, hidden_, inter_, format_);
    } else {
      SIEVE_RETURN_IF_ERROR(stack({x.down}, staging));
      m.down = be.make_matrix(staging.data(), dtype_, hidden_, inter_, format_);
    }
    return m;
  }

  Status read(int64_t expert, ExpertHostWeights& out) const override {
    SIEVE_RETURN_IF_ERROR(check(expert));
    const MappedExpert& x = experts_[expert];
    SIEVE_RETURN_IF_ERROR(stack(x.gate_up, out.gate_up));
    return stack({x.down}, out.down);
  }

 private:
  static bool plain(const MappedTensor& t) { return t.stored.format == StoredFormat::kPlain; }
  static int64_t rows(const std::vector<MappedTensor>& parts) {
    int64_t n = 0;
    for (const MappedTensor& t : parts)
      n += t.stored.rows();
    return n;
  }
  // The parts converted to the weight dtype, one after another (the same rounding as the
  // checkpoint's own reads and the backends' packing; quantized parts dequantized as
  // Checkpoint::read does).
  Status stack(const std::vector<MappedTensor>& parts, std::vector<uint8_t>& out) const {
    size_t total = 0;
    for (const MappedTensor& t : parts)
      total += static_cast<size_t>(t.stored.numel()) * dtype_size(dtype_);
    out.resize(total);
    size_t offset = 0;
    for (const MappedTensor& t : parts) {
      if (plain(t)) {
        host_convert(t.stored.values, t.stored.dtype, out.data() + offset, dtype_,
                     t.stored.numel());
      } else {
        SIEVE_RETURN_IF_ERROR(dequantize(t.stored, dtype_, out.data() + offset));
      }
      offset += static_cast<size_t>(t.stored.numel()) * dtype_size(dtype_);
    }
    return Status::Ok();
  }

  std::vector<MappedExpert> experts_;
  bool keep_stored_;
};

class FilledExperts final : public LayerSource {
 public:
  FilledExperts(std::vector<FilledExpert> experts, int64_t hidden, int64_t inter,
                MatrixFormat format)
      : LayerSource(static_cast<int64_t>(experts.size()), hidden, inter, format),
        experts_(std::move(experts)) {}

  // As --load-format dummy makes them: filled on the backend.
  Result<ExpertMatrices> make(Backend& be, int64_t expert) const override {
    SIEVE_RETURN_IF_ERROR(check(expert));
    const FilledExpert& x = experts_[expert];
    ExpertMatrices m;
    m.gate_up = be.make_filled_matrix(rows(x.gate_up), hidden_, x.gate_up, format_);
    const RowBlockFill down[] = {{hidden_, x.down}};
    m.down = be.make_filled_matrix(hidden_, inter_, down, format_);
    return m;
  }

  // The fill is a pure function of the element index, so the host computes the same values a
  // backend fills.
  Status read(int64_t expert, ExpertHostWeights& out) const override {
    SIEVE_RETURN_IF_ERROR(check(expert));
    const FilledExpert& x = experts_[expert];
    out.gate_up.resize(bytes(rows(x.gate_up), hidden_));
    int64_t row = 0;
    for (const RowBlockFill& b : x.gate_up) {
      fill_host_range(b.fill, 0, b.rows * hidden_, dtype_,
                      out.gate_up.data() + bytes(row, hidden_));
      row += b.rows;
    }
    out.down.resize(bytes(hidden_, inter_));
    fill_host_range(x.down, 0, hidden_ * inter_, dtype_, out.down.data());
    return Status::Ok();
  }

 private:
  static int64_t rows(const std::vector<RowBlockFill>& blocks) {
    int64_t n = 0;
    for (const RowBlockFill& b : blocks)
      n += b.rows;
    return n;
  }

  std::vector<FilledExpert> experts_;
};

}  // namespace

std::shared_ptr<const ExpertSource> mapped_experts(std::vector<MappedExpert> experts,
                                                   int64_t hidden, int64_t intermediate,
                                                   MatrixFormat format, bool keep_stored) {
  return std::make_shared<MappedExperts>(std::move(experts), hidden, intermediate, format,
                                         keep_stored);
}

std::shared_ptr<const ExpertSource> filled_experts(std::vector<FilledExpert> experts,
                                                   int64_t hidden, int64_t intermediate,
                                                   MatrixFormat format) {
  return std::make_shared<FilledExperts>(std::move(experts), hidden, intermediate, format);
}

}  // namespace sieve
