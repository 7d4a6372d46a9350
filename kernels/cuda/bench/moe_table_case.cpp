// One case of sieve-moe-table: routing drawn, reference computed, then each expert-product
// variant of moe_experts and the cuBLAS baseline checked (outputs poisoned with NaN first) and
// timed. Variants predicted to take more than --max-ms per call are skipped and say so.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "kernels/cuda/bench/moe_table.h"
#include "kernels/cuda/bench/moe_table_cublas.h"
#include "kernels/cuda/bench/moe_table_kernels.h"
#include "kernels/cuda/bench/moe_table_timing.h"
#include "kernels/cuda/bench/moe_table_weights.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/random_fill.h"

namespace sieve::cuda::moe_table {
namespace {

using test::DeviceBuffer;

// Rough per-call time, only to skip hopeless variants and size the sample counts: the tensor
// cores at half the dense rate or the copy bandwidth, whichever binds; the fp32 CUDA-core
// kernel at ~25 TFLOP/s; the skinny kernel streams each expert's weights once per 8 rows.
double predict_ms(MoeGemmVariant v, const CaseResult& c, const Ceilings& ceil) {
  const ModelShape& s = *c.shape;
  const double copy = ceil.copy_gbps * 1e9, act_bytes = 2.0 * c.tokens * s.hidden * 4;
  const double launch_s = 20e-6;
  switch (v) {
    case MoeGemmVariant::kGrouped:
      return 1e3 * (c.flops / 25e12 + c.bytes / copy + launch_s);
    case MoeGemmVariant::kSkinny: {
      double passes = 0;
      for (int32_t n : c.counts)
        passes += (n + kMoeSkinnyRows - 1) / kMoeSkinnyRows;
      return 1e3 * (passes * expert_bytes(s) / copy + act_bytes / copy + launch_s);
    }
    default:
      return 1e3 *
             (std::max(c.flops / (0.5 * ceil.dense_tflops * 1e12), c.bytes / copy) + launch_s);
  }
}

void poison(void* p, size_t bytes, cudaStream_t stream) {
  SIEVE_CUDA_CHECK(cudaMemsetAsync(p, 0xff, bytes, stream));  // NaN in fp32 and bf16
}

std::string format_ms(double ms) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "predicted %.0f ms per call > --max-ms", ms);
  return buf;
}

// What every run of the case shares on the device.
struct CaseBuffers {
  DeviceBuffer<float> x, out, weights, ref_act, ref_out;
  DeviceBuffer<int32_t> samples;
  std::vector<DeviceBuffer<int32_t>> ids;  // [rotations], each [tokens, top_k]
  DeviceBuffer<double> scratch;
};

}  // namespace

CaseResult run_case(const Options& opt, const Ceilings& ceil, const ExpertWeights& w,
                    int64_t tokens, Routing routing) {
  const ModelShape& s = w.shape;
  CaseResult c;
  c.shape = &s;
  c.tokens = tokens;
  c.routing = routing;
  const RoutingSet rs = make_routing(s, tokens, routing, opt.seed);
  c.counts = rs.counts;
  c.experts_hit = rs.experts_hit;
  c.bytes = c.experts_hit * expert_bytes(s) + 2.0 * tokens * s.hidden * 4;
  c.flops = 2.0 * tokens * s.top_k * 3 * s.hidden * s.inter;
  // Working sets that fit a few times in L2 would be timed from L2 on repeats: cycle through
  // relabelled routings (the same group sizes on other experts) so each call streams new weights.
  const double l2 = static_cast<double>(ceil.l2_bytes);
  c.rotations = c.bytes < 3 * l2 ? static_cast<int>(std::ceil(3 * l2 / c.bytes)) : 1;
  c.rotations = static_cast<int>(std::min<int64_t>({c.rotations, 8, s.experts}));
  c.shift = s.experts / c.rotations;

  cudaStream_t stream;
  SIEVE_CUDA_CHECK(cudaStreamCreate(&stream));
  CaseBuffers b;
  b.x = DeviceBuffer<float>(tokens * s.hidden);
  fill_activations(b.x.data(), tokens * s.hidden, kernels::fill_key(opt.seed, 3 + tokens));
  b.out = DeviceBuffer<float>(tokens * s.hidden);
  b.weights = DeviceBuffer<float>::from_host(rs.weights);
  for (int r = 0; r < c.rotations; ++r)
    b.ids.push_back(
        DeviceBuffer<int32_t>::from_host(shift_experts(rs.ids, r * c.shift, s.experts)));
  b.scratch = DeviceBuffer<double>(3);

  // The reference on rotation 0, on up to --ref-tokens tokens.
  const std::vector<int32_t> samples = sample_tokens(tokens, opt.ref_tokens);
  c.ref_tokens = static_cast<int64_t>(samples.size());
  b.samples = DeviceBuffer<int32_t>::from_host(samples);
  b.ref_act = DeviceBuffer<float>(c.ref_tokens * s.top_k * s.inter);
  b.ref_out = DeviceBuffer<float>(c.ref_tokens * s.hidden);
  MoeReferenceParams rp;
  rp.x = b.x.data();
  rp.topk_ids = b.ids[0].data();
  rp.topk_weights = b.weights.data();
  rp.gate_up = w.gate_up_ptrs.data();
  rp.down = w.down_ptrs.data();
  rp.tokens = b.samples.data();
  rp.act = b.ref_act.data();
  rp.out = b.ref_out.data();
  rp.samples = c.ref_tokens;
  rp.top_k = s.top_k;
  rp.hidden = s.hidden;
  rp.inter = s.inter;
  moe_reference(rp, stream);
  CompareParams cp;
  cp.out = b.out.data();
  cp.ref = b.ref_out.data();
  cp.tokens = b.samples.data();
  cp.tokens_total = tokens;
  cp.samples = c.ref_tokens;
  cp.hidden = s.hidden;
  cp.scratch = b.scratch.data();
  const size_t out_bytes = b.out.size() * sizeof(float);

  // --- ours: every variant, then auto.
  {
    const size_t ws_bytes = moe_workspace_bytes(tokens, s.top_k, s.experts, s.hidden, s.inter);
    DeviceBuffer<char> ws(ws_bytes);
    MoeParams p;
    p.x = b.x.data();
    p.topk_ids = b.ids[0].data();
    p.topk_weights = b.weights.data();
    p.gate_up = w.gate_up_ptrs.data();
    p.down = w.down_ptrs.data();
    p.w_type = WeightType::kBF16;
    p.bf16_activations = true;  // as the CUDA backend runs every variant
    p.out = b.out.data();
    p.tokens = tokens;
    p.top_k = s.top_k;
    p.num_experts = s.experts;
    p.hidden = s.hidden;
    p.inter = s.inter;
    p.workspace = ws.data();
    p.workspace_bytes = ws_bytes;

    std::vector<MoeGemmVariant> variants(std::begin(kMoeGemmVariants), std::end(kMoeGemmVariants));
    variants.push_back(MoeGemmVariant::kAuto);
    for (MoeGemmVariant v : variants) {
      Timing t;
      t.name = moe_gemm_variant_name(v);
      MoeGemmVariant runs = v;
      if (v == MoeGemmVariant::kAuto) {
        runs = moe_choose_gemm(tokens * s.top_k, s.experts, s.hidden, s.inter, WeightType::kBF16);
        t.note = std::string("rule: ") + moe_gemm_variant_name(runs);
      }
      if (!moe_gemm_variant_supported(v, s.hidden, s.inter, WeightType::kBF16)) {
        t.status = "unsupported";
        c.ours.push_back(t);
        continue;
      }
      t.predicted_ms = predict_ms(runs, c, ceil);
      if (t.predicted_ms > opt.max_ms) {
        t.status = "skipped";
        t.note += (t.note.empty() ? "" : "; ") + format_ms(t.predicted_ms);
        c.ours.push_back(t);
        continue;
      }
      p.gemm = v;
      p.topk_ids = b.ids[0].data();
      poison(b.out.data(), out_bytes, stream);
      moe_experts(p, stream);  // also the eager call before any graph capture
      const ErrorStats first = compare_to_reference(cp, stream);
      const TimingPlan plan =
          plan_timing(t.predicted_ms, opt.iters, opt.budget_ms, c.rotations, /*allow_graph=*/true);
      t.graph = plan.graph;
      t.ms = median_ms(stream, plan, [&](int rot) {
        p.topk_ids = b.ids[rot].data();
        moe_experts(p, stream);
      });
      // Once more on rotation 0 after all the repeats: the result must not have moved.
      p.topk_ids = b.ids[0].data();
      moe_experts(p, stream);
      const ErrorStats again = compare_to_reference(cp, stream);
      t.rel_err = std::isnan(first.rel_err) || std::isnan(again.rel_err)
                      ? NAN
                      : std::max(first.rel_err, again.rel_err);
      t.nonfinite = std::max(first.nonfinite, again.nonfinite);
      t.status = "ok";
      c.ours.push_back(t);
    }
  }

  // --- cuBLAS grouped GEMM on the same routing, from rows already grouped by expert.
  {
    Timing& t = c.cublas;
    t.name = "cublas";
    t.predicted_ms = predict_ms(MoeGemmVariant::kTensorCore, c, ceil);
    if (t.predicted_ms > opt.max_ms) {
      t.status = "skipped";
      t.note = format_ms(t.predicted_ms);
    } else {
      const int64_t rows = tokens * s.top_k;
      DeviceBuffer<int32_t> counts(s.experts), offsets(s.experts + 1), sorted(rows), inverse(rows);
      DeviceBuffer<uint16_t> xs(rows * s.hidden), gu(rows * 2 * s.inter), act(rows * s.inter),
          y(rows * s.hidden);
      // x grouped by expert (rotation 0) and rounded to bf16, by our align and permute.
      MoeAlignParams al;
      al.topk_ids = b.ids[0].data();
      al.counts = counts.data();
      al.offsets = offsets.data();
      al.sorted_rows = sorted.data();
      al.inverse = inverse.data();
      al.tokens = tokens;
      al.top_k = s.top_k;
      al.num_experts = s.experts;
      moe_align(al, stream);
      MoePermuteParams pe;
      pe.x = b.x.data();
      pe.sorted_rows = sorted.data();
      pe.x_sorted_bf16 = xs.data();
      pe.tokens = tokens;
      pe.top_k = s.top_k;
      pe.hidden = s.hidden;
      moe_permute(pe, stream);
      CublasMoeBuffers cb;
      cb.x_sorted = xs.data();
      cb.gate_up = gu.data();
      cb.act = act.data();
      cb.y = y.data();
      cb.gate_up_w = w.gate_up.data();
      cb.down_w = w.down.data();
      cb.hidden = s.hidden;
      cb.inter = s.inter;
      std::vector<CublasGroupedMoe> rot;
      for (int r = 0; r < c.rotations; ++r)
        rot.emplace_back(cb, shift_counts(c.counts, r * c.shift));
      CublasHandle handle;

      // Check: y back to fp32, combined by our unpermute into out, against the reference.
      poison(y.data(), y.size() * 2, stream);
      poison(b.out.data(), out_bytes, stream);
      rot[0].run(handle, stream);
      {
        DeviceBuffer<float> y32(rows * s.hidden);
        bf16_to_f32(y.data(), y32.data(), rows * s.hidden, stream);
        MoeUnpermuteParams un;
        un.y_sorted = y32.data();
        un.inverse = inverse.data();
        un.topk_weights = b.weights.data();
        un.out = b.out.data();
        un.tokens = tokens;
        un.top_k = s.top_k;
        un.hidden = s.hidden;
        moe_unpermute(un, stream);
        const ErrorStats e = compare_to_reference(cp, stream);
        t.rel_err = e.rel_err;
        t.nonfinite = e.nonfinite;
      }
      const TimingPlan plan = plan_timing(t.predicted_ms, opt.iters, opt.budget_ms, c.rotations,
                                          /*allow_graph=*/false);
      t.ms = median_ms(stream, plan, [&](int r) { rot[r].run(handle, stream); });
      t.status = "ok";
    }
  }
  SIEVE_CUDA_CHECK(cudaStreamSynchronize(stream));
  SIEVE_CUDA_CHECK(cudaStreamDestroy(stream));

  // Best of the pinned variants that passed; a flag for any figure out of the bf16 band.
  auto bad = [](const Timing& t) {
    return t.status == "ok" && (!(t.rel_err <= kErrBand) || t.nonfinite > 0);
  };
  for (const Timing& t : c.ours) {
    if (t.name != "auto" && t.status == "ok" && !bad(t) && (c.best.empty() || t.ms < c.best_ms)) {
      c.best = t.name;
      c.best_ms = t.ms;
    }
  }
  std::vector<const Timing*> all;
  for (const Timing& t : c.ours)
    all.push_back(&t);
  all.push_back(&c.cublas);
  for (const Timing* t : all) {
    if (!bad(*t)) continue;
    char buf[128];
    std::snprintf(buf, sizeof(buf), "%s%s err %.2g nonfinite %lld", c.flag.empty() ? "" : "; ",
                  t->name.c_str(), t->rel_err, static_cast<long long>(t->nonfinite));
    c.flag += buf;
  }
  return c;
}

}  // namespace sieve::cuda::moe_table
