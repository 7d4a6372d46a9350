// sieve-cpu-bench: the CPU engine's decode and prefill speed on a real checkpoint, next to the
// machine's memory bandwidth measured in the same run, and — with --quantization — each
// quantized format next to the unquantized model, run alternately in the same window (these
// VMs drift by half within seconds, so only figures taken side by side compare).
//
//   sieve make-checkpoint --preset qwen3-30b-a3b --layers 6 --dtype bf16 --out /tmp/q30b-6l
//   sieve-cpu-bench --model /tmp/q30b-6l --threads 2 --quantization int8,int4 --quantize-dense
#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "engine/backends/cpu_backend.h"
#include "engine/engine.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/triad.h"
#include "models/model_size.h"
#include "tools/bench/engine_timing.h"
#include "tools/sieve/model_loading.h"

namespace sieve {
namespace {

using bench::best_prefill_seconds;
using bench::decode_block_seconds;
using bench::decode_step_seconds;

// Batch-1 decode is timed in blocks of this many steps, each bracketed by triad samples.
constexpr int64_t kStepsPerBlock = 8;
// The bracketing triad: 3 × 64 MiB (twice the L3 of the machines this runs on), best of 3.
constexpr size_t kBracketTriadBytes = size_t{64} << 20;
constexpr int kBracketTriadReps = 3;

struct Spread {
  double mean = 0, lo = 0, hi = 0;
};
Spread spread(const std::vector<double>& v) {
  Spread s;
  if (v.empty()) return s;
  s.lo = *std::min_element(v.begin(), v.end());
  s.hi = *std::max_element(v.begin(), v.end());
  for (double x : v)
    s.mean += x / static_cast<double>(v.size());
  return s;
}

// Bytes the CPU backend holds per row of a [rows, k] matrix in `format`: packed from a sample
// of rows, so the figure is the kernels' own layout, scales included.
// (Packed once per format and k: a model has thousands of matrices but a handful of shapes.)
double bytes_per_row(MatrixFormat format, int64_t k) {
  if (!format.quantized()) return static_cast<double>(k * dtype_size(format.dtype));
  static std::map<std::pair<QuantFormat, int64_t>, double> known;
  auto [it, fresh] = known.try_emplace({format.quant, k}, 0.0);
  if (fresh) {
    constexpr int64_t kRows = 64;
    const std::vector<float> sample(static_cast<size_t>(kRows * k), 0.5f);
    const kernels::PackedMatrix m = kernels::quantize_matrix(sample.data(), kernels::ElemType::kF32,
                                                             kRows, k, cpu_elem_type(format.quant));
    it->second = static_cast<double>(m.bytes) / kRows;
  }
  return it->second;
}

// Weight bytes one batch-1 decode step reads: everything a token touches (attention, router,
// its top_k experts, norms in fp32, the lm_head), plus one embedding row, each as the loaded
// model holds it: --quantization's format, or the checkpoint's own where it was kept quantized.
double decode_bytes_per_step(const LoadedModel& m) {
  const ModelConfig& c = m.model->config();
  const WeightFormat& weights = m.weight_format;
  const Checkpoint* ckpt = m.dir.checkpoint.get();
  // The format a matrix is held in: its role's, unless the checkpoint's quantization was kept.
  auto held = [&](const DeclaredTensor& t, MatrixFormat role) {
    if (!ckpt || !weights.keep_stored || role.quantized()) return role;
    auto stored = ckpt->stored_matrix(t.name);
    if (!stored.ok()) return role;
    const QuantFormat q = stored_quant_format(stored->format);
    if (q == QuantFormat::kNone || !m.backend->holds(q)) return role;
    return MatrixFormat{weights.dtype, q};
  };
  double bytes = 0;
  const double expert_share =
      c.num_experts > 0 ? static_cast<double>(c.top_k) / static_cast<double>(c.num_experts) : 0;
  for (const DeclaredTensor& t : declared_tensors(c)) {
    if (t.shape.size() == 1) {
      bytes += static_cast<double>(t.numel()) * sizeof(float);
      continue;
    }
    // A matrix [n, k]; a stacked one ([experts, ...], gpt-oss) is `count` of them, its biases
    // [experts, n] rows of fp32.
    const bool stacked = t.shape.size() == 3;
    const int64_t count = stacked ? t.shape[0] : 1;
    if (t.init == InitRole::kBias) {
      bytes += expert_share * static_cast<double>(t.numel()) * sizeof(float);
      continue;
    }
    const int64_t a = t.shape[t.shape.size() - 2], b = t.shape.back();
    const int64_t n = t.in_major ? b : a, k = t.in_major ? a : b;
    const double row = bytes_per_row(weights.dtype, k);
    switch (t.use) {
      case ParamUse::kRoutedExpert:
        bytes += expert_share * static_cast<double>(count * n) *
                 bytes_per_row(held(t, weights.expert_matrix()), k);
        break;
      case ParamUse::kTableRow:
        bytes += row;
        break;
      case ParamUse::kTableRowAndHead:
        bytes += row + n * bytes_per_row(weights.dense_matrix(), k);
        break;
      case ParamUse::kEveryToken:
        bytes += n * bytes_per_row(t.init == InitRole::kRouter ? MatrixFormat(weights.dtype)
                                                               : held(t, weights.dense_matrix()),
                                   k);
        break;
    }
  }
  return bytes;
}

// One model under test, and what it measured.
struct Variant {
  std::string label;
  LoadedModel loaded;
  double bytes_per_step = 0;
  std::vector<double> step_secs;  // batch-1 decode, one per block
  std::vector<double> of_triad;   // each block's weight GB/s ÷ the triad around it
  std::vector<double> round_tps;  // batch-1 tok/s of each round
  std::vector<double> tps8;       // batch-8 tok/s, one per round
  std::vector<double> prefill;    // prefill tok/s, one per round
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace
}  // namespace sieve

int main(int argc, char** argv) {
  using namespace sieve;
  std::string model_dir, dtype = "bf16", quantization;
  bool quantize_dense = false;
  int threads = 2, rounds = 2;
  int64_t decode_steps = 32, prefill_len = 512;
  CLI::App app{
      "sieve-cpu-bench: CPU engine decode and prefill speed against the memory bandwidth "
      "measured in the same run; with --quantization, each format against the unquantized "
      "model, alternated in the same window",
      "sieve-cpu-bench"};
  app.add_option("--model", model_dir, "Model directory")->required();
  app.add_option("--dtype", dtype, "Weight dtype: fp32, bf16, auto")->capture_default_str();
  app.add_option("--quantization", quantization,
                 "Comma-separated formats to load beside the unquantized model and compare "
                 "with it: int8, int4, fp8, mxfp4 (as `sieve serve --quantization`)");
  app.add_flag("--quantize-dense", quantize_dense,
               "Quantize the dense projections and the lm_head too (every projection)");
  app.add_option("--threads", threads, "CPU threads")->capture_default_str();
  std::string load_format = "auto";
  app.add_option("--load-format", load_format,
                 "auto: read the checkpoint; dummy: config.json only, random weights in memory")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "safetensors", "dummy"}));
  app.add_option("--decode-steps", decode_steps,
                 "Timed batch-1 decode steps per model and round (in blocks of 8, each between "
                 "two triad samples)")
      ->capture_default_str();
  app.add_option("--rounds", rounds,
                 "Rounds: every model runs once per round, in turn (A B A B), so the ratios "
                 "between them come from the same minutes")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--prefill-tokens", prefill_len, "Prompt length of the prefill test")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<Variant> variants;
  std::vector<std::string> formats{"none"};
  for (const std::string& q : split_list(quantization))
    formats.push_back(q);
  for (const std::string& q : formats) {
    EngineFlags flags;
    flags.dtype = dtype;
    flags.threads = threads;
    flags.load_format = load_format;
    flags.backend = "cpu";  // this benchmark measures the CPU engine against the CPU's bandwidth
    flags.quantization = q;
    flags.quantize_dense = q != "none" && quantize_dense;
    auto loaded = load_engine_model(model_dir, flags);
    if (!loaded.ok()) {
      spdlog::error("{}", loaded.status().message());
      return 1;
    }
    Variant v;
    v.label = loaded->weight_format.describe();
    if (const Checkpoint* ckpt = loaded->dir.checkpoint.get();
        ckpt && ckpt->quantization().quantized() && loaded->weight_format.keep_stored) {
      v.label += ", the checkpoint's " + ckpt->quantization().describe() + " kept";
    }
    v.bytes_per_step = decode_bytes_per_step(*loaded);
    v.loaded = std::move(loaded).value();
    variants.push_back(std::move(v));
  }

  kernels::ThreadPool& pool = *variants[0].loaded.cpu()->pool();
  const kernels::TriadResult triad = kernels::measure_triad(pool);
  EngineOptions base;
  base.max_num_batched_tokens = 4096;
  base.kv_cache_bytes = 1ll << 30;
  kernels::TriadMeter meter(pool, kBracketTriadBytes, true);
  const int64_t blocks = std::max<int64_t>(1, (decode_steps + kStepsPerBlock - 1) / kStepsPerBlock);
  std::vector<double> triads;
  for (int r = 0; r < rounds; ++r) {
    for (Variant& v : variants) {
      Model& model = *v.loaded.model;
      Backend& backend = *v.loaded.backend;
      // Batch 1 in blocks, each compared with the triad taken right before and right after it.
      std::vector<double> bracket;
      const std::vector<double> secs =
          decode_block_seconds(model, backend, base, 1, 16, blocks, kStepsPerBlock,
                               [&] { bracket.push_back(meter.best_gbps(kBracketTriadReps)); });
      double round_secs = 0;
      for (size_t b = 0; b < secs.size(); ++b) {
        const double around = (bracket[b] + bracket[b + 1]) / 2;
        triads.push_back(around);
        v.step_secs.push_back(secs[b]);
        v.of_triad.push_back(v.bytes_per_step / secs[b] / 1e9 / around);
        round_secs += secs[b] / static_cast<double>(secs.size());
      }
      v.round_tps.push_back(1.0 / round_secs);
      v.tps8.push_back(8.0 / decode_step_seconds(model, backend, base, 8, 16, 16));
      v.prefill.push_back(prefill_len / best_prefill_seconds(model, backend, base, prefill_len, 2));
    }
  }

  const Spread tri = spread(triads);
  std::printf(
      "\nsieve-cpu-bench  %s  %d threads, %d rounds (models in turn), triad at start "
      "%.1f GB/s (2 MiB pages), %.1f (4 KiB); around the decode blocks %.1f-%.1f\n",
      model_dir.c_str(), threads, rounds, triad.gbps_huge_pages, triad.gbps_small_pages, tri.lo,
      tri.hi);
  std::printf("  %-44s %-14s %-22s %s\n", "figure", "value", "reference", "ratio (min-max)");
  const Variant& a = variants[0];
  for (const Variant& v : variants) {
    const Spread tps = spread(v.round_tps), ot = spread(v.of_triad), t8 = spread(v.tps8),
                 pf = spread(v.prefill);
    std::printf("  %s weights: %.3f GB read per decode step\n", v.label.c_str(),
                v.bytes_per_step / 1e9);
    std::vector<double> gbps;
    for (double s : v.step_secs)
      gbps.push_back(v.bytes_per_step / s / 1e9);
    std::printf("  %-44s %-14.2f %-22s %.2f (%.2f-%.2f)  (target >= 0.85)\n",
                "  decode b1 weight GB/s / triad (same time)", spread(gbps).mean,
                "triad around each block", ot.mean, ot.lo, ot.hi);
    auto vs_a = [&](const char* what, const Spread& s, const std::vector<double>& mine,
                    const std::vector<double>& theirs) {
      if (&v == &a) {
        std::printf("  %-44s %-14.2f %-22s (%.2f-%.2f)\n", what, s.mean, "", s.lo, s.hi);
        return;
      }
      std::vector<double> ratio;
      for (size_t i = 0; i < mine.size(); ++i)
        ratio.push_back(mine[i] / theirs[i]);
      const Spread rs = spread(ratio);
      std::printf("  %-44s %-14.2f %-22s %.2f (%.2f-%.2f)\n", what, s.mean,
                  (a.label + " same rounds").c_str(), rs.mean, rs.lo, rs.hi);
    };
    vs_a("  decode b1 tok/s", tps, v.round_tps, a.round_tps);
    vs_a("  decode b8 tok/s", t8, v.tps8, a.tps8);
    vs_a("  prefill tok/s", pf, v.prefill, a.prefill);
  }
  return 0;
}
