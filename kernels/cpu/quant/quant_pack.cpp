// Quantized matrices between their row form (QuantRows) and the packed panel layout
// (quant_layout.h), element reads, and stack_rows for every packed type.
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/numeric.h"
#include "kernels/cpu/quant/quant_internal.h"
#include "kernels/cpu/weight_arena.h"

namespace sieve::kernels {
namespace internal {
namespace {

int64_t default_group(ElemType t, int64_t k) {
  return t == ElemType::kI8 ? k : t == ElemType::kFP8 ? kFp8DefaultGroup : kQBlock;
}

// The scale of (row c of the panel, block b) as fp32.
float read_scale(ElemType t, const uint8_t* panel, int64_t c, int64_t b) {
  switch (t) {
    case ElemType::kI8: {
      float s;
      std::memcpy(&s, panel + c * 4, 4);
      return s;
    }
    case ElemType::kI4: {
      uint16_t h;
      std::memcpy(&h, panel + (b * kPanelWidth + c) * 2, 2);
      return f16_to_f32(h);
    }
    case ElemType::kMXFP4:
      return bits_to_f32(e8m0_to_f32_bits(panel[b * kPanelWidth + c]));
    case ElemType::kFP8: {
      float s;
      std::memcpy(&s, panel + (b * kPanelWidth + c) * 4, 4);
      return s / 256.f;
    }
    default:
      break;
  }
  return 0.f;
}

// The stored code of (row c, column kk) in the row form's encoding.
uint8_t read_code(ElemType t, const uint8_t* vals, int64_t c, int64_t kk) {
  switch (t) {
    case ElemType::kI8:
      return static_cast<uint8_t>(vals[int8_value_offset(c, kk)] - 128);
    case ElemType::kI4: {
      const uint8_t nib = (vals[nibble_value_offset(c, kk)] >> (4 * (c / 16))) & 0xf;
      return static_cast<uint8_t>(static_cast<int8_t>(nib) - 8);
    }
    case ElemType::kMXFP4:
      return (vals[nibble_value_offset(c, kk)] >> (4 * (c / 16))) & 0xf;
    case ElemType::kFP8:
      return vals[kk * kPanelWidth + c];
    default:
      break;
  }
  return 0;
}

float decode_e4m3(uint8_t b) {
  return f16_to_f32(e4m3_to_f16_scaled(b)) * 256.f;
}

}  // namespace

PackedMatrix pack_quant_rows(const QuantRows& r) {
  const QuantLayout l = quant_layout(r.type, r.k, r.group);
  PackedMatrix w;
  w.type = r.type;
  w.n = r.n;
  w.k = r.k;
  w.group = r.group;
  w.bytes = static_cast<size_t>(num_panels(r.n) * l.panel_bytes);
  w.storage = arena_alloc(w.bytes);
  uint8_t* base = static_cast<uint8_t*>(w.storage.get());
  const int64_t nb = r.blocks();
  for (int64_t j = 0; j < r.n; ++j) {
    uint8_t* panel = base + (j / kPanelWidth) * l.panel_bytes;
    uint8_t* vals = panel + l.scale_bytes;
    const int64_t c = j % kPanelWidth;
    const uint8_t* codes = r.codes.data() + j * r.k;
    const uint32_t* scales = r.scales.data() + j * nb;
    for (int64_t kk = 0; kk < r.k; ++kk) {
      const uint8_t code = codes[kk];
      switch (r.type) {
        case ElemType::kI8:
          vals[int8_value_offset(c, kk)] = static_cast<uint8_t>(code + 128);
          break;
        case ElemType::kI4:
          vals[nibble_value_offset(c, kk)] |=
              static_cast<uint8_t>(((code + 8) & 0xf) << (4 * (c / 16)));
          break;
        case ElemType::kMXFP4:
          vals[nibble_value_offset(c, kk)] |= static_cast<uint8_t>((code & 0xf) << (4 * (c / 16)));
          break;
        default:
          vals[kk * kPanelWidth + c] = code;
          break;
      }
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint32_t s = scales[b];
      switch (r.type) {
        case ElemType::kI8:
          std::memcpy(panel + c * 4, &s, 4);
          break;
        case ElemType::kI4: {
          const uint16_t h = static_cast<uint16_t>(s);
          std::memcpy(panel + (b * kPanelWidth + c) * 2, &h, 2);
          break;
        }
        case ElemType::kMXFP4:
          panel[b * kPanelWidth + c] = static_cast<uint8_t>(s);
          break;
        default: {
          const float scaled = bits_to_f32(s) * 256.f;
          std::memcpy(panel + (b * kPanelWidth + c) * 4, &scaled, 4);
          break;
        }
      }
    }
  }
  return w;
}

QuantRows unpack_quant_rows(const PackedMatrix& w) {
  QuantRows r;
  r.type = w.type;
  r.n = w.n;
  r.k = w.k;
  r.group = w.group > 0 ? w.group : default_group(w.type, w.k);
  const int64_t nb = r.blocks();
  const QuantLayout l = quant_layout(w.type, w.k, r.group);
  r.codes.resize(static_cast<size_t>(r.n * r.k));
  r.scales.resize(static_cast<size_t>(r.n * nb));
  const uint8_t* base = static_cast<const uint8_t*>(w.storage.get());
  for (int64_t j = 0; j < r.n; ++j) {
    const uint8_t* panel = base + (j / kPanelWidth) * l.panel_bytes;
    const int64_t c = j % kPanelWidth;
    for (int64_t kk = 0; kk < r.k; ++kk)
      r.codes[j * r.k + kk] = read_code(w.type, panel + l.scale_bytes, c, kk);
    for (int64_t b = 0; b < nb; ++b) {
      uint32_t s = 0;
      switch (w.type) {
        case ElemType::kI8:
          std::memcpy(&s, panel + c * 4, 4);
          break;
        case ElemType::kI4: {
          uint16_t h;
          std::memcpy(&h, panel + (b * kPanelWidth + c) * 2, 2);
          s = h;
          break;
        }
        case ElemType::kMXFP4:
          s = panel[b * kPanelWidth + c];
          break;
        default:
          s = f32_to_bits(read_scale(w.type, panel, c, b));
          break;
      }
      r.scales[j * nb + b] = s;
    }
  }
  return r;
}

float quant_packed_at(const PackedMatrix& w, int64_t row, int64_t col) {
  const QuantLayout l = quant_layout(w.type, w.k, w.group);
  const uint8_t* panel =
      static_cast<const uint8_t*>(w.storage.get()) + (row / kPanelWidth) * l.panel_bytes;
  const int64_t c = row % kPanelWidth;
  const int64_t b = w.type == ElemType::kI8 ? 0 : col / w.group;
  const float s = read_scale(w.type, panel, c, b);
  const uint8_t code = read_code(w.type, panel + l.scale_bytes, c, col);
  switch (w.type) {
    case ElemType::kI8:
    case ElemType::kI4:
      return static_cast<float>(static_cast<int8_t>(code)) * s;
    case ElemType::kMXFP4:
      return static_cast<float>(kE2M1Doubled[code]) * 0.5f * s;
    default:
      return decode_e4m3(code) * s;
  }
}

}  // namespace internal

PackedMatrix stack_rows(std::span<const PackedMatrix* const> parts) {
  using namespace internal;
  if (parts.empty()) throw std::invalid_argument("stack_rows: no matrices to stack");
  const PackedMatrix& first = *parts[0];
  int64_t n = 0;
  for (const PackedMatrix* p : parts) {
    if (p->type != first.type || p->k != first.k || p->group != first.group) {
      throw std::invalid_argument(
          std::string("stack_rows: every part must have one type, k and group; got ") +
          elem_type_name(p->type) + " k=" + std::to_string(p->k) +
          " group=" + std::to_string(p->group) + " after " + elem_type_name(first.type) +
          " k=" + std::to_string(first.k) + " group=" + std::to_string(first.group));
    }
    n += p->n;
  }
  const int64_t k = first.k;
  // Every format packs whole 32-row panels one after another, each panel's size a function of
  // k (and the group) alone: parts whose rows fill their panels (all but the last) stack by
  // copying their bytes. That is every split quantize-on-load makes and every stacked gate/up
  // of a width that is a multiple of 32, and it costs a copy instead of a repack.
  bool whole_panels = true;
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    whole_panels &= parts[i]->n % kPanelWidth == 0;
  if (whole_panels) {
    PackedMatrix out;
    out.type = first.type;
    out.n = n;
    out.k = k;
    out.group = first.group;
    for (const PackedMatrix* p : parts)
      out.bytes += p->bytes;
    out.storage = arena_alloc(out.bytes);
    size_t at = 0;
    for (const PackedMatrix* p : parts) {
      std::memcpy(static_cast<uint8_t*>(out.storage.get()) + at, p->storage.get(), p->bytes);
      at += p->bytes;
    }
    return out;
  }
  if (!is_quantized(first.type)) {
    // Float panels: read back (exact) and pack again.
    std::vector<float> rows(static_cast<size_t>(n * k));
    int64_t j0 = 0;
    for (const PackedMatrix* p : parts) {
      for (int64_t j = 0; j < p->n; ++j)
        for (int64_t kk = 0; kk < k; ++kk)
          rows[(j0 + j) * k + kk] = packed_at(*p, j, kk);
      j0 += p->n;
    }
    return pack_matrix(rows.data(), ElemType::kF32, n, k, first.type);
  }
  QuantRows all;
  all.type = first.type;
  all.n = n;
  all.k = k;
  for (const PackedMatrix* p : parts) {
    QuantRows r = unpack_quant_rows(*p);
    all.group = r.group;
    all.codes.insert(all.codes.end(), r.codes.begin(), r.codes.end());
    all.scales.insert(all.scales.end(), r.scales.begin(), r.scales.end());
  }
  return pack_quant_rows(all);
}

}  // namespace sieve::kernels
