#include "tools/sieve/model_loading.h"

#include <chrono>
#include <cstdlib>
#include <optional>

#include <spdlog/spdlog.h>

#include "engine/backends/backend_factory.h"
#include "engine/experts/hybrid/hybrid_moe_executor.h"
#include "tools/sieve/placement/placement_setup.h"
#include "tools/sieve/progress_bar.h"

#if defined(SIEVE_HAVE_CUDA)
#include "engine/backends/cuda_backend.h"
#include "engine/backends/cuda_graph_model.h"
#include "engine/backends/kv_cache.h"
#endif

namespace sieve {
namespace {

#if defined(SIEVE_HAVE_CUDA)

// The step with the most activations the engine can schedule: max_num_batched_tokens tokens
// over up to max_num_seqs sequences, each wanting logits. Run once after loading, it tells how
// much scratch a step needs before the KV cache takes the rest of the memory budget.
ForwardBatch profile_batch(const EngineOptions& o) {
  const int64_t tokens = o.max_num_batched_tokens;
  const int64_t seqs = std::max<int64_t>(1, std::min(o.max_num_seqs, tokens));
  ForwardBatch b;
  const int64_t per_seq = (tokens + seqs - 1) / seqs;
  b.max_blocks_per_seq = (per_seq + o.block_size - 1) / o.block_size;
  b.query_start.push_back(0);
  for (int64_t s = 0; s < seqs; ++s) {
    const int64_t n = std::min(per_seq, tokens - s * per_seq);
    if (n <= 0) break;
    for (int64_t i = 0; i < n; ++i) {
      b.token_ids.push_back(0);
      b.positions.push_back(static_cast<int32_t>(i));
      b.slots.push_back(i);  // all sequences write the same page: contents do not matter
    }
    b.query_start.push_back(static_cast<int32_t>(b.token_ids.size()));
    b.context_lens.push_back(static_cast<int32_t>(n));
    for (int64_t j = 0; j < b.max_blocks_per_seq; ++j)
      b.block_tables.push_back(static_cast<int32_t>(j));
    b.logit_rows.push_back(static_cast<int32_t>(b.token_ids.size() - 1));
  }
  return b;
}

// Loads on the GPU, measures the largest step, and sizes the KV cache from what
// --gpu-memory-utilization leaves (and, with --expert-placement, what the resident experts may
// still grow to).
Status finish_cuda_load(LoadedModel& m, const EngineFlags& flags, bool expert_parallel) {
  auto& be = static_cast<CudaBackend&>(*m.backend);
  const EngineOptions o = flags.engine_options();
  {
    const ForwardBatch b = profile_batch(o);
    KvCache kv(be, m.model->kv_layout(), o.block_size, b.max_blocks_per_seq);
    std::vector<float> logits(b.logit_rows.size() * m.model->config().vocab_size);
    m.model->forward(b, kv, logits.data(), nullptr);
    be.reserve_for_capture();  // the arena now holds the largest step
  }
  SIEVE_ASSIGN_OR_RETURN(const CudaBackend::MemoryInfo memory, be.device_memory());
  const size_t free_bytes = memory.free_bytes, total_bytes = memory.total_bytes;
  // CUDA graphs and cuBLASLt keep a little memory of their own beyond what is in use now.
  constexpr int64_t kReserve = int64_t{512} << 20;
  const int64_t used = static_cast<int64_t>(total_bytes - free_bytes);
  const int64_t budget = static_cast<int64_t>(flags.gpu_memory_utilization * total_bytes);
  // Uploads and swaps fill the device expert budget later: keep what is not used yet.
  const int64_t experts_later =
      m.hybrid ? m.hybrid->max_device_bytes() - m.hybrid->resident_bytes() : 0;
  m.kv_cache_bytes = budget - used - kReserve - experts_later;
  const int64_t page = KvCache::page_bytes(m.model->kv_layout(), o.block_size);
  if (m.kv_cache_bytes < page) {
    return resource_exhausted(
        "not enough GPU memory for the KV cache: " + format_bytes(used) + " in use after " +
        "loading (weights " + format_bytes(m.model->weight_bytes()) + ", activations " +
        format_bytes(static_cast<int64_t>(be.scratch_peak())) + ")" +
        (m.hybrid ? ", " + format_bytes(experts_later) +
                        " kept for the experts --device-expert-memory may still make resident"
                  : std::string()) +
        " of a budget of " + format_bytes(budget) + " (--gpu-memory-utilization " +
        std::to_string(flags.gpu_memory_utilization) +
        "): raise --gpu-memory-utilization, lower --max-num-batched-tokens" +
        (m.hybrid ? " or --device-expert-memory" : "") + ", or use --dtype bf16");
  }
  spdlog::info("GPU memory: {} total, {} in use after loading, KV cache gets {} ({} pages)",
               format_bytes(static_cast<int64_t>(total_bytes)), format_bytes(used),
               format_bytes(m.kv_cache_bytes), m.kv_cache_bytes / page);
  // An expert-parallel step plans its all-to-all on the host from the router's choices, and a
  // hybrid one its placement, so neither can be captured.
  if (expert_parallel && !flags.enforce_eager) {
    spdlog::info("expert parallelism: steps run eagerly (no CUDA graphs)");
  }
  if (m.hybrid && !flags.enforce_eager) {
    spdlog::info("expert placement: steps run eagerly (no CUDA graphs)");
  }
  if (!flags.enforce_eager && !expert_parallel && !m.hybrid) {
    CudaGraphOptions g;
    g.block_size = o.block_size;
    g.max_model_len = o.max_model_len > 0 ? o.max_model_len
                      : m.model->config().max_position_embeddings > 0
                          ? m.model->config().max_position_embeddings
                          : 32768;
    std::vector<int64_t> buckets;
    for (int64_t b : g.buckets) {
      if (b <= o.max_num_seqs) buckets.push_back(b);
    }
    g.buckets = buckets;
    m.model = std::make_unique<CudaGraphModel>(std::move(m.model), be, g);
  }
  return Status::Ok();
}

#endif  // SIEVE_HAVE_CUDA

// --router-skew (dummy loads only) over config.json's, and --record-routing's trace opened.
Status apply_routing_flags(LoadedModel& m, const std::string& model_dir, const EngineFlags& flags,
                           LoadFormat format, Distributed* dist) {
  if (!flags.router_skew.empty()) {
    if (format != LoadFormat::kDummy) {
      return invalid_argument(
          "--router-skew makes the random router weights of --load-format dummy; a checkpoint's "
          "router weights are read as they are (write a skewed one with `sieve make-checkpoint "
          "--router-skew zipf:S`)");
    }
    SIEVE_ASSIGN_OR_RETURN(m.dir.router_skew, parse_router_skew(flags.router_skew));
  }
  if (flags.record_routing.empty()) return Status::Ok();
  const ModelConfig& c = m.dir.config;
  if (c.num_experts == 0 || c.num_moe_layers() == 0) {
    return invalid_argument("--record-routing: " + model_dir + " has no MoE layers to record");
  }
  std::string how = c.model_type;
  if (format == LoadFormat::kDummy) how += ", dummy weights";
  if (m.dir.router_skew.enabled()) how += ", router skew " + m.dir.router_skew.text();
  if (dist) how += ", " + std::to_string(dist->world()) + " ranks summed";
  const RoutingTraceHeader header =
      routing_trace_header(c, "recorded by sieve from " + model_dir + " (" + how + ")");
  auto recorder =
      RoutingRecorder::open(flags.record_routing, header, dist ? &dist->comm() : nullptr);
  if (!recorder.ok()) return invalid_argument("--record-routing: " + recorder.status().message());
  m.routing = std::move(recorder).value();
  return Status::Ok();
}

// --quantization and --quantize-dense, checked before anything loads.
Result<WeightFormat> resolve_weight_format(const EngineFlags& flags, DType weight_dtype) {
  WeightFormat f(weight_dtype);
  SIEVE_ASSIGN_OR_RETURN(f.experts, parse_quant_format(flags.quantization));
  if (flags.quantize_dense) {
    if (f.experts == QuantFormat::kNone) {
      return invalid_argument("--quantize-dense needs --quantization int8|int4|fp8|mxfp4");
    }
    f.dense = f.experts;
  }
  // A quantized checkpoint stays quantized in memory where the backend holds its format; the
  // expert placement's host and device copies are made from dequantized arrays, so there the
  // experts load dequantized (both tiers then compute from the same values).
  f.keep_stored = !flags.placement.enabled();
  if (f.quantized() && flags.placement.enabled()) {
    return invalid_argument(
        "--quantization with --expert-placement is not supported yet: the placement's cost "
        "model and device memory are sized for unquantized experts; drop one of them");
  }
  return f;
}

}  // namespace

EngineOptions LoadedModel::engine_options(const EngineFlags& flags) const {
  EngineOptions o = flags.engine_options();
  if (kv_cache_bytes > 0) o.kv_cache_bytes = kv_cache_bytes;
  if (routing) {
    o.on_routing = [recorder = routing.get()](const RoutingStep& step) {
      const Status s = recorder->record(step);
      if (s.ok()) return;
      spdlog::error("{}", s.message());
      if (s.code() == StatusCode::kUnavailable) {
        // A rank is lost: no step can go on without it.
        spdlog::error("the ranks' routing counts could not be summed; exiting");
        spdlog::default_logger()->flush();
        std::_Exit(1);
      }
    };
  }
  return o;
}

void LoadedModel::log_routing_recorded() const {
  if (routing && routing->steps_written() > 0) {
    spdlog::info("routing trace: {} steps in {}", routing->steps_written(), routing->path());
  }
}

Result<LoadedModel> load_engine_model(const std::string& model_dir, const EngineFlags& flags,
                                      Distributed* dist) {
  LoadedModel m;
  SIEVE_RETURN_IF_ERROR(check_placement_flags(flags.placement, flags.expert_parallel_size));
  SIEVE_ASSIGN_OR_RETURN(const std::string backend, resolve_backend(flags.backend));
  if (dist) SIEVE_RETURN_IF_ERROR(dist->use_backend(backend));
  SIEVE_ASSIGN_OR_RETURN(const LoadFormat format, parse_load_format(flags.load_format));
  SIEVE_ASSIGN_OR_RETURN(m.dir, open_model_dir(model_dir, format));
  SIEVE_RETURN_IF_ERROR(apply_routing_flags(m, model_dir, flags, format, dist));
  std::optional<ExpertShard> shard;
  if (dist) {
    SIEVE_ASSIGN_OR_RETURN(shard, dist->shard(m.dir.config, flags.expert_parallel_overlap));
  }
  SIEVE_ASSIGN_OR_RETURN(m.weight_dtype, resolve_weight_dtype(flags.dtype, m.dir.config));
  SIEVE_ASSIGN_OR_RETURN(m.weight_format, resolve_weight_format(flags, m.weight_dtype));
  std::optional<PlacementSetup> placement;
  if (flags.placement.enabled()) {
    SIEVE_ASSIGN_OR_RETURN(placement, prepare_placement(flags.placement, m.dir.config,
                                                        m.weight_dtype, backend, flags.threads));
  }
  BackendChoice choice;
  choice.name = backend;
  choice.threads = placement ? placement->device_threads : flags.threads;
  choice.moe_autotune = flags.moe_autotune;
  choice.moe_tuning_cache = flags.moe_tuning_cache;
  SIEVE_ASSIGN_OR_RETURN(m.backend, make_backend(choice));
  std::unique_ptr<MoeExecutor> hybrid;
  if (placement) {
    // Where the experts go: the host tier beside the model's backend, the cost model the
    // planner decides with (read, or measured now), then the executor.
    m.host_tier = std::make_unique<CpuBackend>(placement->host_threads);
    SIEVE_ASSIGN_OR_RETURN(
        placement->options.cost,
        startup_cost_model(flags.placement, *m.backend, *m.host_tier, placement->options.shape));
    spdlog::info("{}", placement->options.cost.describe());
    spdlog::info("{}", describe_placement(*placement, *m.backend));
    SIEVE_ASSIGN_OR_RETURN(auto executor,
                           HybridMoeExecutor::create(*m.backend, *m.host_tier, placement->options));
    m.hybrid = executor.get();
    hybrid = std::move(executor);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t total =
      m.dir.checkpoint ? m.dir.checkpoint->total_bytes() : m.dir.weight_bytes(m.weight_dtype);
  ProgressBar bar(m.dir.checkpoint ? "Loading weights" : "Making dummy weights",
                  static_cast<int64_t>(total));
  bar.show_as_bytes();
  LoadProgress progress;
  progress.on_progress = [&bar](uint64_t done, uint64_t) {
    bar.update(static_cast<int64_t>(done));
  };
  if (hybrid) {
    SIEVE_ASSIGN_OR_RETURN(
        m.model, load_model(m.dir, *m.backend, m.weight_format, std::move(hybrid), progress));
  } else {
    SIEVE_ASSIGN_OR_RETURN(m.model, load_model(m.dir, *m.backend, m.weight_format, progress,
                                               shard ? &*shard : nullptr));
  }
  bar.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const ModelConfig& c = m.dir.config;
  std::string weights = m.dir.checkpoint ? "" : " (dummy weights: config.json only)";
  if (m.dir.checkpoint && m.dir.checkpoint->quantization().quantized()) {
    const QuantizationConfig& q = m.dir.checkpoint->quantization();
    const QuantFormat stored =
        q.method == QuantMethod::kFp8 ? QuantFormat::kFp8 : QuantFormat::kMxfp4;
    const bool kept = m.weight_format.keep_stored && m.backend->holds(stored);
    weights += " (a " + q.describe() + " checkpoint, " +
               (kept ? std::string("kept quantized") : "dequantized as it loaded") + ")";
  }
  if (m.dir.router_skew.enabled()) {
    weights += " with router skew " + m.dir.router_skew.text() + " (synthetic)";
  }
  const std::string where = m.cpu() ? "CPU backend (" + std::string(m.cpu()->isa()) + ", " +
                                          std::to_string(m.cpu()->threads()) + " threads)"
                                    : m.backend->name();
  spdlog::info(
      "loaded {} ({}, {} layers, {} experts top-{}) from {}{} as {} in {:.1f} s: {} of "
      "weights{}, {}",
      c.architecture, c.model_type, c.num_layers, c.num_experts, c.top_k, model_dir, weights,
      m.weight_format.describe(), secs, format_bytes(m.model->weight_bytes()),
      dist ? " on rank 0" : "", where);
#if defined(SIEVE_HAVE_CUDA)
  if (!m.cpu()) SIEVE_RETURN_IF_ERROR(finish_cuda_load(m, flags, shard.has_value()));
#endif
  if (m.hybrid) {
    const HybridMoeOptions& o = m.hybrid->options();
    const int64_t all = c.num_moe_layers() * c.num_experts;
    spdlog::info("routed experts: all {} on the host tier ({}), {} resident on the device ({})",
                 all, format_bytes(all * o.shape.weight_bytes()), m.hybrid->num_resident(),
                 format_bytes(m.hybrid->resident_bytes()));
  }
  return m;
}

}  // namespace sieve
