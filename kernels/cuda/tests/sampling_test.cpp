// kernels/cuda/sampling.h against plain host references written here (engine/sampler.cpp's
// semantics, not linked): argmax with ties, penalties, reproducibility per (seed, offset),
// degenerate filters, the kept set at full vocabulary sizes, a chi-square test of the draw
// distribution, and log_softmax_at.
#include "kernels/cuda/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/tests/device_buffer.h"

namespace sieve::cuda::test {
namespace {

RowSampling row_params(float temperature, int32_t top_k = 0, float top_p = 1.f, float min_p = 0.f,
                       uint64_t seed = 1, uint64_t offset = 0) {
  RowSampling p{};
  p.temperature = temperature;
  p.top_p = top_p;
  p.min_p = min_p;
  p.presence_penalty = 0.f;
  p.frequency_penalty = 0.f;
  p.repetition_penalty = 1.f;
  p.top_k = top_k;
  p.seed = seed;
  p.offset = offset;
  return p;
}

std::vector<float> random_logits(int64_t rows, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-10.f, 10.f);
  std::vector<float> x(static_cast<size_t>(rows * vocab));
  for (float& v : x)
    v = dist(rng);
  return x;
}

int32_t host_argmax(const float* x, int64_t vocab) {
  int32_t best = 0;
  for (int32_t i = 1; i < vocab; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

// engine/sampler.cpp apply_penalties.
void host_penalties(float* x, int64_t vocab, const RowSampling& p,
                    const std::vector<int32_t>& prompt, const std::vector<int32_t>& output) {
  if (p.repetition_penalty != 1.f) {
    std::vector<bool> seen(vocab, false);
    for (const auto* tokens : {&prompt, &output}) {
      for (int32_t t : *tokens) {
        if (t < 0 || t >= vocab || seen[t]) continue;
        seen[t] = true;
        x[t] = x[t] > 0 ? x[t] / p.repetition_penalty : x[t] * p.repetition_penalty;
      }
    }
  }
  if (p.frequency_penalty != 0.f || p.presence_penalty != 0.f) {
    std::vector<int32_t> sorted = output;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size();) {
      size_t j = i;
      while (j < sorted.size() && sorted[j] == sorted[i])
        ++j;
      const int32_t t = sorted[i];
      if (t >= 0 && t < vocab) {
        const float sub = p.frequency_penalty * static_cast<float>(j - i) + p.presence_penalty;
        x[t] -= sub;
      }
      i = j;
    }
  }
}

// engine/sampler.cpp sample_token's distribution: probability per id (0 where cut).
std::vector<double> host_filtered(const float* x, int64_t vocab, const RowSampling& p) {
  std::vector<double> out(static_cast<size_t>(vocab), 0.0);
  if (p.temperature <= 0.f || p.top_k == 1) {
    out[host_argmax(x, vocab)] = 1.0;
    return out;
  }
  std::vector<int32_t> ids(static_cast<size_t>(vocab));
  std::iota(ids.begin(), ids.end(), 0);
  auto cmp = [&](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
  if (p.top_k > 0 && p.top_k < vocab) {
    std::partial_sort(ids.begin(), ids.begin() + p.top_k, ids.end(), cmp);
    ids.resize(p.top_k);
  } else if (p.top_p < 1.f) {
    std::sort(ids.begin(), ids.end(), cmp);
  }
  const double top = x[host_argmax(x, vocab)];
  std::vector<double> prob(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    prob[i] = std::exp((x[ids[i]] - top) / static_cast<double>(p.temperature));
    if (p.min_p > 0.f && prob[i] < p.min_p) prob[i] = 0.0;
  }
  size_t keep = ids.size();
  if (p.top_p < 1.f) {
    const double sum = std::accumulate(prob.begin(), prob.end(), 0.0);
    double mass = 0;
    for (size_t i = 0; i < keep; ++i) {
      mass += prob[i] / sum;
      if (mass >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  const double sum = std::accumulate(prob.begin(), prob.begin() + keep, 0.0);
  for (size_t i = 0; i < keep; ++i)
    out[ids[i]] = prob[i] / sum;
  return out;
}

struct Penalties {
  std::vector<std::vector<int32_t>> prompt, output;  // per row
};

// Runs `sample` on a batch; `logits` is updated with what the device left (penalties in place).
std::vector<int32_t> run_sample(std::vector<float>& logits, int64_t rows, int64_t vocab,
                                const std::vector<RowSampling>& params,
                                const Penalties* pen = nullptr) {
  auto d_logits = DeviceBuffer<float>::from_host(logits);
  auto d_params = DeviceBuffer<RowSampling>::from_host(params);
  DeviceBuffer<int32_t> d_out(static_cast<size_t>(rows));
  DeviceBuffer<uint8_t> d_ws(sample_workspace_bytes(rows, vocab));
  DeviceBuffer<int32_t> d_pt, d_po, d_ot, d_oo;
  SampleParams sp;
  sp.logits = d_logits.data();
  sp.rows = rows;
  sp.vocab = vocab;
  sp.row_params = d_params.data();
  sp.sampled = d_out.data();
  if (pen != nullptr) {
    std::vector<int32_t> pt, po{0}, ot, oo{0};
    for (int64_t r = 0; r < rows; ++r) {
      pt.insert(pt.end(), pen->prompt[r].begin(), pen->prompt[r].end());
      po.push_back(static_cast<int32_t>(pt.size()));
      ot.insert(ot.end(), pen->output[r].begin(), pen->output[r].end());
      oo.push_back(static_cast<int32_t>(ot.size()));
    }
    pt.push_back(0);  // never empty: a valid device pointer even when no row has tokens
    ot.push_back(0);
    d_pt = DeviceBuffer<int32_t>::from_host(pt);
    d_po = DeviceBuffer<int32_t>::from_host(po);
    d_ot = DeviceBuffer<int32_t>::from_host(ot);
    d_oo = DeviceBuffer<int32_t>::from_host(oo);
    sp.prompt_tokens = d_pt.data();
    sp.prompt_offsets = d_po.data();
    sp.output_tokens = d_ot.data();
    sp.output_offsets = d_oo.data();
    sp.workspace = d_ws.data();
    sp.workspace_bytes = d_ws.size();
  }
  sample(sp, nullptr);
  std::vector<int32_t> out = d_out.to_host();
  logits = d_logits.to_host();
  return out;
}

std::vector<int32_t> run_argmax(const std::vector<float>& logits, int64_t rows, int64_t vocab) {
  auto d_logits = DeviceBuffer<float>::from_host(logits);
  DeviceBuffer<int32_t> d_out(static_cast<size_t>(rows));
  argmax(Logits{d_logits.data(), rows, vocab}, d_out.data(), nullptr);
  return d_out.to_host();
}

// Puts ties at the row maximum: `count` ids (random) get the value of the row's max.
std::vector<std::vector<int32_t>> add_max_ties(std::vector<float>& x, int64_t rows, int64_t vocab,
                                               int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> tied(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * vocab;
    const float mx = row[host_argmax(row, vocab)] + 1.f;
    for (int c = 0; c < count && c < vocab; ++c) {
      const auto id = static_cast<int32_t>(rng() % vocab);
      row[id] = mx;
    }
    for (int32_t i = 0; i < vocab; ++i) {
      if (row[i] == mx) tied[r].push_back(i);
    }
  }
  return tied;
}

const int64_t kVocabs[] = {1, 7, 151936, 262144};
const int64_t kRows[] = {1, 256};

TEST(CudaSampling, PhiloxKnownAnswers) {  // Random123's kat_vectors for philox4x32_10
  Philox4 r = philox4x32_10(Philox4{{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
  r = philox4x32_10(Philox4{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u,
                    0x299f31d0u);
  EXPECT_EQ(r.v[0], 0xd16cfe09u);
  EXPECT_EQ(r.v[1], 0x94fdccebu);
  EXPECT_EQ(r.v[2], 0x5001e420u);
  EXPECT_EQ(r.v[3], 0x24126ea1u);
}

TEST(CudaSampling, ArgmaxAndGreedyTiesToLowerId) {
  for (int64_t vocab : kVocabs) {
    for (int64_t rows : kRows) {
      SCOPED_TRACE("vocab " + std::to_string(vocab) + " rows " + std::to_string(rows));
      std::vector<float> x = random_logits(rows, vocab, 11);
      const auto tied = add_max_ties(x, rows, vocab, 3, 12);
      const std::vector<int32_t> am = run_argmax(x, rows, vocab);
      std::vector<RowSampling> params(rows, row_params(0.f));
      std::vector<float> y = x;
      const std::vector<int32_t> greedy = run_sample(y, rows, vocab, params);
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_EQ(am[r], tied[r].front()) << "row " << r;
        ASSERT_EQ(am[r], host_argmax(x.data() + r * vocab, vocab));
        ASSERT_EQ(greedy[r], am[r]) << "row " << r;
      }
    }
  }
}

TEST(CudaSampling, PenaltiesMatchHostLoop) {
  for (int64_t vocab : {int64_t{1000}, int64_t{151936}}) {
    const int64_t rows = 5;
    std::vector<float> x = random_logits(rows, vocab, 21);
    std::mt19937 rng(22);
    Penalties pen;
    std::vector<RowSampling> params;
    for (int64_t r = 0; r < rows; ++r) {
      RowSampling p = row_params(0.f);
      if (r == 0 || r == 2 || r == 4) p.repetition_penalty = r == 4 ? 0.8f : 1.3f;
      if (r == 1 || r == 2 || r == 4) p.frequency_penalty = 0.5f, p.presence_penalty = -0.3f;
      params.push_back(p);  // row 3: all off
      const int n_prompt = r == 4 ? 5000 : 300, n_output = r == 4 ? 3000 : 200;
      std::vector<int32_t> prompt, output;
      for (int i = 0; i < n_prompt; ++i)
        prompt.push_back(static_cast<int32_t>(rng() % 400));  // many repeats
      for (int i = 0; i < n_output; ++i)
        output.push_back(static_cast<int32_t>(rng() % 300));
      prompt.push_back(-1);  // ignored, as on the host
      output.push_back(static_cast<int32_t>(vocab + 3));
      pen.prompt.push_back(prompt);
      pen.output.push_back(output);
    }
    std::vector<float> expected = x;
    for (int64_t r = 0; r < rows; ++r)
      host_penalties(expected.data() + r * vocab, vocab, params[r], pen.prompt[r], pen.output[r]);
    std::vector<float> got = x;
    const std::vector<int32_t> ids = run_sample(got, rows, vocab, params, &pen);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < vocab; ++i) {
        ASSERT_FLOAT_EQ(got[r * vocab + i], expected[r * vocab + i])
            << "vocab " << vocab << " row " << r << " id " << i;
      }
      EXPECT_EQ(ids[r], host_argmax(expected.data() + r * vocab, vocab));
    }
  }
}

TEST(CudaSampling, SameSeedAndOffsetSameTokenInAnyBatchPosition) {
  for (int64_t vocab : {int64_t{7}, int64_t{151936}}) {
    const int64_t rows = 256;
    std::vector<float> x = random_logits(rows, vocab, 31);
    std::vector<RowSampling> params;
    for (int64_t r = 0; r < rows; ++r) {
      params.push_back(row_params(1.f, r % 3 == 0 ? 40 : 0, r % 2 ? 0.9f : 1.f, 0.f, 1000 + r % 5,
                                  static_cast<uint64_t>(r) * 7));
    }
    std::vector<float> a = x, b = x;
    const std::vector<int32_t> first = run_sample(a, rows, vocab, params);
    const std::vector<int32_t> second = run_sample(b, rows, vocab, params);
    EXPECT_EQ(first, second);
    // Reverse the batch: each request keeps its draw.
    std::vector<float> rx(x.size());
    std::vector<RowSampling> rp(params.rbegin(), params.rend());
    for (int64_t r = 0; r < rows; ++r) {
      std::copy_n(x.data() + (rows - 1 - r) * vocab, vocab, rx.data() + r * vocab);
    }
    const std::vector<int32_t> reversed = run_sample(rx, rows, vocab, rp);
    for (int64_t r = 0; r < rows; ++r)
      ASSERT_EQ(reversed[rows - 1 - r], first[r]) << "row " << r;
    // And alone.
    std::vector<float> one(x.begin() + 5 * vocab, x.begin() + 6 * vocab);
    EXPECT_EQ(run_sample(one, 1, vocab, {params[5]})[0], first[5]);
  }
}

TEST(CudaSampling, DegenerateFiltersGiveArgmax) {
  for (int64_t vocab : kVocabs) {
    for (int64_t rows : kRows) {
      SCOPED_TRACE("vocab " + std::to_string(vocab) + " rows " + std::to_string(rows));
      std::vector<float> x = random_logits(rows, vocab, 41);
      const auto tied = add_max_ties(x, rows, vocab, 3, 42);
      for (const RowSampling base :
           {row_params(1.f, 1), row_params(0.7f, 0, 1e-6f), row_params(1.5f, 10, 1e-6f)}) {
        std::vector<RowSampling> params;
        for (int64_t r = 0; r < rows; ++r) {
          RowSampling p = base;
          p.offset = static_cast<uint64_t>(r);
          params.push_back(p);
        }
        std::vector<float> y = x;
        const std::vector<int32_t> ids = run_sample(y, rows, vocab, params);
        for (int64_t r = 0; r < rows; ++r)
          ASSERT_EQ(ids[r], tied[r].front()) << "row " << r;
      }
      // min_p = 1: only the tokens tied at the maximum survive.
      std::vector<RowSampling> params;
      for (int64_t r = 0; r < rows; ++r)
        params.push_back(row_params(1.f, 0, 1.f, 1.f, 5, static_cast<uint64_t>(r)));
      std::vector<float> y = x;
      const std::vector<int32_t> ids = run_sample(y, rows, vocab, params);
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_TRUE(std::count(tied[r].begin(), tied[r].end(), ids[r]) == 1) << "row " << r;
      }
    }
  }
}

TEST(CudaSampling, DrawsStayInHostKeptSet) {
  for (int64_t vocab : kVocabs) {
    for (int64_t rows : kRows) {
      SCOPED_TRACE("vocab " + std::to_string(vocab) + " rows " + std::to_string(rows));
      std::vector<float> x = random_logits(rows, vocab, 51);
      for (const RowSampling base :
           {row_params(0.8f, 50, 0.9f), row_params(1.f, 0, 0.5f), row_params(1.f, 0, 1.f, 0.05f),
            row_params(2.f, 1000, 1.f, 0.01f), row_params(1.f)}) {
        std::vector<RowSampling> params;
        for (int64_t r = 0; r < rows; ++r) {
          RowSampling p = base;
          p.offset = static_cast<uint64_t>(r) * 3 + 1;
          params.push_back(p);
        }
        std::vector<float> y = x;
        const std::vector<int32_t> ids = run_sample(y, rows, vocab, params);
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_TRUE(ids[r] >= 0 && ids[r] < vocab);
          const std::vector<double> kept = host_filtered(x.data() + r * vocab, vocab, params[r]);
          ASSERT_GT(kept[ids[r]], 0.0) << "row " << r << " id " << ids[r] << " top_k " << base.top_k
                                       << " top_p " << base.top_p;
        }
      }
    }
  }
}

TEST(CudaSampling, EmpiricalDistributionMatchesHostChiSquare) {
  const int64_t vocab = 8, draws = 20000;
  const std::vector<float> logits = {1.0f, 2.2f, -0.5f, 1.7f, 0.3f, 2.2f, -1.4f, 0.9f};
  for (const RowSampling base :
       {row_params(1.f), row_params(0.7f, 3), row_params(1.3f, 0, 0.8f),
        row_params(1.f, 0, 1.f, 0.2f), row_params(0.9f, 5, 0.9f, 0.1f), row_params(2.f, 6),
        row_params(1.f, 0, 0.2f)}) {  // the last keeps one of the two tied tokens: id 1
    SCOPED_TRACE("T " + std::to_string(base.temperature) + " top_k " + std::to_string(base.top_k) +
                 " top_p " + std::to_string(base.top_p) + " min_p " + std::to_string(base.min_p));
    std::vector<float> x;
    std::vector<RowSampling> params;
    for (int64_t r = 0; r < draws; ++r) {
      x.insert(x.end(), logits.begin(), logits.end());
      RowSampling p = base;
      p.seed = 77;
      p.offset = static_cast<uint64_t>(r);
      params.push_back(p);
    }
    const std::vector<int32_t> ids = run_sample(x, draws, vocab, params);
    const std::vector<double> expected = host_filtered(logits.data(), vocab, base);
    std::vector<int64_t> seen(vocab, 0);
    for (int32_t id : ids) {
      ASSERT_TRUE(id >= 0 && id < vocab);
      ++seen[id];
    }
    double chi2 = 0;
    int kept = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      if (expected[i] == 0.0) {
        EXPECT_EQ(seen[i], 0) << "id " << i << " is cut on the host";
        continue;
      }
      ++kept;
      const double e = expected[i] * draws;
      chi2 += (seen[i] - e) * (seen[i] - e) / e;
    }
    // χ² with kept - 1 ≤ 7 degrees of freedom: 35 is beyond its 1e-5 quantile (29.9 at 7).
    EXPECT_LT(chi2, 35.0) << "kept " << kept;
  }
}

TEST(CudaSampling, LogSoftmaxAtMatchesHost) {
  for (int64_t vocab : kVocabs) {
    for (int64_t rows : kRows) {
      const std::vector<float> x = random_logits(rows, vocab, 61);
      std::vector<int32_t> ids;
      std::mt19937 rng(62);
      for (int64_t r = 0; r < rows; ++r)
        ids.push_back(static_cast<int32_t>(rng() % vocab));
      auto d_x = DeviceBuffer<float>::from_host(x);
      auto d_ids = DeviceBuffer<int32_t>::from_host(ids);
      DeviceBuffer<float> d_out(static_cast<size_t>(rows));
      log_softmax_at(Logits{d_x.data(), rows, vocab}, d_ids.data(), d_out.data(), nullptr);
      const std::vector<float> got = d_out.to_host();
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = x.data() + r * vocab;
        const double mx = row[host_argmax(row, vocab)];
        double s = 0;
        for (int64_t i = 0; i < vocab; ++i)
          s += std::exp(row[i] - mx);
        const double want = row[ids[r]] - mx - std::log(s);
        ASSERT_NEAR(got[r], want, 1e-4 + 1e-6 * std::abs(want))
            << "vocab " << vocab << " row " << r;
      }
    }
  }
}

}  // namespace
}  // namespace sieve::cuda::test
