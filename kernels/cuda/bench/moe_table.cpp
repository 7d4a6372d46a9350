// main() of sieve-moe-table: the MoE expert-block table in one run (see kernels/README.md, "MoE
// table"). Flags → Options (validated before any device work), then the two ceilings, then every
// (shape, tokens, routing) case, one shape's weights at a time; a compact table last and every
// figure, with each case's per-expert row counts, in DIR/moe_table.json for tools/gpu/moe_torch.py.
// Without a CUDA device it says so and exits 77; with one that cannot be used, 1.
#include <cuda_runtime_api.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cuda/bench/bench_common.h"
#include "kernels/cuda/bench/moe_table.h"
#include "kernels/cuda/bench/moe_table_timing.h"
#include "kernels/cuda/bench/moe_table_weights.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/gemm.h"

namespace sieve::cuda::moe_table {
namespace {

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Fills `opt` from the command line; returns an exit code when the run should stop there.
int parse_options(int argc, char** argv, Options* opt) {
  CLI::App app{
      "sieve-moe-table: the MoE expert-block table (moe_experts per variant, "
      "cuBLAS grouped GEMM, copy and dense-GEMM ceilings, correctness)"};
  std::string shapes, known, tokens, routings = "uniform,zipf";
  for (const ModelShape& s : kModelShapes) {
    shapes += (shapes.empty() ? "" : ",") + std::string(s.key);
    known += (known.empty() ? "" : ", ") + std::string(s.key);
  }
  app.add_option("--out", opt->out_dir, "write DIR/moe_table.json");
  app.add_option("--shapes", shapes, "comma list of " + known);
  app.add_option("--tokens", tokens, "comma list of token counts (default 1,4,...,16384)");
  app.add_option("--routing", routings, "comma list of uniform, zipf");
  app.add_option("--iters", opt->iters, "timed samples per figure, the median reported")
      ->check(CLI::Range(3, 1000));
  app.add_option("--max-ms", opt->max_ms, "skip a variant predicted slower than this per call");
  app.add_option("--budget-ms", opt->budget_ms, "device time per figure (fewer samples past it)");
  app.add_option("--ref-tokens", opt->ref_tokens, "tokens checked against the reference")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--seed", opt->seed, "routing and data seed");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (const std::string& s : split(shapes)) {
    const ModelShape* shape = find_shape(s);
    if (shape == nullptr) {
      std::fprintf(stderr, "sieve-moe-table: unknown shape '%s' (%s)\n", s.c_str(), known.c_str());
      return 2;
    }
    opt->shapes.push_back(shape);
  }
  if (!tokens.empty()) {
    opt->tokens.clear();
    for (const std::string& t : split(tokens)) {
      const long long n = std::atoll(t.c_str());
      if (n < 1 || n > (1 << 20)) {
        std::fprintf(stderr, "sieve-moe-table: bad token count '%s'\n", t.c_str());
        return 2;
      }
      opt->tokens.push_back(n);
    }
  }
  opt->routings.clear();
  for (const std::string& r : split(routings)) {
    Routing parsed;
    if (!parse_routing(r, &parsed)) {
      std::fprintf(stderr, "sieve-moe-table: unknown routing '%s' (uniform, zipf)\n", r.c_str());
      return 2;
    }
    opt->routings.push_back(parsed);
  }
  if (opt->shapes.empty() || opt->tokens.empty() || opt->routings.empty()) {
    std::fprintf(stderr, "sieve-moe-table: nothing to run\n");
    return 2;
  }
  return -1;
}

// Dense bf16 GEMM rate: LtGemm at 8192³ on random operands, median of several.
double dense_tflops(int iters) {
  const int64_t n = 8192;
  test::DeviceBuffer<uint16_t> x(n * n), w(n * n);
  test::DeviceBuffer<float> y(n * n);
  for (auto [buf, key] : {std::pair{x.data(), 11}, std::pair{w.data(), 12}}) {
    FillParams f;
    f.out = buf;
    f.type = WeightType::kBF16;
    f.n = n * n;
    f.fill.key = kernels::fill_key(6, key);
    f.fill.bound = 1.0f;
    fill_weights(f, nullptr);
  }
  LtGemm gemm;
  const GemmParams p{x.data(), w.data(), y.data(), n, n, n, WeightType::kBF16};
  gemm.run(p, nullptr);  // plan and handle set-up outside the timing
  TimingPlan plan;
  plan.samples = iters;
  const double ms = median_ms(nullptr, plan, [&](int) { gemm.run(p, nullptr); });
  return 2.0 * n * n * n / (ms * 1e-3) / 1e12;
}

Ceilings measure_ceilings(const DeviceInfo& dev, int iters) {
  Ceilings c;
  c.device = dev.name;
  c.sm_count = dev.sm_count;
  int l2 = 0;
  SIEVE_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
  c.l2_bytes = l2;
  c.copy_gbps = bench::copy_gbps();
  c.dense_tflops = dense_tflops(iters);
  return c;
}

}  // namespace
}  // namespace sieve::cuda::moe_table

int main(int argc, char** argv) {
  using namespace sieve::cuda::moe_table;
  Options opt;
  if (const int rc = parse_options(argc, argv, &opt); rc >= 0) return rc;
  const sieve::cuda::DeviceInfo& dev = sieve::cuda::device_info();
  if (!dev.available) return sieve::cuda::exit_without_device(dev, "sieve-moe-table");
  if (!opt.out_dir.empty()) std::filesystem::create_directories(opt.out_dir);

  const Ceilings ceil = measure_ceilings(dev, opt.iters);
  std::printf("device: %s (%d SMs, L2 %.0f MB); copy %.0f GB/s; dense bf16 GEMM %.0f TFLOP/s\n",
              ceil.device.c_str(), ceil.sm_count, ceil.l2_bytes / 1e6, ceil.copy_gbps,
              ceil.dense_tflops);
  std::fflush(stdout);

  std::vector<CaseResult> cases;
  for (const ModelShape* shape : opt.shapes) {
    const ExpertWeights w(*shape, opt.seed);  // freed at the end of the shape
    for (int64_t tokens : opt.tokens) {
      for (Routing r : opt.routings) {
        cases.push_back(run_case(opt, ceil, w, tokens, r));
        const CaseResult& c = cases.back();
        std::printf("done: %s %s tokens %lld: best %s %.1f us%s%s\n", shape->key, routing_name(r),
                    static_cast<long long>(tokens), c.best.empty() ? "-" : c.best.c_str(),
                    c.best_ms * 1e3, c.flag.empty() ? "" : "  FLAG: ", c.flag.c_str());
        std::fflush(stdout);
      }
    }
  }
  if (!opt.out_dir.empty()) write_json(opt.out_dir + "/moe_table.json", opt, ceil, cases);
  print_table(ceil, cases);
  const bool flagged =
      std::any_of(cases.begin(), cases.end(), [](const CaseResult& c) { return !c.flag.empty(); });
  return flagged ? 1 : 0;
}
