// A dense, row-major tensor: a shape, an element type and a pointer into a shared buffer.
// Copies share the buffer (like a view); the last holder frees it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/dtype.h"
#include "engine/base/status.h"

namespace sieve {

enum class Device : uint8_t { kCpu, kCuda };
inline const char* device_name(Device d) {
  return d == Device::kCpu ? "host" : "GPU";
}

// "[2, 3]": how errors and logs print a shape.
std::string format_shape(const std::vector<int64_t>& shape);

// Each of `count` row-major [rows, cols] matrices in `src` written transposed ([cols, rows]) to
// `dst` (not overlapping), elements of `elem_bytes` (2 or 4) bytes; in tiles so both sides stay
// in cache. For weights stored as x @ W (gpt-oss's experts) and their quantized copies.
void transpose_matrices(const void* src, void* dst, int64_t count, int64_t rows, int64_t cols,
                        size_t elem_bytes);

class Tensor {
 public:
  Tensor() = default;

  // Fresh, 64-byte aligned host memory; zeroed when `zero` is set.
  static Tensor empty(std::vector<int64_t> shape, DType dtype, bool zero = false);
  static Tensor zeros(std::vector<int64_t> shape, DType dtype) { return empty(shape, dtype, true); }
  // Memory owned by someone else; `owner` keeps it alive as long as the tensor lives.
  static Tensor wrap(void* data, std::vector<int64_t> shape, DType dtype,
                     std::shared_ptr<void> owner, Device device = Device::kCpu);

  bool defined() const { return data_ != nullptr || (numel() == 0 && !shape_.empty()); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  std::string shape_string() const;

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <class T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <class T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }

  // Same memory, another shape with the same element count.
  Tensor view(std::vector<int64_t> shape) const;
  // Rows [begin, end) along dimension 0, sharing memory.
  Tensor rows(int64_t begin, int64_t end) const;
  // Element `i` along dimension 0 with that dimension dropped, sharing memory.
  Tensor select(int64_t i) const;

 private:
  void* data_ = nullptr;
  std::vector<int64_t> shape_;
  DType dtype_ = DType::kF32;
  Device device_ = Device::kCpu;
  std::shared_ptr<void> owner_;
};

}  // namespace sieve
