#include "engine/checkpoint/safetensors.h"

#include "engine/base/tensor.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace sieve {

// Offsets and lengths are read and written as raw little-endian bytes.
static_assert(std::endian::native == std::endian::little, "sieve assumes a little-endian host");

namespace {

using OrderedJson = nlohmann::ordered_json;

// A header larger than this is corruption, not a model: real headers are a few MB at most.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

// Dtype names in the safetensors spec that sieve cannot hold. Such a file is valid but
// unsupported (kUnimplemented); any other unknown name means a corrupt header (kDataLoss).
constexpr const char* kSpecOnlyDtypes[] = {"BOOL",    "I8",  "I16",     "U16",     "U32",
                                           "U64",     "F64", "F8_E5M2", "F8_E8M0", "F6_E2M3",
                                           "F6_E3M2", "F4",  "C64"};

std::string errno_text(int err) {
  return std::strerror(err);
}

// numel × dtype size, or nullopt when it does not fit in 64 bits.
std::optional<uint64_t> byte_size(const std::vector<int64_t>& shape, DType dtype) {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  }
  return n;
}

// Parses one header entry; `where` is "PATH: tensor 'NAME'" for messages.
Status parse_entry(const std::string& where, const std::string& name, const OrderedJson& j,
                   uint64_t data_bytes, SafetensorsEntry* out) {
  if (!j.is_object()) return data_loss(where + " is not a JSON object but " + j.type_name());
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!j.contains(key)) return data_loss(where + " has no \"" + key + "\" field");
  }
  const OrderedJson& dt = j["dtype"];
  if (!dt.is_string()) return data_loss(where + " has a dtype that is not a string: " + dt.dump());
  const std::string dt_name = dt.get<std::string>();
  auto dtype = dtype_from_safetensors(dt_name);
  if (!dtype) {
    for (const char* spec : kSpecOnlyDtypes) {
      if (dt_name == spec) {
        return unimplemented(
            where + " has dtype '" + dt_name +
            "', which sieve does not support (F32, BF16, F16, I32, I64, U8, F8_E4M3)");
      }
    }
    return data_loss(where + " has unknown dtype '" + dt_name + "'");
  }
  const OrderedJson& shape = j["shape"];
  if (!shape.is_array()) return data_loss(where + " has a shape that is not an array");
  out->name = name;
  out->dtype = *dtype;
  out->shape.clear();
  for (const OrderedJson& d : shape) {
    if (!d.is_number_integer()) return data_loss(where + " has a non-integer dim " + d.dump());
    if (d.is_number_unsigned() && d.get<uint64_t>() > uint64_t{INT64_MAX}) {
      return data_loss(where + " has an absurd dim " + d.dump());
    }
    const int64_t v = d.get<int64_t>();
    if (v < 0) return data_loss(where + " has a negative dim in shape " + shape.dump());
    out->shape.push_back(v);
  }
  const OrderedJson& offs = j["data_offsets"];
  if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() ||
      !offs[1].is_number_unsigned()) {
    return data_loss(where + " has data_offsets " + offs.dump() +
                     " that are not two non-negative integers");
  }
  out->begin = offs[0].get<uint64_t>();
  out->end = offs[1].get<uint64_t>();
  if (out->begin > out->end) {
    return data_loss(where + " has data_offsets " + offs.dump() + " that are not ascending");
  }
  if (out->end > data_bytes) {
    return data_loss(where + " ends at byte " + std::to_string(out->end) +
                     " but the data section holds " + std::to_string(data_bytes) +
                     " bytes (file truncated?)");
  }
  auto want = byte_size(out->shape, out->dtype);
  if (!want) return data_loss(where + " has a shape " + shape.dump() + " too large to address");
  if (out->end - out->begin != *want) {
    return data_loss(where + " spans " + std::to_string(out->end - out->begin) +
                     " bytes but dtype " + dt_name + " × shape " + format_shape(out->shape) +
                     " needs " + std::to_string(*want));
  }
  return Status::Ok();
}

}  // namespace

int64_t SafetensorsEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(const_cast<uint8_t*>(map_), size_);
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = path + ": cannot open: " + errno_text(err);
    return err == ENOENT ? not_found(msg) : failed_precondition(msg);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return internal_error(path + ": fstat failed: " + errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid_argument(path + ": not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return data_loss(path + ": file is " + std::to_string(size) +
                     " bytes, too short for the 8-byte header length (file truncated?)");
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) return resource_exhausted(path + ": mmap failed: " + errno_text(map_err));

  // From here on the destructor unmaps, whichever way we leave.
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = static_cast<const uint8_t*>(map);
  f->size_ = size;
  // Loading reads every byte soon; start the readahead now. Advice only, so failure is fine.
  (void)madvise(map, size, MADV_WILLNEED);

  uint64_t header_len = 0;
  std::memcpy(&header_len, f->map_, 8);
  if (header_len > size - 8) {
    return data_loss(path + ": header length " + std::to_string(header_len) +
                     " exceeds the file's remaining " + std::to_string(size - 8) +
                     " bytes (file truncated or not safetensors?)");
  }
  if (header_len > kMaxHeaderBytes) {
    return data_loss(path + ": header length " + std::to_string(header_len) + " is absurd (over " +
                     std::to_string(kMaxHeaderBytes) + " bytes)");
  }
  const char* hdr = reinterpret_cast<const char*>(f->map_ + 8);
  OrderedJson header;
  // A tensor named twice would silently keep only the last entry; note it while parsing (the
  // parsed object no longer shows it) and refuse the file below.
  std::set<std::string> top_keys;
  std::string repeated;
  auto note_keys = [&](int depth, OrderedJson::parse_event_t event, OrderedJson& parsed) {
    if (depth == 1 && event == OrderedJson::parse_event_t::key && repeated.empty() &&
        !top_keys.insert(parsed.get<std::string>()).second) {
      repeated = parsed.get<std::string>();
    }
    return true;
  };
  try {
    header = OrderedJson::parse(hdr, hdr + header_len, note_keys);
  } catch (const nlohmann::json::parse_error& e) {
    return data_loss(path + ": header is not valid JSON at byte " + std::to_string(e.byte) + ": " +
                     e.what());
  } catch (const nlohmann::json::exception& e) {
    return data_loss(path + ": header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) {
    return data_loss(path + ": header is a JSON " + std::string(header.type_name()) +
                     ", not an object");
  }
  if (!repeated.empty()) {
    return data_loss(path + ": tensor '" + repeated + "' appears twice in the header");
  }
  f->data_start_ = f->map_ + 8 + header_len;
  const uint64_t data_bytes = size - 8 - header_len;

  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) return data_loss(path + ": __metadata__ is not a JSON object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) {
          return data_loss(path + ": __metadata__ value for '" + k + "' is not a string");
        }
        f->metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    SafetensorsEntry e;
    SIEVE_RETURN_IF_ERROR(
        parse_entry(path + ": tensor '" + name + "'", name, value, data_bytes, &e));
    f->index_.emplace(name, f->entries_.size());
    f->entries_.push_back(std::move(e));
  }

  // Two tensors sharing bytes would alias silently; sorting by start makes neighbours enough.
  std::vector<const SafetensorsEntry*> by_begin;
  for (const auto& e : f->entries_) {
    if (e.end > e.begin) by_begin.push_back(&e);
  }
  std::sort(by_begin.begin(), by_begin.end(),
            [](const auto* a, const auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_begin.size(); ++i) {
    const auto* prev = by_begin[i - 1];
    const auto* cur = by_begin[i];
    if (cur->begin < prev->end) {
      return data_loss(path + ": tensor '" + cur->name + "' (bytes " + std::to_string(cur->begin) +
                       ".." + std::to_string(cur->end) + ") overlaps tensor '" + prev->name +
                       "' (bytes " + std::to_string(prev->begin) + ".." +
                       std::to_string(prev->end) + ")");
    }
  }
  return f;
}

Status write_safetensors(const std::string& path, const std::vector<SafetensorsWriteEntry>& entries,
                         const std::function<void(size_t index, void* dst)>& fill,
                         const std::map<std::string, std::string>& metadata) {
  OrderedJson header = OrderedJson::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<uint64_t> begins;
  begins.reserve(entries.size());
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& e : entries) {
    if (e.name == "__metadata__" || !names.insert(e.name).second) {
      return invalid_argument(path + ": tensor name '" + e.name + "' is reserved or repeated");
    }
    auto bytes = byte_size(e.shape, e.dtype);
    if (!bytes) {
      return invalid_argument(path + ": tensor '" + e.name + "' has an invalid shape " +
                              format_shape(e.shape));
    }
    begins.push_back(offset);
    header[e.name] = {{"dtype", dtype_name(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + *bytes}}};
    offset += *bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(path + ": cannot encode header: " + e.what());
  }
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t total = 8 + text.size() + offset;

  // Write beside the target and rename at the end, so a failed write never leaves a file that
  // looks complete.
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return failed_precondition(tmp + ": cannot create: " + errno_text(errno));
  auto fail = [&](const std::string& what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return internal_error(tmp + ": " + what + " failed: " + errno_text(err));
  };
  if (ftruncate(fd, static_cast<off_t>(total)) != 0) return fail("ftruncate", errno);
  // Reserve the blocks now: a full disk must be an error here, not SIGBUS while filling.
  if (int err = posix_fallocate(fd, 0, static_cast<off_t>(total));
      err != 0 && err != EOPNOTSUPP && err != EINVAL) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return resource_exhausted(tmp + ": cannot reserve " + std::to_string(total) +
                              " bytes: " + errno_text(err));
  }
  void* map = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return fail("mmap", errno);
  auto* base = static_cast<uint8_t*>(map);
  const uint64_t header_len = text.size();
  std::memcpy(base, &header_len, 8);
  std::memcpy(base + 8, text.data(), text.size());
  uint8_t* data = base + 8 + text.size();
  for (size_t i = 0; i < entries.size(); ++i)
    fill(i, data + begins[i]);
  if (msync(map, total, MS_SYNC) != 0) {
    const int err = errno;
    munmap(map, total);
    return fail("msync", err);
  }
  if (munmap(map, total) != 0) return fail("munmap", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return internal_error(tmp + ": close failed: " + errno_text(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return internal_error(tmp + ": rename to " + path + " failed: " + errno_text(err));
  }
  return Status::Ok();
}

}  // namespace sieve
