// Parameters stored quantized (quantization.h): validate()'s checks of them and
// Checkpoint::stored_matrix, which hands a loader the mapped bytes without converting them.
#include <algorithm>
#include <initializer_list>
#include <string>

#include "engine/base/tensor.h"
#include "engine/checkpoint/checkpoint.h"

namespace sieve {
namespace {

std::string quoted(std::string_view name) {
  return "'" + std::string(name) + "'";
}

// The companion `c` of parameter `param` must exist with one of `dtypes` and `shape`; `why`
// says what fixes the shape ("weight_block_size [128, 128]").
Status check_companion(const Checkpoint& ck, std::string_view param, const std::string& c,
                       std::initializer_list<DType> dtypes, const std::vector<int64_t>& shape,
                       const std::string& why) {
  const CheckpointTensor* t = ck.find(c);
  if (!t) {
    return not_found(ck.dir() + ": tensor " + quoted(param) + " is stored quantized but " +
                     quoted(c) + " is missing (" + why + ")");
  }
  if (std::find(dtypes.begin(), dtypes.end(), t->entry->dtype) == dtypes.end()) {
    std::string allowed;
    for (DType d : dtypes)
      allowed += (allowed.empty() ? "" : " or ") + std::string(dtype_name(d));
    return invalid_argument(t->file->path() + ": tensor " + quoted(c) + " has dtype " +
                            dtype_name(t->entry->dtype) + "; " + quoted(param) + " needs " +
                            allowed + " (" + why + ")");
  }
  if (t->entry->shape != shape) {
    return invalid_argument(t->file->path() + ": tensor " + quoted(c) + " has shape " +
                            format_shape(t->entry->shape) + " but " + quoted(param) + " needs " +
                            format_shape(shape) + " (" + why + ")");
  }
  return Status::Ok();
}

std::string fp8_why(const QuantizationConfig& q, const std::vector<int64_t>& shape) {
  return "fp8 weight " + format_shape(shape) + " with weight_block_size [" +
         std::to_string(q.block_n) + ", " + std::to_string(q.block_k) + "]";
}

const char* kMxfp4Why = "mxfp4: blocks [..., n, k / 32, 16] and scales [..., n, k / 32] U8";

// The first problem with an fp8 parameter `name` of logical `shape`, else OK.
Status check_fp8(const Checkpoint& ck, std::string_view name, const std::vector<int64_t>& shape) {
  const QuantizationConfig& q = ck.quantization();
  const CheckpointTensor* t = ck.find(name);
  if (q.method != QuantMethod::kFp8) {
    return invalid_argument(
        t->file->path() + ": tensor " + quoted(name) +
        " has dtype F8_E4M3 but config.json has no quantization_config with quant_method "
        "\"fp8\" (" +
        (q.quantized() ? std::string("it says \"") + quant_method_name(q.method) + "\""
                       : std::string("it has none")) +
        "), so its scales are unknown; use the release's config.json");
  }
  if (shape.size() < 2) {
    return invalid_argument(t->file->path() + ": tensor " + quoted(name) +
                            " is F8_E4M3 but has shape " + format_shape(shape) +
                            "; block-scaled fp8 needs a matrix [..., n, k]");
  }
  return check_companion(ck, name, fp8_scale_name(name), {DType::kF32, DType::kBF16, DType::kF16},
                         fp8_scale_shape(shape, q.block_n, q.block_k), fp8_why(q, shape));
}

// The first problem with an mxfp4 parameter `name` of logical `shape`, else OK.
Status check_mxfp4(const Checkpoint& ck, std::string_view name, const std::vector<int64_t>& shape) {
  const QuantizationConfig& q = ck.quantization();
  const std::string blocks = mxfp4_blocks_name(name);
  const CheckpointTensor* b = ck.find(blocks);
  if (q.method != QuantMethod::kMxfp4) {
    return invalid_argument(
        b->file->path() + ": tensor " + quoted(name) + " is stored as MXFP4 (" + quoted(blocks) +
        ") but config.json has no quantization_config with quant_method \"mxfp4\" (" +
        (q.quantized() ? std::string("it says \"") + quant_method_name(q.method) + "\""
                       : std::string("it has none")) +
        "); use the release's config.json");
  }
  if (shape.size() < 2 || shape.back() % kMxfp4Group != 0) {
    return invalid_argument(b->file->path() + ": tensor " + quoted(name) + " of shape " +
                            format_shape(shape) +
                            " cannot be stored as MXFP4: it needs a matrix whose in-features "
                            "(last dim) are a multiple of 32");
  }
  SIEVE_RETURN_IF_ERROR(
      check_companion(ck, name, blocks, {DType::kU8}, mxfp4_blocks_shape(shape), kMxfp4Why));
  return check_companion(ck, name, mxfp4_scales_name(name), {DType::kU8}, mxfp4_scales_shape(shape),
                         kMxfp4Why);
}

// The logical shape an mxfp4 parameter's blocks [..., n, G, 16] imply: [..., n, 32·G].
Result<std::vector<int64_t>> mxfp4_shape(const Checkpoint& ck, std::string_view name) {
  const CheckpointTensor* b = ck.find(mxfp4_blocks_name(name));
  const std::vector<int64_t>& s = b->entry->shape;
  if (s.size() < 3 || s.back() != kMxfp4GroupBytes) {
    return invalid_argument(b->file->path() + ": tensor " + quoted(mxfp4_blocks_name(name)) +
                            " has shape " + format_shape(s) +
                            "; MXFP4 blocks are [..., n, k / 32, 16] (16 bytes per 32 values)");
  }
  std::vector<int64_t> shape(s.begin(), s.end() - 1);
  shape.back() *= kMxfp4Group;
  return shape;
}

}  // namespace

bool Checkpoint::check_quantized(const ExpectedTensor& want,
                                 std::set<std::string, std::less<>>& wanted,
                                 std::vector<Status>& problems) const {
  const CheckpointTensor* t = find(want.name);
  // The shape the parameter has stored quantized (an in-major one transposed).
  const std::vector<int64_t> shape = want.in_major ? swap_last_two(want.shape) : want.shape;
  if (t && t->entry->dtype == DType::kF8E4M3) {
    wanted.insert(fp8_scale_name(want.name));
    if (t->entry->shape != shape) {
      problems.push_back(invalid_argument(
          t->file->path() + ": tensor " + quoted(want.name) + " has shape " +
          format_shape(t->entry->shape) + " but config.json implies " + format_shape(shape) +
          (want.in_major ? " (stored quantized as [..., out, in])" : "")));
      return true;
    }
    if (Status s = check_fp8(*this, want.name, shape); !s.ok()) problems.push_back(s);
    return true;
  }
  if (t || !find(mxfp4_blocks_name(want.name))) return false;
  wanted.insert(mxfp4_blocks_name(want.name));
  wanted.insert(mxfp4_scales_name(want.name));
  if (shape.size() >= 2 && shape.back() % kMxfp4Group == 0) {
    // The blocks' own shape first: it is what a wrong last dim (not 16) shows up in.
    auto implied = mxfp4_shape(*this, want.name);
    if (!implied.ok() && quant_.method == QuantMethod::kMxfp4) {
      problems.push_back(implied.status());
      return true;
    }
  }
  if (Status s = check_mxfp4(*this, want.name, shape); !s.ok()) problems.push_back(s);
  return true;
}

Result<StoredMatrix> Checkpoint::stored_matrix(std::string_view name) const {
  StoredMatrix m;
  m.name = std::string(name);
  const CheckpointTensor* t = find(name);
  if (t && t->entry->dtype != DType::kF8E4M3) {
    m.shape = t->entry->shape;
    m.dtype = t->entry->dtype;
    m.values = t->file->data(*t->entry);
    m.value_bytes = t->entry->end - t->entry->begin;
    return m;
  }
  if (t) {
    m.shape = t->entry->shape;
    SIEVE_RETURN_IF_ERROR(check_fp8(*this, name, m.shape));
    const CheckpointTensor* s = find(fp8_scale_name(name));
    m.format = StoredFormat::kFp8Block;
    m.dtype = DType::kF8E4M3;
    m.values = t->file->data(*t->entry);
    m.value_bytes = t->entry->end - t->entry->begin;
    m.scales = s->file->data(*s->entry);
    m.scale_bytes = s->entry->end - s->entry->begin;
    m.scale_dtype = s->entry->dtype;
    m.block_n = quant_.block_n;
    m.block_k = quant_.block_k;
    return m;
  }
  if (!find(mxfp4_blocks_name(name))) {
    return not_found(dir_ + ": tensor " + quoted(name) + " is missing (nor is " +
                     quoted(mxfp4_blocks_name(name)) + " there)");
  }
  SIEVE_ASSIGN_OR_RETURN(m.shape, mxfp4_shape(*this, name));
  SIEVE_RETURN_IF_ERROR(check_mxfp4(*this, name, m.shape));
  const CheckpointTensor* b = find(mxfp4_blocks_name(name));
  const CheckpointTensor* s = find(mxfp4_scales_name(name));
  m.format = StoredFormat::kMxfp4;
  m.dtype = DType::kU8;
  m.values = b->file->data(*b->entry);
  m.value_bytes = b->entry->end - b->entry->begin;
  m.scales = s->file->data(*s->entry);
  m.scale_bytes = s->entry->end - s->entry->begin;
  m.scale_dtype = DType::kU8;
  m.block_n = 1;
  m.block_k = kMxfp4Group;
  return m;
}

}  // namespace sieve
