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
