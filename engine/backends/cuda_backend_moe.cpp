// The CUDA backend's MoE ops: the expert pipeline (with its pointer tables and the kernel
// tuner) and the weighted combine.
#include <spdlog/spdlog.h>

#include "engine/backends/cuda_backend.h"
#include "engine/backends/cuda_backend_internal.h"
#include "kernels/cuda/moe.h"
#include "kernels/cuda/moe_registry.h"

namespace sieve {

using namespace cuda_backend_detail;

// A device array of the experts' weight pointers, made once per layer and kept; made again when
// the vector's experts change (the hybrid executor's device tier gains and loses experts).
const void* CudaBackend::expert_pointers(const std::vector<std::shared_ptr<Matrix>>& m) {
  std::vector<const void*> host;
  host.reserve(m.size());
  for (const auto& e : m)
    host.push_back(cuda_matrix(*e).data());
  return pointer_table(&m, std::move(host));
}

const void* CudaBackend::bias_pointers(const std::vector<Tensor>& biases) {
  if (biases.empty()) return nullptr;
  std::vector<const void*> host;
  host.reserve(biases.size());
  for (const Tensor& b : biases)
    host.push_back(b.raw());
  return pointer_table(&biases, std::move(host));
}

const void* CudaBackend::pointer_table(const void* key, std::vector<const void*> host) {
  ExpertTable& table = expert_ptrs_[key];
  if (!table.device || table.host != host) {
    SIEVE_CHECK_MSG(!capturing_, "expert tables must exist before a CUDA graph is captured");
    // The old array may still be read by work in flight on the stream.
    if (table.device) synchronize();
    table.device = device_buffer(host.size() * sizeof(void*));
    SIEVE_CUDA_CHECK(cudaMemcpy(table.device.get(), host.data(), host.size() * sizeof(void*),
                                cudaMemcpyHostToDevice));
    table.host = std::move(host);
  }
  return table.device.get();
}

void CudaBackend::moe_experts(const MoeArgs& args) {
  const ExpertWeights& ex = *args.experts;
  cuda::MoeParams p;
  p.x = args.x->data<float>();
  p.topk_ids = args.topk_ids->data<int32_t>();
  p.topk_weights = args.topk_weights->data<float>();
  p.gate_up = static_cast<const void* const*>(expert_pointers(ex.gate_up));
  p.down = static_cast<const void* const*>(expert_pointers(ex.down));
  p.w_type = weight_type(ex.gate_up[0]->dtype());
  // Every expert-product kernel rounds the activations to bf16 where the others do (and where
  // linear() and the CPU's bf16 products do): the kernel chosen for a row count changes only
  // the order of fp32 sums, which is what bounds how much a sequence's logits move with the
  // batch (engine/README.md, invariants).
  p.bf16_activations = true;
  p.gate_up_bias = static_cast<const float* const*>(bias_pointers(ex.gate_up_bias));
  p.down_bias = static_cast<const float* const*>(bias_pointers(ex.down_bias));
  p.swiglu_limit = args.activation.swiglu_limit;
  p.swiglu_alpha = args.activation.swiglu_alpha;
  p.out = args.out->data<float>();
  p.tokens = args.x->dim(0);
  p.top_k = args.topk_ids->dim(1);
  p.num_experts = static_cast<int64_t>(ex.gate_up.size());
  p.hidden = args.x->dim(1);
  p.inter = ex.down[0]->k();
  p.workspace_bytes =
      cuda::moe_workspace_bytes(p.tokens, p.top_k, p.num_experts, p.hidden, p.inter);
  p.workspace = device_alloc(p.workspace_bytes);
  const cuda::MoeShape shape = cuda::moe_shape_of(p);
  if (moe_tuning_.autotune && !capturing_ && !moe_registry_->cached(shape)) {
    tune_moe(p, shape);  // leaves the fastest variant's output in p.out
    return;
  }
  p.gemm = moe_registry_->choose(shape);  // the tuned choice, else the built-in rule
  cuda::moe_experts(p, as_stream(stream_));
}

Status CudaBackend::set_moe_tuning(const MoeTuningOptions& options) {
  moe_tuning_ = options;
  if (options.cache_path.empty()) return Status::Ok();
  std::string error, note;
  if (!moe_registry_->load(options.cache_path, &error, &note)) {
    return invalid_argument("--moe-tuning-cache " + error);
  }
  if (!note.empty()) spdlog::warn("MoE tuning cache {}", note);
  if (moe_registry_->size() > 0) {
    spdlog::info("MoE tuning cache {}: {} tuned shapes for {}", options.cache_path,
                 moe_registry_->size(), moe_registry_->device());
  }
  return Status::Ok();
}

void CudaBackend::tune_moe(const cuda::MoeParams& p, const cuda::MoeShape& shape) {
  const cuda::MoeTuneResult r = cuda::moe_tune(p, as_stream(stream_));
  moe_registry_->remember(shape, r);
  for (const auto& [v, err] : r.rejected) {
    spdlog::error(
        "MoE kernel {} disagrees with the reference kernel (relative error {:.3g}) at "
        "{} tokens, {}x{}: not used; please report this with your GPU model",
        cuda::moe_gemm_variant_name(v), err, shape.tokens, shape.hidden, shape.inter);
  }
  std::string times;
  for (const auto& [v, us] : r.microseconds)
    times += fmt::format("{}{} {:.1f} us", times.empty() ? "" : ", ",
                         cuda::moe_gemm_variant_name(v), us);
  spdlog::info("MoE tuned for {} tokens (bucket {}), {} experts top-{}, {}x{}: {} ({})",
               shape.tokens, cuda::moe_tokens_bucket(shape.tokens), shape.num_experts, shape.top_k,
               shape.hidden, shape.inter, cuda::moe_gemm_variant_name(r.best), times);
  if (moe_tuning_.cache_path.empty()) return;
  std::string error;
  if (!moe_registry_->save(moe_tuning_.cache_path, &error)) {
    spdlog::warn("MoE tuning cache not saved: {}", error);
  }
}

void CudaBackend::combine_rows(const Tensor& src, const Tensor& rows, const Tensor& weights,
                               Tensor& out) {
  cuda::MoeUnpermuteParams p;
  p.y_sorted = src.data<float>();
  p.inverse = rows.data<int32_t>();
  p.topk_weights = weights.data<float>();
  p.out = out.data<float>();
  p.tokens = weights.dim(0);
  p.top_k = weights.dim(1);
  p.hidden = out.dim(1);
  SIEVE_CHECK_EQ(rows.numel(), p.tokens * p.top_k);
  SIEVE_CHECK_EQ(out.dim(0), p.tokens);
  if (p.tokens == 0) return;
  cuda::moe_unpermute(p, as_stream(stream_));
}

}  // namespace sieve
