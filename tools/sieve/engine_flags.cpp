#include "tools/sieve/engine_flags.h"

#include <CLI/CLI.hpp>

namespace sieve {

EngineOptions EngineFlags::engine_options() const {
  EngineOptions o;
  o.max_num_seqs = max_num_seqs;
  o.max_num_batched_tokens = max_num_batched_tokens;
  o.block_size = block_size;
  o.kv_cache_bytes = static_cast<int64_t>(kv_cache_gib * (1ll << 30));
  o.max_model_len = max_model_len;
  o.seed = seed;
  o.enable_prefix_caching = enable_prefix_caching;
  return o;
}

void add_engine_flags(CLI::App* cmd, EngineFlags& f) {
  cmd->add_option("--dtype", f.dtype,
                  "Weight dtype: fp32, bf16, or auto (the checkpoint's; f16 loads as bf16)")
      ->capture_default_str();
  cmd->add_option("--quantization,-q", f.quantization,
                  "Quantize the routed experts' weights as they load and keep them quantized: "
                  "int8 (per output row), int4 (groups of 32 with a scale each), fp8 (E4M3 with "
                  "a scale per 128 inputs of a row) or mxfp4 (E2M1, groups of 32 with a "
                  "power-of-two scale), or none. Decode streams the weights once per step, so "
                  "fewer bytes per weight is faster. CPU backend")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "int8", "int4", "fp8", "mxfp4"}));
  cmd->add_flag("--quantize-dense", f.quantize_dense,
                "With --quantization: quantize the dense projections too (attention q/k/v/o, "
                "dense and shared-expert MLPs, and the lm_head); routers, norms and the "
                "embedding table stay unquantized");
  cmd->add_option("--backend", f.backend,
                  "Where the model runs: cuda (needs a GPU and a CUDA build), cpu, or auto (cuda "
                  "when a GPU is present, else cpu)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--gpu-memory-utilization", f.gpu_memory_utilization,
                  "CUDA: fraction of the GPU's memory sieve may use; the KV cache gets what "
                  "weights and the largest step's activations leave (--kv-cache-gib is for the "
                  "CPU backend)")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 1.0));
  cmd->add_flag("--enforce-eager", f.enforce_eager,
                "CUDA: run every step eagerly instead of replaying decode steps as CUDA graphs");
  cmd->add_flag("--moe-autotune", f.moe_autotune,
                "CUDA: the first time an MoE layer runs a new shape (token counts bucketed to "
                "powers of two) eagerly, time every expert-product kernel on it and keep the "
                "fastest (without it: a built-in rule)");
  cmd->add_option("--moe-tuning-cache", f.moe_tuning_cache,
                  "CUDA: JSON file of tuned MoE kernel choices for this GPU, read at start and, "
                  "with --moe-autotune, rewritten as new shapes are tuned (choices made on "
                  "another GPU are ignored)");
  cmd->add_option("--expert-parallel-size", f.expert_parallel_size,
                  "Split every MoE layer's experts over N ranks, launched with `mpirun -np N`: "
                  "each rank holds its experts and runs its own sequences, tokens travel by "
                  "all-to-all (MPI on the CPU backend, NCCL on the CUDA backend: one GPU per "
                  "rank, by local rank; steps run eagerly). Experts not divisible by N: the first "
                  "E % N ranks hold one more")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--expert-parallel-overlap", f.expert_parallel_overlap,
                "Run each MoE layer as two micro-batches so that one's all-to-all overlaps the "
                "other's expert compute (every rank must pass the same)");
  cmd->add_option("--distributed-timeout", f.distributed_timeout_s,
                  "Seconds a rank waits for the others in any exchange before it gives up with "
                  "an error (a rank died or hangs)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_placement_flags(cmd, f.placement);
  cmd->add_option("--load-format", f.load_format,
                  "auto/safetensors: read the checkpoint; dummy: only config.json, random "
                  "weights made in memory (the weights `sieve make-checkpoint` writes for it), "
                  "to benchmark real shapes with nothing on disk")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "safetensors", "dummy"}));
  cmd->add_option("--router-skew", f.router_skew,
                  "With --load-format dummy: make the routers' random weights skewed, zipf:S "
                  "(synthetic: the expert of rank r in each layer has its router row scaled by "
                  "r^-S, so a few experts are hot and a long tail cold, as in trained MoE "
                  "models; the README lists what each S gives), or none. Default: what "
                  "config.json's sieve_router_skew says (sieve make-checkpoint --router-skew)");
  cmd->add_option("--record-routing", f.record_routing,
                  "Write the router's choices to FILE, a routing trace (JSON Lines: a header, "
                  "then for every step that runs the model each MoE layer's per-expert token "
                  "counts) for `sieve bench trace --stats` and placement replays. Under mpirun "
                  "the ranks sum their counts every step and rank 0 writes the file. On CUDA, "
                  "recorded steps run eagerly (no CUDA graphs)");
  cmd->add_option("--threads", f.threads, "CPU threads for compute (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--max-num-seqs", f.max_num_seqs, "Sequences running at once")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-num-batched-tokens", f.max_num_batched_tokens,
                  "Tokens per step (prefill chunks and decodes together)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--block-size", f.block_size, "Tokens per KV cache page")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--kv-cache-gib", f.kv_cache_gib, "KV cache memory in GiB (CPU backend)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-model-len", f.max_model_len,
                  "Longest prompt + output (0 = the model's max_position_embeddings)")
      ->capture_default_str();
  cmd->add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", f.enable_prefix_caching,
                "Reuse the KV pages of shared prompt prefixes (on by default)");
  cmd->add_option("--seed", f.seed, "Seeds sampling of requests that bring no seed")
      ->capture_default_str();
}

}  // namespace sieve
