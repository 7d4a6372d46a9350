#include "engine/base/tensor.h"

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <sstream>

namespace sieve {

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_)
    n *= d;
  return n;
}

namespace {

template <class T>
void transpose_tiled(const T* src, T* dst, int64_t count, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;
  for (int64_t m = 0; m < count; ++m, src += rows * cols, dst += rows * cols) {
    for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile);
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c)
            dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
}

}  // namespace

void transpose_matrices(const void* src, void* dst, int64_t count, int64_t rows, int64_t cols,
                        size_t elem_bytes) {
  if (elem_bytes == 2) {
    transpose_tiled(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), count, rows,
                    cols);
  } else {
    SIEVE_CHECK_EQ(elem_bytes, 4u);
    transpose_tiled(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), count, rows,
                    cols);
  }
}

std::string format_shape(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

std::string Tensor::shape_string() const {
  return format_shape(shape_);
}

Tensor Tensor::empty(std::vector<int64_t> shape, DType dtype, bool zero) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  size_t bytes = t.nbytes();
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  SIEVE_CHECK_MSG(p != nullptr, "out of host memory allocating " << rounded << " bytes");
  if (zero) std::memset(p, 0, rounded);
  t.owner_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  t.data_ = p;
  return t;
}

Tensor Tensor::wrap(void* data, std::vector<int64_t> shape, DType dtype,
                    std::shared_ptr<void> owner, Device device) {
  Tensor t;
  t.data_ = data;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.owner_ = std::move(owner);
  return t;
}

Tensor Tensor::view(std::vector<int64_t> shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  SIEVE_CHECK_EQ(t.numel(), numel());
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  SIEVE_CHECK(rank() >= 1);
  SIEVE_CHECK(0 <= begin && begin <= end && end <= shape_[0]);
  Tensor t = *this;
  int64_t row_elems = shape_[0] == 0 ? 0 : numel() / shape_[0];
  t.data_ = static_cast<char*>(data_) + begin * row_elems * dtype_size(dtype_);
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::select(int64_t i) const {
  Tensor t = rows(i, i + 1);
  t.shape_.erase(t.shape_.begin());
  return t;
}

}  // namespace sieve
