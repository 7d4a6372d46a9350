// Helpers shared by the safetensors and checkpoint tests: copying fixtures into temp dirs and
// breaking the copies in controlled ways.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/checkpoint/checkpoint.h"
#include "models/registry.h"
#include "tests/support/fixtures.h"

namespace sieve::testing {

// The fixture checkpoints these tests open: every supported family's (the fixture folder is
// named after its model_type), fp32 and then the bf16 copies.
inline const std::vector<std::string>& fixture_models() {
  static const std::vector<std::string> kModels = [] {
    std::vector<std::string> models;
    for (const std::string& family : supported_model_types())
      models.push_back("models/" + family);
    for (const std::string& family : supported_model_types())
      models.push_back("models/" + family + "/bf16");
    return models;
  }();
  return kModels;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// A writable copy of a fixture checkpoint (config.json + model.safetensors) in a fresh dir.
inline std::string copy_fixture(const std::string& model, const std::string& tag) {
  std::string dir = make_temp_dir(tag);
  for (const char* f : {"config.json", "model.safetensors"}) {
    write_bytes(dir + "/" + f, read_bytes(fixture_path(model + "/" + f)));
  }
  return dir;
}

// The tensors golden.json says the checkpoint holds, as the expectations validate() takes.
inline std::vector<ExpectedTensor> golden_tensors(const std::string& model) {
  std::ifstream in(fixture_path(model + "/golden.json"));
  nlohmann::json golden = nlohmann::json::parse(in);
  std::vector<ExpectedTensor> out;
  for (const auto& [name, shape] : golden.at("checkpoint_tensors").items()) {
    out.push_back({name, shape.get<std::vector<int64_t>>()});
  }
  return out;
}

// Rewrites a safetensors file's header through `edit`, keeping the data section as it is.
inline void rewrite_header(const std::string& path,
                           const std::function<void(nlohmann::ordered_json&)>& edit) {
  std::vector<uint8_t> bytes = read_bytes(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  auto header = nlohmann::ordered_json::parse(bytes.begin() + 8, bytes.begin() + 8 + n);
  edit(header);
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t len = text.size();
  const size_t data_bytes = bytes.size() - 8 - n;
  // Sized once and filled by memcpy (GCC 12 misreads insert() after a small vector as overflow).
  std::vector<uint8_t> out(8 + len + data_bytes);
  std::memcpy(out.data(), &len, 8);
  std::memcpy(out.data() + 8, text.data(), len);
  std::memcpy(out.data() + 8 + len, bytes.data() + 8 + n, data_bytes);
  write_bytes(path, out);
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace sieve::testing
