// Test-only RAII device buffer: cudaMalloc'd storage for n elements of T, copied from and to
// host vectors. Aborts (SIEVE_CUDA_CHECK) on any CUDA error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda::test {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // n elements, zero-filled.
  explicit DeviceBuffer(size_t n) : size_(n) {
    if (n == 0) return;
    SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(T)));
    SIEVE_CUDA_CHECK(cudaMemset(data_, 0, n * sizeof(T)));
  }
  static DeviceBuffer from_host(const std::vector<T>& host) {
    DeviceBuffer b(host.size());
    if (!host.empty()) {
      SIEVE_CUDA_CHECK(
          cudaMemcpy(b.data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
    }
    return b;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }

  // Waits for all work on the device, then copies the whole buffer back.
  std::vector<T> to_host() const {
    std::vector<T> host(size_);
    SIEVE_CUDA_CHECK(cudaDeviceSynchronize());
    if (size_ != 0) {
      SIEVE_CUDA_CHECK(cudaMemcpy(host.data(), data_, size_ * sizeof(T), cudaMemcpyDeviceToHost));
    }
    return host;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release() {
    if (data_ != nullptr) SIEVE_CUDA_CHECK(cudaFree(data_));
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sieve::cuda::test
