#include "engine/backends/backend_factory.h"

#include "engine/backends/cpu_backend.h"

#if defined(SIEVE_HAVE_CUDA)
#include "engine/backends/cuda_backend.h"
#include "kernels/cuda/device.h"
#endif

namespace sieve {

Result<std::string> resolve_backend(const std::string& flag) {
#if defined(SIEVE_HAVE_CUDA)
  const cuda::DeviceInfo& dev = cuda::device_info();
  if (flag == "auto") return std::string(dev.available ? "cuda" : "cpu");
  if (flag == "cuda" && !dev.available) {
    return unavailable("--backend cuda: no usable CUDA device (" + dev.why_not +
                       "); run with --backend cpu");
  }
#else
  if (flag == "auto") return std::string("cpu");
  if (flag == "cuda") {
    return unavailable(
        "--backend cuda: this sieve was built without the CUDA toolkit (rebuild where nvcc is "
        "found, or run with --backend cpu)");
  }
#endif
  if (flag == "cpu" || flag == "cuda") return flag;
  return invalid_argument("--backend must be auto, cpu or cuda, got '" + flag + "'");
}

Result<std::unique_ptr<Backend>> make_backend(const BackendChoice& choice) {
#if defined(SIEVE_HAVE_CUDA)
  if (choice.name == "cuda") {
    auto cuda = std::make_unique<CudaBackend>();
    SIEVE_RETURN_IF_ERROR(cuda->set_moe_tuning({choice.moe_autotune, choice.moe_tuning_cache}));
    return std::unique_ptr<Backend>(std::move(cuda));
  }
#endif
  if (choice.name != "cpu") {
    return invalid_argument("no backend '" + choice.name + "' in this build (cpu" +
#if defined(SIEVE_HAVE_CUDA)
                            std::string(", cuda") +
#else
                            std::string() +
#endif
                            ")");
  }
  return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(choice.threads));
}

}  // namespace sieve
