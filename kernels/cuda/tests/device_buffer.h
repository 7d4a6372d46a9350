// Test-local RAII device memory: a typed cudaMalloc'd array, filled from and copied back to host
// vectors. Move-only. Errors abort through SIEVE_CUDA_CHECK (a test cannot go on without it).
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
  explicit DeviceBuffer(size_t size) : size_(size) {
    if (size_ > 0) SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), bytes()));
  }
  ~DeviceBuffer() {
    if (data_ != nullptr) cudaFree(data_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (data_ != nullptr) cudaFree(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  static DeviceBuffer from_host(const std::vector<T>& host) {
    DeviceBuffer b(host.size());
    if (!host.empty()) {
      SIEVE_CUDA_CHECK(cudaMemcpy(b.data_, host.data(), b.bytes(), cudaMemcpyHostToDevice));
    }
    return b;
  }
  std::vector<T> to_host() const {
    std::vector<T> host(size_);
    if (size_ > 0) {
      SIEVE_CUDA_CHECK(cudaDeviceSynchronize());
      SIEVE_CUDA_CHECK(cudaMemcpy(host.data(), data_, bytes(), cudaMemcpyDeviceToHost));
    }
    return host;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(T); }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sieve::cuda::test
