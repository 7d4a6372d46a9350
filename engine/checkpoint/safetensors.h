// The safetensors format: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data.
// Files are memory-mapped; opening one validates its whole header before anything else
// happens, so a truncated or corrupt file is one clear error, never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/dtype.h"
#include "engine/base/status.h"

namespace sieve {

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps the file read-only and validates: file long enough for the header length, header
  // length within the file, header is a JSON object naming each tensor once, every entry has a
  // known dtype, a shape of non-negative dims, offsets that are inside the file, match
  // dtype × shape, and do not overlap. Errors name the file (and the tensor).
  static Result<std::shared_ptr<SafetensorsFile>> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  // Entries in header order.
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const SafetensorsEntry* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Pointer to the first byte of an entry's data inside the mapping.
  const uint8_t* data(const SafetensorsEntry& e) const { return data_start_ + e.begin; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  const uint8_t* data_start_ = nullptr;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// Writing, for make-checkpoint and tests. Entries are laid out in the given order; `fill`
// writes entry i's bytes (dtype_size × numel) straight into the output mapping.
struct SafetensorsWriteEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
};
Status write_safetensors(const std::string& path, const std::vector<SafetensorsWriteEntry>& entries,
                         const std::function<void(size_t index, void* dst)>& fill,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace sieve
