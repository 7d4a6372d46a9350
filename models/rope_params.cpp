#include "models/rope_params.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace sieve {
namespace {

// The base frequencies 1 / theta^(2i / dim), in fp32 as torch computes them.
std::vector<float> base_inv_freq(double theta, int64_t dim) {
  std::vector<float> inv(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    inv[i] = 1.0f / std::pow(static_cast<float>(theta), exponent);
  }
  return inv;
}

double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

double yarn_correction_dim(double rotations, int64_t dim, double base, double max_pos) {
  return (dim * std::log(max_pos / (rotations * 2 * M_PI))) / (2 * std::log(base));
}

}  // namespace

RopeConfig read_rope(ConfigReader& reader, int64_t head_dim, bool neox) {
  RopeConfig rope;
  rope.neox = neox;
  rope.theta = reader.number_or("rope_theta", 10000.0);
  const double partial = reader.number_or("partial_rotary_factor", 1.0);
  rope.rotary_dim = static_cast<int64_t>(head_dim * partial);
  if (rope.rotary_dim <= 0 || rope.rotary_dim % 2 != 0 || rope.rotary_dim > head_dim) {
    reader.fail(StatusCode::kInvalidArgument,
                "partial_rotary_factor gives " + std::to_string(rope.rotary_dim) +
                    " rotary features for head_dim " + std::to_string(head_dim));
    return rope;
  }
  rope.inv_freq = base_inv_freq(rope.theta, rope.rotary_dim);

  const nlohmann::json& cfg = reader.json();
  auto it = cfg.find("rope_scaling");
  if (it == cfg.end() || it->is_null()) return rope;
  const nlohmann::json& rs = *it;
  if (!rs.is_object()) {
    reader.fail(StatusCode::kInvalidArgument, "'rope_scaling' must be an object or null");
    return rope;
  }
  ConfigReader sr(rs);
  rope.type = sr.string_or("rope_type", sr.string_or("type", "default"));
  if (rope.type == "default") return rope;
  const double factor = sr.number("factor");
  if (!sr.status().ok() || factor <= 0) {
    reader.fail(StatusCode::kInvalidArgument, "rope_scaling needs a positive 'factor'");
    return rope;
  }
  if (rope.type == "linear") {
    for (float& f : rope.inv_freq)
      f = f / static_cast<float>(factor);
    return rope;
  }
  if (rope.type == "yarn") {
    const int64_t dim = rope.rotary_dim;
    const double max_pos = static_cast<double>(
        sr.int_or("original_max_position_embeddings", reader.int_or("max_position_embeddings", 0)));
    const double beta_fast = sr.number_or("beta_fast", 32.0);
    const double beta_slow = sr.number_or("beta_slow", 1.0);
    const bool truncate = sr.bool_or("truncate", true);
    double attention = sr.number_or("attention_factor", 0.0);
    if (attention == 0.0) {
      const double mscale = sr.number_or("mscale", 0.0);
      const double mscale_all = sr.number_or("mscale_all_dim", 0.0);
      attention = (mscale != 0.0 && mscale_all != 0.0)
                      ? yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all)
                      : yarn_mscale(factor, 1.0);
    }
    if (!sr.status().ok() || max_pos <= 0) {
      reader.fail(StatusCode::kInvalidArgument,
                  "rope_scaling (yarn) is incomplete: " + sr.status().message());
      return rope;
    }
    double low = yarn_correction_dim(beta_fast, dim, rope.theta, max_pos);
    double high = yarn_correction_dim(beta_slow, dim, rope.theta, max_pos);
    if (truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(dim - 1));
    if (low == high) high += 0.001;
    for (int64_t i = 0; i < dim / 2; ++i) {
      const float extrapolation = rope.inv_freq[i];
      const float interpolation = extrapolation / static_cast<float>(factor);
      float ramp =
          (static_cast<float>(i) - static_cast<float>(low)) / static_cast<float>(high - low);
      ramp = std::clamp(ramp, 0.0f, 1.0f);
      const float extrapolation_weight = 1.0f - ramp;
      rope.inv_freq[i] =
          interpolation * (1 - extrapolation_weight) + extrapolation * extrapolation_weight;
    }
    rope.attention_scaling = static_cast<float>(attention);
    return rope;
  }
  reader.unsupported("rope_scaling type '" + rope.type + "'");
  return rope;
}

}  // namespace sieve
