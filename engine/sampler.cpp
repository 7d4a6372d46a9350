#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "kernels/cpu/ops.h"

namespace sieve {

bool has_penalties(const SamplingParams& p) {
  return p.presence_penalty != 0.f || p.frequency_penalty != 0.f || p.repetition_penalty != 1.f;
}

void apply_penalties(std::span<float> logits, const SamplingParams& p,
                     std::span<const int32_t> prompt, std::span<const int32_t> output) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  if (p.repetition_penalty != 1.f) {
    std::vector<bool> seen(vocab, false);
    for (auto tokens : {prompt, output}) {
      for (int32_t t : tokens) {
        if (t < 0 || t >= vocab || seen[t]) continue;
        seen[t] = true;
        float& l = logits[t];
        l = l > 0 ? l / p.repetition_penalty : l * p.repetition_penalty;
      }
    }
  }
  if (p.frequency_penalty != 0.f || p.presence_penalty != 0.f) {
    std::vector<int32_t> sorted(output.begin(), output.end());
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size();) {
      size_t j = i;
      while (j < sorted.size() && sorted[j] == sorted[i])
        ++j;
      const int32_t t = sorted[i];
      if (t >= 0 && t < vocab) {
        logits[t] -= p.frequency_penalty * static_cast<float>(j - i) + p.presence_penalty;
      }
      i = j;
    }
  }
}

namespace {

// log Σ exp(logits), computed in double with the maximum subtracted.
double log_sum_exp(std::span<const float> logits) {
  const float mx = *std::max_element(logits.begin(), logits.end());
  double s = 0;
  for (float v : logits)
    s += std::exp(static_cast<double>(v) - mx);
  return mx + std::log(s);
}

bool more_likely(std::span<const float> logits, int32_t a, int32_t b) {
  return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
}

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (int32_t i = 1; i < static_cast<int32_t>(logits.size()); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

}  // namespace

std::vector<TokenLogprob> token_logprobs(std::span<const float> logits, int32_t chosen,
                                         int64_t top_n) {
  const double lse = log_sum_exp(logits);
  auto lp = [&](int32_t t) { return static_cast<float>(logits[t] - lse); };
  int64_t chosen_rank = 1;
  for (int32_t t = 0; t < static_cast<int32_t>(logits.size()); ++t) {
    if (more_likely(logits, t, chosen)) ++chosen_rank;
  }
  std::vector<TokenLogprob> out = {{chosen, lp(chosen), chosen_rank}};
  if (top_n <= 0) return out;
  const int64_t n = std::min<int64_t>(top_n + 1, static_cast<int64_t>(logits.size()));
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + n, ids.end(),
                    [&](int32_t a, int32_t b) { return more_likely(logits, a, b); });
  for (int64_t i = 0; i < n && static_cast<int64_t>(out.size()) <= top_n; ++i) {
    if (ids[i] != chosen) out.push_back({ids[i], lp(ids[i]), i + 1});
  }
  return out;
}

int32_t sample_token(std::span<const float> logits, const SamplingParams& p, std::mt19937_64& rng) {
  if (p.temperature == 0.f || p.top_k == 1) return argmax(logits);
  const int64_t vocab = static_cast<int64_t>(logits.size());
  const float top_logit = logits[argmax(logits)];
  if (!(p.top_k > 0 && p.top_k < vocab) && !(p.top_p < 1.f)) {
    // Plain sampling (optionally min_p): one vectorised pass for the weights and their sum,
    // one scan for the draw, no sorting and no allocation after the first call.
    thread_local std::vector<float> prob;
    prob.resize(static_cast<size_t>(vocab));
    double sum =
        kernels::exp_shifted(logits.data(), vocab, top_logit, 1.0f / p.temperature, prob.data());
    if (p.min_p > 0.f) {
      // The most likely token has relative probability 1.
      sum = 0;
      for (float& q : prob) {
        q = q < p.min_p ? 0.f : q;
        sum += q;
      }
    }
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * sum;
    double acc = 0;
    int32_t last = 0;
    for (int64_t i = 0; i < vocab; ++i) {
      if (prob[i] == 0.f) continue;
      acc += prob[i];
      last = static_cast<int32_t>(i);
      if (u < acc) return last;
    }
    return last;
  }
  std::vector<int32_t> ids(vocab);
  std::iota(ids.begin(), ids.end(), 0);
  auto cmp = [&](int32_t a, int32_t b) { return more_likely(logits, a, b); };
  // Only top-k and top-p need the candidates in likelihood order, and top-k only its first k:
  // plain sampling over a 150k vocabulary sorts nothing.
  if (p.top_k > 0 && p.top_k < vocab) {
    std::partial_sort(ids.begin(), ids.begin() + p.top_k, ids.end(), cmp);
    ids.resize(p.top_k);
  } else if (p.top_p < 1.f) {
    std::sort(ids.begin(), ids.end(), cmp);
  }
  const double inv_t = 1.0 / p.temperature;
  const double top = top_logit;
  std::vector<double> prob(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    prob[i] = std::exp((logits[ids[i]] - top) * inv_t);
  // min_p: the most likely token has relative probability 1.
  if (p.min_p > 0.f) {
    for (double& q : prob)
      q = q < p.min_p ? 0.0 : q;
  }
  size_t keep = ids.size();
  if (p.top_p < 1.f) {
    // Candidates are sorted here: keep the smallest prefix whose mass reaches top_p.
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
  // 53 random bits → a uniform double in [0, 1), scaled to the kept mass.
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * sum;
  double acc = 0;
  int32_t last = ids[0];
  for (size_t i = 0; i < keep; ++i) {
    if (prob[i] == 0.0) continue;
    acc += prob[i];
    last = ids[i];
    if (u < acc) return ids[i];
  }
  return last;
}

}  // namespace sieve
