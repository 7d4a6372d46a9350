// sieve-moe-table: the MoE expert block, moe_experts, timed per expert-product variant
// at three model shapes, token counts and two routings, next to the device's copy bandwidth, a
// large dense bf16 GEMM and cuBLAS's grouped GEMM, each variant checked against a plain
// reference. The types every file of the tool shares; main() lives in moe_table.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/bench/moe_table_cases.h"
#include "kernels/cuda/moe.h"

namespace sieve::cuda::moe_table {

// Filled from the flags in one place (moe_table.cpp), validated before any device work.
struct Options {
  std::string out_dir;  // empty: no JSON
  std::vector<const ModelShape*> shapes;
  std::vector<int64_t> tokens = {1, 4, 16, 64, 256, 1024, 4096, 16384};
  std::vector<Routing> routings = {Routing::kUniform, Routing::kZipf};
  int iters = 9;             // timed samples per figure (the median is reported)
  double max_ms = 40;        // skip a variant whose predicted time per call is longer
  double budget_ms = 150;    // device time one figure may take (fewer samples past it, >= 3)
  int64_t ref_tokens = 256;  // tokens the reference computes (evenly spread, first and last)
  uint64_t seed = 6;
};

// The two ceilings, measured once per run on this device.
struct Ceilings {
  std::string device;
  int sm_count = 0;
  int64_t l2_bytes = 0;
  double copy_gbps = 0;     // D2D cudaMemcpyAsync, (read + written bytes) / time, best of several
  double dense_tflops = 0;  // LtGemm bf16 8192^3, median
};

// One timed implementation of one case.
struct Timing {
  std::string name;         // moe_gemm_variant_name, "auto", or "cublas"
  std::string status;       // "ok", "skipped", "unsupported"
  std::string note;         // why skipped; what auto chose
  double predicted_ms = 0;  // the rough model that decides skipping
  double ms = 0;            // median per call
  double rel_err = -1;      // ||out - ref|| / ||ref|| over the reference tokens; -1: not checked
  int64_t nonfinite = 0;    // non-finite outputs over all tokens (poisoned with NaN first)
  bool graph = false;       // timed as replays of a captured CUDA graph
};

struct CaseResult {
  const ModelShape* shape = nullptr;
  int64_t tokens = 0;
  Routing routing = Routing::kUniform;
  std::vector<int32_t> counts;  // [experts] rows per expert (rotation 0)
  int64_t experts_hit = 0;
  int rotations = 1;         // routings relabelled by expert shift, timed in turn (L2 working set)
  int64_t shift = 0;         // rotation r adds r * shift (mod experts) to every expert id
  int64_t ref_tokens = 0;    // tokens checked against the reference
  double bytes = 0;          // experts hit × expert bytes + x read + out written (fp32)
  double flops = 0;          // 2 · tokens · top_k · 3 · hidden · inter
  std::vector<Timing> ours;  // each of kMoeGemmVariants, then auto
  Timing cublas;
  std::string best;  // the fastest of `ours` that passed the check
  double best_ms = 0;
  std::string flag;  // non-empty: a variant above 1e-2 or non-finite
};

inline constexpr double kErrBand = 1e-2;  // bf16 operands: ~1e-3 expected, above 1e-2 is wrong

// Runs one case on the device (moe_table_case.cpp).
struct ExpertWeights;
CaseResult run_case(const Options& opt, const Ceilings& ceil, const ExpertWeights& w,
                    int64_t tokens, Routing routing);

// moe_table_report.cpp
void write_json(const std::string& path, const Options& opt, const Ceilings& ceil,
                const std::vector<CaseResult>& cases);
void print_table(const Ceilings& ceil, const std::vector<CaseResult>& cases);

}  // namespace sieve::cuda::moe_table
