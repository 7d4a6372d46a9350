#include "models/blocks/expert_sources.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <tuple>

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
  // a stacked or quantized one converted (dequantized) into a staging buffer first. A packer's
  // refusal (a NaN, a scale out of range) names the expert's tensors.
  Result<ExpertMatrices> make(Backend& be, int64_t expert) const override {
    SIEVE_RETURN_IF_ERROR(check(expert));
    try {
      return make_checked(be, expert);
    } catch (const std::invalid_argument& e) {
      const MappedExpert& x = experts_[expert];
      return invalid_argument("tensor '" + x.gate_up.front().stored.name + "' (or its expert's " +
                              "others): " + e.what());
    }
  }

  Result<ExpertMatrices> make_checked(Backend& be, int64_t expert) const {
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

// ---- experts stored stacked (gpt-oss) ----------------------------------------------------------

// Output row r of the engine's gate_up [2 · inter, hidden] (gate rows, then up rows) is row or
// column interleaved_source(r) of the stacked layout, where gate i and up i sit at 2i and 2i + 1.
int64_t interleaved_source(int64_t r, int64_t inter) {
  return r < inter ? 2 * r : 2 * (r - inter) + 1;
}

// A stacked layer's expert e, from whatever holds its elements: the in-major slices at the
// weight dtype (plain or filled), turned into the engine's layout.
class StackedLayerSource : public LayerSource {
 public:
  using LayerSource::LayerSource;

  Result<ExpertMatrices> make(Backend& be, int64_t expert) const override {
    SIEVE_RETURN_IF_ERROR(check(expert));
    try {
      return make_checked(be, expert);
    } catch (const std::invalid_argument& e) {
      return invalid_argument("expert " + std::to_string(expert) + " of " + tensor_names() + ": " +
                              e.what());
    }
  }

 protected:
  // The stacked tensors' names, for errors.
  virtual std::string tensor_names() const = 0;

 private:
  Result<ExpertMatrices> make_checked(Backend& be, int64_t expert) const {
    ExpertMatrices m;
    SIEVE_RETURN_IF_ERROR(make_kept(be, expert, m));
    if (!m.gate_up) {
      ExpertHostWeights h;
      SIEVE_RETURN_IF_ERROR(read(expert, h));
      m.gate_up = be.make_matrix(h.gate_up.data(), dtype_, 2 * inter_, hidden_, format_);
      m.down = be.make_matrix(h.down.data(), dtype_, hidden_, inter_, format_);
      m.gate_up_bias = be.upload(h.gate_up_bias.data(), DType::kF32, {2 * inter_}, DType::kF32);
      m.down_bias = be.upload(h.down_bias.data(), DType::kF32, {hidden_}, DType::kF32);
      return m;
    }
    std::vector<float> gub, db;
    SIEVE_RETURN_IF_ERROR(biases(expert, gub, db));
    m.gate_up_bias = be.upload(gub.data(), DType::kF32, {2 * inter_}, DType::kF32);
    m.down_bias = be.upload(db.data(), DType::kF32, {hidden_}, DType::kF32);
    return m;
  }

 public:
  Status read(int64_t expert, ExpertHostWeights& out) const override {
    SIEVE_RETURN_IF_ERROR(check(expert));
    SIEVE_RETURN_IF_ERROR(out_major(expert, out.gate_up, out.down));
    return biases(expert, out.gate_up_bias, out.down_bias);
  }

 protected:
  // Expert e's gate_up [2 · inter, hidden] and down [hidden, inter] at the weight dtype.
  virtual Status out_major(int64_t expert, std::vector<uint8_t>& gate_up,
                           std::vector<uint8_t>& down) const = 0;
  // Expert e's biases as fp32 in the stacked (interleaved) order.
  virtual Status raw_biases(int64_t expert, std::vector<float>& gate_up,
                            std::vector<float>& down) const = 0;
  // Where the backend keeps the checkpoint's quantized bytes: the matrices made so (m.gate_up set).
  virtual Status make_kept(Backend& be, int64_t expert, ExpertMatrices& m) const {
    return Status::Ok();
  }

  // The in-major slices [k, n] of gate_up and down turned out-major, gate/up de-interleaved.
  void from_in_major(const uint8_t* gate_up_in, const uint8_t* down_in,
                     std::vector<uint8_t>& gate_up, std::vector<uint8_t>& down) const {
    const size_t es = dtype_size(dtype_);
    std::vector<uint8_t> rows(bytes(2 * inter_, hidden_));
    transpose_matrices(gate_up_in, rows.data(), 1, hidden_, 2 * inter_, es);
    deinterleave(rows.data(), gate_up);
    down.resize(bytes(hidden_, inter_));
    transpose_matrices(down_in, down.data(), 1, inter_, hidden_, es);
  }

  // gate_up rows [2 · inter, hidden] with gate i, up i at rows 2i, 2i + 1 → gate rows, then up.
  void deinterleave(const uint8_t* rows, std::vector<uint8_t>& gate_up) const {
    gate_up.resize(bytes(2 * inter_, hidden_));
    const size_t row_bytes = bytes(1, hidden_);
    for (int64_t r = 0; r < 2 * inter_; ++r)
      std::memcpy(gate_up.data() + r * row_bytes, rows + interleaved_source(r, inter_) * row_bytes,
                  row_bytes);
  }

 private:
  Status biases(int64_t expert, std::vector<float>& gate_up, std::vector<float>& down) const {
    std::vector<float> raw;
    SIEVE_RETURN_IF_ERROR(raw_biases(expert, raw, down));
    gate_up.resize(static_cast<size_t>(2 * inter_));
    for (int64_t r = 0; r < 2 * inter_; ++r)
      gate_up[r] = raw[interleaved_source(r, inter_)];
    return Status::Ok();
  }
};

class MappedStackedExperts final : public StackedLayerSource {
 public:
  MappedStackedExperts(StackedMappedTensors t, int64_t num_experts, int64_t hidden, int64_t inter,
                       MatrixFormat format, bool keep_stored)
      : StackedLayerSource(num_experts, hidden, inter, format),
        t_(std::move(t)),
        keep_stored_(keep_stored) {}

 protected:
  std::string tensor_names() const override {
    return "'" + t_.gate_up.stored.name + "' / '" + t_.down.stored.name + "'";
  }

  Status out_major(int64_t expert, std::vector<uint8_t>& gate_up,
                   std::vector<uint8_t>& down) const override {
    const StoredMatrix& g = t_.gate_up.stored;
    const StoredMatrix& d = t_.down.stored;
    if (g.format == StoredFormat::kPlain && d.format == StoredFormat::kPlain) {
      std::vector<uint8_t> g_in(bytes(hidden_, 2 * inter_)), d_in(bytes(inter_, hidden_));
      convert_slice(g, expert, g_in.data());
      convert_slice(d, expert, d_in.data());
      from_in_major(g_in.data(), d_in.data(), gate_up, down);
      return Status::Ok();
    }
    // Quantized: slice e is already [n, k]; dequantized, then gate/up rows de-interleaved.
    std::vector<uint8_t> rows(bytes(2 * inter_, hidden_));
    SIEVE_RETURN_IF_ERROR(dequantize(quantized_slice(g, expert), dtype_, rows.data()));
    deinterleave(rows.data(), gate_up);
    down.resize(bytes(hidden_, inter_));
    return dequantize(quantized_slice(d, expert), dtype_, down.data());
  }

  Status raw_biases(int64_t expert, std::vector<float>& gate_up,
                    std::vector<float>& down) const override {
    gate_up.resize(static_cast<size_t>(2 * inter_));
    down.resize(static_cast<size_t>(hidden_));
    convert_vector(t_.gate_up_bias.stored, expert, gate_up.data());
    convert_vector(t_.down_bias.stored, expert, down.data());
    return Status::Ok();
  }

  // mxfp4 kept as stored: gate rows (even) and up rows (odd) gathered into two parts.
  Status make_kept(Backend& be, int64_t expert, ExpertMatrices& m) const override {
    if (!keep_stored_) return Status::Ok();
    const StoredMatrix g = quantized_slice(t_.gate_up.stored, expert);
    const StoredMatrix d = quantized_slice(t_.down.stored, expert);
    const StoredMatrix whole[] = {g};
    const StoredMatrix down[] = {d};
    if (g.format != StoredFormat::kMxfp4 ||
        stored_format_to_keep(whole, format_.quant, be) == QuantFormat::kNone ||
        stored_format_to_keep(down, format_.quant, be) == QuantFormat::kNone) {
      return Status::Ok();
    }
    const int64_t value_row = g.cols() / 2, scale_row = g.cols() / 32;
    std::vector<uint8_t> values(static_cast<size_t>(2 * inter_ * value_row));
    std::vector<uint8_t> scales(static_cast<size_t>(2 * inter_ * scale_row));
    for (int64_t r = 0; r < 2 * inter_; ++r) {
      const int64_t from = interleaved_source(r, inter_);
      std::memcpy(values.data() + r * value_row, g.values + from * value_row, value_row);
      std::memcpy(scales.data() + r * scale_row, g.scales + from * scale_row, scale_row);
    }
    StoredMatrix parts[2] = {g, g};
    for (int half = 0; half < 2; ++half) {
      parts[half].shape = {inter_, g.cols()};
      parts[half].values = values.data() + half * inter_ * value_row;
      parts[half].value_bytes = static_cast<uint64_t>(inter_ * value_row);
      parts[half].scales = scales.data() + half * inter_ * scale_row;
      parts[half].scale_bytes = static_cast<uint64_t>(inter_ * scale_row);
    }
    m.gate_up = be.make_stored_matrix(parts, dtype_);
    m.down = be.make_stored_matrix(down, dtype_);
    return Status::Ok();
  }

 private:
  // Slice e of a plain stacked tensor, converted to the weight dtype.
  void convert_slice(const StoredMatrix& m, int64_t expert, uint8_t* out) const {
    const int64_t n = m.rows() * m.cols();
    host_convert(m.values + static_cast<size_t>(expert * n) * dtype_size(m.dtype), m.dtype, out,
                 dtype_, n);
  }
  // Row e of a plain [experts, n] bias as fp32.
  void convert_vector(const StoredMatrix& m, int64_t expert, float* out) const {
    const int64_t n = m.cols();
    host_convert(m.values + static_cast<size_t>(expert * n) * dtype_size(m.dtype), m.dtype, out,
                 DType::kF32, n);
  }
  // Slice e of a quantized stacked tensor as a single matrix.
  static StoredMatrix quantized_slice(const StoredMatrix& m, int64_t expert) {
    StoredMatrix s = m;
    s.shape = {m.rows(), m.cols()};
    const uint64_t values = m.value_bytes / m.count(), scales = m.scale_bytes / m.count();
    s.values = m.values + expert * values;
    s.value_bytes = values;
    s.scales = m.scales + expert * scales;
    s.scale_bytes = scales;
    return s;
  }

  StackedMappedTensors t_;
  bool keep_stored_;
};

class FilledStackedExperts final : public StackedLayerSource {
 public:
  FilledStackedExperts(const StackedFills& f, int64_t num_experts, int64_t hidden, int64_t inter,
                       MatrixFormat format)
      : StackedLayerSource(num_experts, hidden, inter, format), f_(f) {}

 protected:
  std::string tensor_names() const override { return "the dummy stacked experts"; }

  Status out_major(int64_t expert, std::vector<uint8_t>& gate_up,
                   std::vector<uint8_t>& down) const override {
    std::vector<uint8_t> g_in(bytes(hidden_, 2 * inter_)), d_in(bytes(inter_, hidden_));
    fill_slice(f_.gate_up, expert, hidden_ * 2 * inter_, dtype_, g_in.data());
    fill_slice(f_.down, expert, inter_ * hidden_, dtype_, d_in.data());
    from_in_major(g_in.data(), d_in.data(), gate_up, down);
    return Status::Ok();
  }

  // Rounded to the weight dtype, as a checkpoint of the same fills stores them.
  Status raw_biases(int64_t expert, std::vector<float>& gate_up,
                    std::vector<float>& down) const override {
    for (auto [fill, n, out] :
         {std::tuple{&f_.gate_up_bias, 2 * inter_, &gate_up}, {&f_.down_bias, hidden_, &down}}) {
      std::vector<uint8_t> held(bytes(1, n));
      fill_slice(*fill, expert, n, dtype_, held.data());
      out->resize(static_cast<size_t>(n));
      host_convert(held.data(), dtype_, out->data(), DType::kF32, n);
    }
    return Status::Ok();
  }

 private:
  // Elements [e · n, (e + 1) · n) of a filled stacked tensor into out[0, n), on every core (a
  // gpt-oss-20b expert is 25 M values; its 768 experts are most of a dummy load). One filler
  // for the process, taken in turn: the loader and a background copy may both ask.
  static void fill_slice(const WeightFill& fill, int64_t expert, int64_t n, DType dtype,
                         uint8_t* out) {
    static HostFiller filler(0);
    static std::mutex mu;
    const int64_t begin = expert * n;
    std::lock_guard lock(mu);
    filler.fill_range(fill, begin, begin + n, dtype,
                      out - static_cast<ptrdiff_t>(static_cast<size_t>(begin) * dtype_size(dtype)));
  }

  StackedFills f_;
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

std::shared_ptr<const ExpertSource> mapped_stacked_experts(StackedMappedTensors tensors,
                                                           int64_t num_experts, int64_t hidden,
                                                           int64_t intermediate,
                                                           MatrixFormat format, bool keep_stored) {
  return std::make_shared<MappedStackedExperts>(std::move(tensors), num_experts, hidden,
                                                intermediate, format, keep_stored);
}

std::shared_ptr<const ExpertSource> filled_stacked_experts(const StackedFills& fills,
                                                           int64_t num_experts, int64_t hidden,
                                                           int64_t intermediate,
                                                           MatrixFormat format) {
  return std::make_shared<FilledStackedExperts>(fills, num_experts, hidden, intermediate, format);
}

}  // namespace sieve
