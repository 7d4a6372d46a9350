#include "engine/checkpoint/checkpoint.h"

#include "engine/base/tensor.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/checkpoint/quant_codec.h"
#include "kernels/cpu/numeric.h"

namespace sieve {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kConfigName = "config.json";
constexpr const char* kSingleName = "model.safetensors";
constexpr const char* kIndexName = "model.safetensors.index.json";

// Reads and parses a JSON file; `label` names it in messages.
Result<json> read_json(const std::string& path, const std::string& label) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(label + ": cannot open " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return data_loss(label + ": read error on " + path);
  try {
    return json::parse(buf.str());
  } catch (const json::parse_error& e) {
    return data_loss(label + ": not valid JSON at byte " + std::to_string(e.byte) + ": " +
                     e.what() + " (in " + path + ")");
  } catch (const json::exception& e) {
    return data_loss(label + ": not valid JSON: " + e.what() + " (in " + path + ")");
  }
}

Status write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return failed_precondition(path + ": cannot create");
  out << text;
  out.close();
  if (!out) return internal_error(path + ": write failed");
  return Status::Ok();
}

// Reads the index's weight_map: tensor name → shard file name.
Result<std::map<std::string, std::string>> read_weight_map(const std::string& dir) {
  SIEVE_ASSIGN_OR_RETURN(json index, read_json(dir + "/" + kIndexName, kIndexName));
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    return data_loss(std::string(kIndexName) + ": has no \"weight_map\" object (in " + dir + ")");
  }
  std::map<std::string, std::string> weight_map;
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) {
      return data_loss(std::string(kIndexName) + ": tensor '" + tensor + "' maps to a non-string " +
                       shard.dump());
    }
    std::string name = shard.get<std::string>();
    // Shards live beside the index; a path would let a checkpoint reach outside its folder.
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      return data_loss(std::string(kIndexName) + ": tensor '" + tensor + "' maps to shard '" +
                       name + "', which is not a plain file name");
    }
    weight_map.emplace(tensor, std::move(name));
  }
  if (weight_map.empty()) return data_loss(std::string(kIndexName) + ": weight_map is empty");
  return weight_map;
}

// One element-type conversion, element by element; memcpy keeps unaligned mappings legal.
template <class Src, class Dst, class Fn>
void convert(const uint8_t* src, uint8_t* dst, int64_t n, Fn fn) {
  for (int64_t i = 0; i < n; ++i) {
    Src s;
    std::memcpy(&s, src + i * sizeof(Src), sizeof(Src));
    const Dst d = fn(s);
    std::memcpy(dst + i * sizeof(Dst), &d, sizeof(Dst));
  }
}

std::string shard_file_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

// model-00001-of-00004.safetensors, as shard_file_name() (and transformers) write them.
bool is_shard_file_name(const std::string& name) {
  unsigned i = 0, n = 0;
  int consumed = 0;
  return std::sscanf(name.c_str(), "model-%5u-of-%5u.safetensors%n", &i, &n, &consumed) == 2 &&
         static_cast<size_t>(consumed) == name.size();
}

// Greedy in entry order: a shard takes entries until the next would push it past the limit; an
// entry larger than the limit gets a shard of its own.
std::vector<std::vector<size_t>> plan_shards(const std::vector<uint64_t>& sizes,
                                             uint64_t max_shard_bytes) {
  std::vector<std::vector<size_t>> shards;
  uint64_t used = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (shards.empty() || (used > 0 && used + sizes[i] > max_shard_bytes)) {
      shards.emplace_back();
      used = 0;
    }
    shards.back().push_back(i);
    used += sizes[i];
  }
  if (shards.empty()) shards.emplace_back();  // no tensors still makes a (header-only) file
  return shards;
}

}  // namespace

Result<nlohmann::json> read_model_config(const std::string& dir) {
  std::error_code ec;
  const std::string config_path = dir + "/" + kConfigName;
  if (!fs::exists(config_path, ec)) {
    return not_found(std::string(kConfigName) + ": missing from " + dir +
                     " (a checkpoint needs config.json beside its weights)");
  }
  SIEVE_ASSIGN_OR_RETURN(json config, read_json(config_path, kConfigName));
  if (!config.is_object()) {
    return data_loss(std::string(kConfigName) + ": is a JSON " + config.type_name() +
                     ", not an object (in " + dir + ")");
  }
  return config;
}

Checkpoint::Checkpoint() = default;
Checkpoint::~Checkpoint() = default;

Result<std::unique_ptr<Checkpoint>> Checkpoint::open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return not_found(dir + ": no such checkpoint directory");
  std::unique_ptr<Checkpoint> ck(new Checkpoint());
  ck->dir_ = dir;

  SIEVE_ASSIGN_OR_RETURN(json config, read_model_config(dir));
  auto quant = parse_quantization_config(config);
  if (!quant.ok()) return Status(quant.status().code(), dir + "/" + quant.status().message());
  ck->quant_ = *quant;
  ck->config_ = std::make_unique<json>(std::move(config));

  // A tensor found in two files is ambiguous; refuse it rather than pick one.
  auto add_file = [&](std::shared_ptr<SafetensorsFile> file) -> Status {
    for (const auto& e : file->entries()) {
      auto [it, inserted] = ck->tensors_.try_emplace(e.name, CheckpointTensor{file.get(), &e});
      if (!inserted) {
        return data_loss(file->path() + ": tensor '" + e.name + "' also appears in " +
                         it->second.file->path());
      }
    }
    ck->files_.push_back(std::move(file));
    return Status::Ok();
  };

  const std::string index_path = dir + "/" + kIndexName;
  if (fs::exists(index_path, ec)) {
    SIEVE_ASSIGN_OR_RETURN(auto weight_map, read_weight_map(dir));
    std::set<std::string> shards;
    for (const auto& [tensor, shard] : weight_map)
      shards.insert(shard);
    for (const auto& shard : shards) {
      if (!fs::exists(dir + "/" + shard, ec)) {
        return not_found(std::string(kIndexName) + " names shard '" + shard +
                         "' which does not exist in " + dir);
      }
    }
    for (const auto& shard : shards) {
      SIEVE_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(dir + "/" + shard));
      // What the shard holds must be what the index says it holds, both ways.
      for (const auto& e : file->entries()) {
        auto it = weight_map.find(e.name);
        if (it == weight_map.end()) {
          return data_loss(file->path() + ": tensor '" + e.name + "' is not listed in " +
                           kIndexName);
        }
        if (it->second != shard) {
          return data_loss(file->path() + ": tensor '" + e.name + "' is here but " + kIndexName +
                           " maps it to shard '" + it->second + "'");
        }
      }
      for (const auto& [tensor, name] : weight_map) {
        if (name == shard && !file->find(tensor)) {
          return data_loss(std::string(kIndexName) + " maps tensor '" + tensor + "' to shard '" +
                           shard + "' but " + file->path() + " does not contain it");
        }
      }
      SIEVE_RETURN_IF_ERROR(add_file(std::move(file)));
    }
  } else {
    const std::string single = dir + "/" + kSingleName;
    if (!fs::exists(single, ec)) {
      return not_found(dir + ": no weights found (expected " + kSingleName + ", or " + kIndexName +
                       " and the shards it names, beside " + kConfigName + ")");
    }
    SIEVE_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(single));
    SIEVE_RETURN_IF_ERROR(add_file(std::move(file)));
  }
  return ck;
}

const CheckpointTensor* Checkpoint::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, t] : tensors_)
    total += t.entry->end - t.entry->begin;
  return total;
}

std::vector<int64_t> swap_last_two(std::vector<int64_t> shape) {
  if (shape.size() >= 2) std::swap(shape[shape.size() - 1], shape[shape.size() - 2]);
  return shape;
}

Status Checkpoint::validate(const std::vector<ExpectedTensor>& expected) {
  std::vector<Status> problems;
  std::set<std::string, std::less<>> wanted;
  for (const auto& want : expected) {
    if (!wanted.insert(want.name).second) continue;
    if (want.in_major) in_major_.insert(want.name);
    if (check_quantized(want, wanted, problems)) continue;
    const CheckpointTensor* t = find(want.name);
    if (!t) {
      problems.push_back(not_found(dir_ + ": tensor '" + want.name +
                                   "' is missing (config.json implies shape " +
                                   format_shape(want.shape) + ")"));
      continue;
    }
    const SafetensorsEntry& e = *t->entry;
    if (e.shape != want.shape) {
      problems.push_back(invalid_argument(t->file->path() + ": tensor '" + want.name +
                                          "' has shape " + format_shape(e.shape) +
                                          " but config.json implies " + format_shape(want.shape)));
    }
    if (e.dtype != DType::kF32 && e.dtype != DType::kBF16 && e.dtype != DType::kF16) {
      problems.push_back(unimplemented(t->file->path() + ": tensor '" + want.name + "' has dtype " +
                                       dtype_name(e.dtype) +
                                       "; sieve loads F32, BF16 and F16 weights"));
    }
  }
  for (const auto& [name, t] : tensors_) {
    if (!wanted.count(name)) {
      problems.push_back(invalid_argument(t.file->path() + ": tensor '" + name +
                                          "' is unexpected: config.json implies no such tensor"));
    }
  }
  if (problems.empty()) return Status::Ok();
  std::string msg = problems.front().message();
  if (problems.size() > 1)
    msg += " (and " + std::to_string(problems.size() - 1) + " more problems)";
  return Status(problems.front().code(), std::move(msg));
}

Status Checkpoint::read(std::string_view name, DType dst, void* out) const {
  const CheckpointTensor* t = find(name);
  if (!t || t->entry->dtype == DType::kF8E4M3) {
    // Absent as itself: perhaps an mxfp4 parameter (name_blocks + name_scales); F8: with scales.
    if (!t && !find(mxfp4_blocks_name(name))) {
      return not_found(dir_ + ": no tensor '" + std::string(name) + "'");
    }
    SIEVE_ASSIGN_OR_RETURN(StoredMatrix m, stored_matrix(name));
    if (!in_major_.count(name)) return dequantize(m, dst, out);
    // Stored [..., out, in]: dequantized, then each matrix transposed to [in, out].
    std::vector<uint8_t> stored(static_cast<size_t>(m.numel()) * dtype_size(dst));
    SIEVE_RETURN_IF_ERROR(dequantize(m, dst, stored.data()));
    transpose_matrices(stored.data(), out, m.count(), m.rows(), m.cols(), dtype_size(dst));
    return Status::Ok();
  }
  if (dst != DType::kF32 && dst != DType::kBF16) {
    return invalid_argument(dir_ + ": tensor '" + std::string(name) + "' cannot be read as " +
                            dtype_name(dst) + " (only F32 or BF16)");
  }
  const SafetensorsEntry& e = *t->entry;
  const uint8_t* src = t->file->data(e);
  auto* o = static_cast<uint8_t*>(out);
  const int64_t n = e.numel();
  if (e.dtype == dst) {
    std::memcpy(o, src, e.end - e.begin);
    return Status::Ok();
  }
  using kernels::bf16_to_f32;
  using kernels::f16_to_f32;
  using kernels::f32_to_bf16;
  switch (e.dtype) {
    case DType::kBF16:  // → F32: exact
      convert<uint16_t, float>(src, o, n, bf16_to_f32);
      return Status::Ok();
    case DType::kF32:  // → BF16: round to nearest even
      convert<float, uint16_t>(src, o, n, f32_to_bf16);
      return Status::Ok();
    case DType::kF16:  // F16 → F32 is exact, so F16 → BF16 rounds only once
      if (dst == DType::kF32) {
        convert<uint16_t, float>(src, o, n, f16_to_f32);
      } else {
        convert<uint16_t, uint16_t>(src, o, n,
                                    [](uint16_t h) { return f32_to_bf16(f16_to_f32(h)); });
      }
      return Status::Ok();
    default:
      return unimplemented(t->file->path() + ": tensor '" + std::string(name) + "' has dtype " +
                           dtype_name(e.dtype) + ", which cannot be converted to " +
                           dtype_name(dst));
  }
}

Status write_model_config(const std::string& dir, const nlohmann::json& config) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return failed_precondition(dir + ": cannot create directory: " + ec.message());
  std::string config_text;
  try {
    config_text = config.dump(2) + "\n";
  } catch (const json::exception& e) {
    return invalid_argument(dir + ": cannot encode config.json: " + e.what());
  }
  return write_text(dir + "/" + kConfigName, config_text);
}

Status write_checkpoint(const std::string& dir, const nlohmann::json& config,
                        const std::vector<SafetensorsWriteEntry>& entries,
                        const std::function<void(size_t index, void* dst)>& fill,
                        const CheckpointWriteOptions& options) {
  SIEVE_RETURN_IF_ERROR(write_model_config(dir, config));
  std::error_code ec;

  std::vector<uint64_t> sizes;
  uint64_t total = 0;
  std::set<std::string> names;
  for (const auto& e : entries) {
    // Names must be unique across shards, not only within one, or the index would lie.
    if (!names.insert(e.name).second) {
      return invalid_argument(dir + ": tensor '" + e.name + "' is listed twice");
    }
    uint64_t bytes = dtype_size(e.dtype);
    for (int64_t d : e.shape)
      bytes *= static_cast<uint64_t>(std::max<int64_t>(d, 0));
    sizes.push_back(bytes);
    total += bytes;
  }
  // transformers refuses safetensors files whose metadata lacks a known "format".
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  uint64_t done = 0;
  const auto shards = plan_shards(sizes, options.max_shard_bytes);
  // Files from an earlier write in another layout would confuse Checkpoint::open (a stale
  // index) or just waste disk (old shards of a 60 GB model); remove what this write will not
  // produce.
  fs::remove(dir + "/" + (shards.size() > 1 ? kSingleName : kIndexName), ec);
  std::set<std::string> produced;
  for (size_t i = 0; shards.size() > 1 && i < shards.size(); ++i)
    produced.insert(shard_file_name(i, shards.size()));
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (is_shard_file_name(name) && !produced.count(name)) stale.push_back(e.path());
  }
  for (const auto& p : stale)
    fs::remove(p, ec);

  json weight_map = json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = shards.size() > 1 ? shard_file_name(s, shards.size()) : kSingleName;
    std::vector<SafetensorsWriteEntry> part;
    for (size_t i : shards[s]) {
      part.push_back(entries[i]);
      weight_map[entries[i].name] = name;
    }
    const auto& ids = shards[s];
    SIEVE_RETURN_IF_ERROR(write_safetensors(
        dir + "/" + name, part,
        [&](size_t local, void* dst) {
          fill(ids[local], dst);
          done += sizes[ids[local]];
          if (options.progress) options.progress(done, total);
        },
        metadata));
  }
  if (shards.size() <= 1) return Status::Ok();
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  return write_text(dir + "/" + kIndexName, index.dump(2) + "\n");
}

}  // namespace sieve
