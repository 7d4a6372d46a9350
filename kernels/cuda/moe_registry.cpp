#include "kernels/cuda/moe_registry.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda {
namespace {

constexpr int kFormat = 1;

const char* weights_name(WeightType t) {
  return t == WeightType::kF32 ? "fp32" : "bf16";
}

std::optional<MoeGemmVariant> variant_named(const std::string& name) {
  for (MoeGemmVariant v : kMoeGemmVariants) {
    if (name == moe_gemm_variant_name(v)) return v;
  }
  return std::nullopt;
}

}  // namespace

MoeShape moe_shape_of(const MoeParams& p) {
  return {p.tokens, p.top_k, p.num_experts, p.hidden, p.inter, p.w_type};
}

int64_t moe_tokens_bucket(int64_t tokens) {
  int64_t b = 1;
  while (b < tokens)
    b *= 2;
  return b;
}

MoeTuneResult moe_tune(MoeParams p, cudaStream_t stream, int iters) {
  SIEVE_CUDA_REQUIRE(iters >= 1, "moe_tune: iters >= 1");
  cudaEvent_t start, stop;
  SIEVE_CUDA_CHECK(cudaEventCreate(&start));
  SIEVE_CUDA_CHECK(cudaEventCreate(&stop));
  MoeTuneResult r;
  double best = 0;
  for (MoeGemmVariant v : kMoeGemmVariants) {
    if (!moe_gemm_variant_supported(v, p.hidden, p.inter, p.w_type)) continue;
    p.gemm = v;
    moe_experts(p, stream);  // warm-up: module load, caches
    std::vector<double> us;
    for (int i = 0; i < iters; ++i) {
      SIEVE_CUDA_CHECK(cudaEventRecord(start, stream));
      moe_experts(p, stream);
      SIEVE_CUDA_CHECK(cudaEventRecord(stop, stream));
      SIEVE_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      SIEVE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      us.push_back(1e3 * ms);
    }
    std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
    const double median = us[us.size() / 2];
    r.microseconds.emplace_back(v, median);
    if (r.best == MoeGemmVariant::kAuto || median < best) {
      r.best = v;
      best = median;
    }
  }
  SIEVE_CUDA_CHECK(cudaEventDestroy(start));
  SIEVE_CUDA_CHECK(cudaEventDestroy(stop));
  p.gemm = r.best;  // leave the fastest variant's result in p.out
  moe_experts(p, stream);
  return r;
}

MoeKernelRegistry::MoeKernelRegistry(std::string device) : device_(std::move(device)) {}

MoeKernelRegistry::Key MoeKernelRegistry::key_of(const MoeShape& s) {
  return {moe_tokens_bucket(s.tokens), s.top_k, s.num_experts, s.hidden, s.inter,
          static_cast<int>(s.w_type)};
}

std::optional<MoeGemmVariant> MoeKernelRegistry::cached(const MoeShape& s) const {
  const auto it = entries_.find(key_of(s));
  if (it == entries_.end()) return std::nullopt;
  return it->second.variant;
}

MoeGemmVariant MoeKernelRegistry::choose(const MoeShape& s) const {
  if (auto v = cached(s)) return *v;
  return moe_choose_gemm(s.tokens * s.top_k, s.num_experts, s.hidden, s.inter, s.w_type);
}

void MoeKernelRegistry::remember(const MoeShape& s, const MoeTuneResult& r) {
  entries_[key_of(s)] = Entry{r.best, r.microseconds};
}

bool MoeKernelRegistry::load(const std::string& path, std::string* error, std::string* note) {
  std::ifstream in(path);
  if (!in) return true;  // no cache yet
  auto fail = [&](const std::string& what) {
    *error = path + ": " + what + " (delete the file to re-tune)";
    return false;
  };
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object() || j.value("format", 0) != kFormat)
    return fail("not a format-1 MoE tuning cache");
  if (!j.contains("device") || !j["device"].is_string() || !j.contains("choices") ||
      !j["choices"].is_array()) {
    return fail("needs \"device\" (string) and \"choices\" (array)");
  }
  if (j["device"] != device_) {
    if (note)
      *note = path + " was tuned on '" + j["device"].get<std::string>() + "', not '" + device_ +
              "': not used";
    return true;
  }
  std::map<Key, Entry> loaded;
  for (const auto& c : j["choices"]) {
    try {
      MoeShape s;
      s.tokens = c.at("tokens_bucket").get<int64_t>();
      s.top_k = c.at("top_k").get<int64_t>();
      s.num_experts = c.at("experts").get<int64_t>();
      s.hidden = c.at("hidden").get<int64_t>();
      s.inter = c.at("inter").get<int64_t>();
      const std::string w = c.at("weights").get<std::string>();
      if (w != "bf16" && w != "fp32") return fail("weights must be bf16 or fp32, got " + w);
      s.w_type = w == "bf16" ? WeightType::kBF16 : WeightType::kF32;
      const auto v = variant_named(c.at("variant").get<std::string>());
      if (!v) return fail("unknown variant '" + c.at("variant").get<std::string>() + "'");
      if (!moe_gemm_variant_supported(*v, s.hidden, s.inter, s.w_type)) {
        return fail(std::string("variant '") + moe_gemm_variant_name(*v) +
                    "' cannot run its shape");
      }
      Entry e{*v, {}};
      if (c.contains("microseconds")) {
        for (const auto& [name, us] : c["microseconds"].items()) {
          if (auto mv = variant_named(name)) e.microseconds.emplace_back(*mv, us.get<double>());
        }
      }
      loaded[key_of(s)] = std::move(e);
    } catch (const nlohmann::json::exception& e) {
      return fail(std::string("bad choice entry: ") + e.what());
    }
  }
  for (auto& [k, e] : loaded)
    entries_[k] = std::move(e);
  return true;
}

bool MoeKernelRegistry::save(const std::string& path, std::string* error) const {
  nlohmann::json choices = nlohmann::json::array();
  for (const auto& [k, e] : entries_) {
    const auto& [bucket, top_k, experts, hidden, inter, w] = k;
    nlohmann::json us = nlohmann::json::object();
    for (const auto& [v, t] : e.microseconds)
      us[moe_gemm_variant_name(v)] = t;
    choices.push_back({{"tokens_bucket", bucket},
                       {"top_k", top_k},
                       {"experts", experts},
                       {"hidden", hidden},
                       {"inter", inter},
                       {"weights", weights_name(static_cast<WeightType>(w))},
                       {"variant", moe_gemm_variant_name(e.variant)},
                       {"microseconds", us}});
  }
  const nlohmann::json j = {{"format", kFormat}, {"device", device_}, {"choices", choices}};
  std::error_code ec;
  const std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(1) << "\n";
    if (!out) {
      *error = "cannot write " + tmp;
      return false;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    *error = "cannot rename " + tmp + " to " + path + ": " + ec.message();
    return false;
  }
  return true;
}

std::string moe_device_key() {
  int dev = 0;
  SIEVE_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  SIEVE_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  std::ostringstream os;
  os << prop.name << " sm_" << prop.major << prop.minor << " " << prop.multiProcessorCount
     << " SMs";
  return os.str();
}

}  // namespace sieve::cuda
