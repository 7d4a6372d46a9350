// SafetensorsFile: every fixture file opens; the writer's output reads back exactly; and each
// way a file can be corrupt is one clear error naming the file (and the tensor), never a crash.
#include "engine/checkpoint/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/checkpoint/tests/checkpoint_test_util.h"

namespace sieve {
namespace {

using testing::contains;
using testing::copy_fixture;
using testing::fixture_path;
using testing::read_bytes;
using testing::rewrite_header;
using testing::write_bytes;
using OrderedJson = nlohmann::ordered_json;

// A tensor every fixture holds, used as the victim when breaking headers.
constexpr const char* kVictim = "model.layers.0.self_attn.q_proj.weight";

// A broken copy of the qwen3_moe fixture's weights file; returns its path.
std::string broken_copy(const std::string& tag) {
  return copy_fixture("models/qwen3_moe", tag) + "/model.safetensors";
}

// Opens `path`, expects failure with `code`, and returns the message for further checks.
std::string expect_open_error(const std::string& path, StatusCode code) {
  auto r = SafetensorsFile::open(path);
  EXPECT_FALSE(r.ok()) << path << " opened but should not have";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_TRUE(contains(r.status().message(), path)) << r.status().message();
  return r.status().message();
}

// Replaces the 8-byte header length and keeps everything else.
void set_header_len(const std::string& path, uint64_t len) {
  std::vector<uint8_t> bytes = read_bytes(path);
  std::memcpy(bytes.data(), &len, 8);
  write_bytes(path, bytes);
}

// Writes a file with a raw header text and `data_bytes` zero bytes of data.
void write_raw(const std::string& path, const std::string& header, size_t data_bytes) {
  const uint64_t len = header.size();
  std::vector<uint8_t> out(8 + len + data_bytes, 0);
  std::memcpy(out.data(), &len, 8);
  std::memcpy(out.data() + 8, header.data(), len);
  write_bytes(path, out);
}

TEST(SafetensorsTest, OpensEveryFixtureFile) {
  for (const auto& model : testing::fixture_models()) {
    SCOPED_TRACE(model);
    auto r = SafetensorsFile::open(fixture_path(model + "/model.safetensors"));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    const auto& f = **r;
    EXPECT_FALSE(f.entries().empty());
    const bool bf16 = contains(model, "bf16");
    for (const auto& e : f.entries()) {
      EXPECT_EQ(e.dtype, bf16 ? DType::kBF16 : DType::kF32) << e.name;
      EXPECT_EQ(e.end - e.begin, static_cast<uint64_t>(e.numel()) * dtype_size(e.dtype));
      EXPECT_EQ(f.find(e.name), &e);
    }
    EXPECT_NE(f.find(kVictim), nullptr);
    EXPECT_EQ(f.find("no.such.tensor"), nullptr);
  }
}

TEST(SafetensorsTest, WriteThenReadBack) {
  const std::string path = testing::make_temp_dir("st-write") + "/t.safetensors";
  const std::vector<SafetensorsWriteEntry> entries = {{"a", DType::kF32, {2, 3}},
                                                      {"b", DType::kBF16, {5}},
                                                      {"empty", DType::kF32, {0, 4}},
                                                      {"c", DType::kI32, {1}}};
  auto fill = [](size_t i, void* dst) {
    if (i == 0) {
      const float v[6] = {1, 2, 3, 4, 5, -6.5f};
      std::memcpy(dst, v, sizeof(v));
    } else if (i == 1) {
      const uint16_t v[5] = {0x3f80, 0x4000, 0xbf80, 0x0000, 0x7f80};
      std::memcpy(dst, v, sizeof(v));
    } else if (i == 3) {
      const int32_t v = -7;
      std::memcpy(dst, &v, 4);
    }
  };
  ASSERT_TRUE(write_safetensors(path, entries, fill, {{"format", "pt"}}).ok());
  auto r = SafetensorsFile::open(path);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const auto& f = **r;
  ASSERT_EQ(f.entries().size(), 4u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  // The data section starts 8-byte aligned, as the reference writer lays it out.
  uint64_t header_len = 0;
  std::memcpy(&header_len, read_bytes(path).data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  const SafetensorsEntry* a = f.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  float av[6];
  std::memcpy(av, f.data(*a), sizeof(av));
  EXPECT_EQ(av[5], -6.5f);
  const SafetensorsEntry* b = f.find("b");
  uint16_t bv[5];
  std::memcpy(bv, f.data(*b), sizeof(bv));
  EXPECT_EQ(bv[4], 0x7f80);
  EXPECT_EQ(f.find("empty")->numel(), 0);
  int32_t cv;
  std::memcpy(&cv, f.data(*f.find("c")), 4);
  EXPECT_EQ(cv, -7);
  // Header order is kept.
  EXPECT_EQ(f.entries()[2].name, "empty");
}

TEST(SafetensorsTest, WriterRejectsRepeatedAndReservedNames) {
  const std::string dir = testing::make_temp_dir("st-names");
  auto noop = [](size_t, void*) {};
  Status s = write_safetensors(dir + "/x.safetensors",
                               {{"a", DType::kF32, {1}}, {"a", DType::kF32, {1}}}, noop);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(s.message(), "'a'")) << s.message();
  s = write_safetensors(dir + "/y.safetensors", {{"__metadata__", DType::kF32, {1}}}, noop);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  const std::string path = testing::make_temp_dir("st-missing") + "/nope.safetensors";
  expect_open_error(path, StatusCode::kNotFound);
}

TEST(SafetensorsTest, TruncatedFile) {
  const std::string path = broken_copy("st-trunc");
  std::vector<uint8_t> bytes = read_bytes(path);
  bytes.resize(bytes.size() - 100);
  write_bytes(path, bytes);
  const std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, "truncated")) << msg;
  EXPECT_TRUE(contains(msg, "tensor '")) << msg;
}

TEST(SafetensorsTest, FileShorterThanHeaderLength) {
  const std::string path = testing::make_temp_dir("st-short") + "/model.safetensors";
  write_bytes(path, {1, 2, 3});
  const std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, "too short")) << msg;
}

TEST(SafetensorsTest, HeaderLengthLargerThanFile) {
  const std::string path = broken_copy("st-hdrlen");
  set_header_len(path, read_bytes(path).size());
  const std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, "header length")) << msg;
}

TEST(SafetensorsTest, HeaderLengthAbsurd) {
  const std::string path = broken_copy("st-absurd");
  set_header_len(path, ~uint64_t{0});
  std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, "header length")) << msg;

  // Within the file but beyond any real header: a sparse 300 MB file costs no disk.
  const std::string sparse = testing::make_temp_dir("st-sparse") + "/model.safetensors";
  const uint64_t len = 200ull << 20;
  write_bytes(sparse, std::vector<uint8_t>(8));
  set_header_len(sparse, len);
  ASSERT_EQ(truncate(sparse.c_str(), 300ll << 20), 0);
  msg = expect_open_error(sparse, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, "absurd")) << msg;
}

TEST(SafetensorsTest, HeaderJsonGarbage) {
  const std::string path = broken_copy("st-garbage");
  std::vector<uint8_t> bytes = read_bytes(path);
  const char junk[] = "{\"a\": [1, 2,, }";
  std::memcpy(bytes.data() + 8, junk, sizeof(junk) - 1);
  write_bytes(path, bytes);
  const std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, "not valid JSON")) << msg;
}

TEST(SafetensorsTest, HeaderNotAnObject) {
  const std::string path = testing::make_temp_dir("st-array") + "/model.safetensors";
  write_raw(path, "[1, 2, 3]", 0);
  const std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, "not an object")) << msg;
}

TEST(SafetensorsTest, EntryNotAnObjectOrMissingFields) {
  const std::string path = broken_copy("st-entry");
  rewrite_header(path, [](OrderedJson& h) { h[kVictim] = 3; });
  std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim)) << msg;

  const std::string path2 = broken_copy("st-fields");
  rewrite_header(path2, [](OrderedJson& h) { h[kVictim].erase("shape"); });
  msg = expect_open_error(path2, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim) && contains(msg, "\"shape\"")) << msg;
}

TEST(SafetensorsTest, UnknownDtype) {
  const std::string path = broken_copy("st-dtype");
  rewrite_header(path, [](OrderedJson& h) { h[kVictim]["dtype"] = "F33"; });
  const std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim) && contains(msg, "'F33'")) << msg;
}

TEST(SafetensorsTest, SpecDtypeSieveCannotHoldIsUnimplemented) {
  const std::string path = broken_copy("st-f64");
  rewrite_header(path, [](OrderedJson& h) { h[kVictim]["dtype"] = "F64"; });
  const std::string msg = expect_open_error(path, StatusCode::kUnimplemented);
  EXPECT_TRUE(contains(msg, kVictim) && contains(msg, "F64")) << msg;
}

TEST(SafetensorsTest, BadShape) {
  const std::string path = broken_copy("st-negdim");
  rewrite_header(path, [](OrderedJson& h) { h[kVictim]["shape"] = {-128, -64}; });
  std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim) && contains(msg, "negative")) << msg;

  const std::string path2 = broken_copy("st-strdim");
  rewrite_header(path2, [](OrderedJson& h) { h[kVictim]["shape"] = {"128", 64}; });
  msg = expect_open_error(path2, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim)) << msg;

  // A shape whose byte size overflows 64 bits must not wrap around to a "matching" size.
  const std::string path3 = broken_copy("st-hugedim");
  rewrite_header(path3, [](OrderedJson& h) {
    h[kVictim]["shape"] = {int64_t{1} << 62, int64_t{1} << 62};
  });
  msg = expect_open_error(path3, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim)) << msg;
}

TEST(SafetensorsTest, OffsetsOutOfFile) {
  const std::string path = broken_copy("st-oob");
  const uint64_t size = read_bytes(path).size();
  rewrite_header(path, [&](OrderedJson& h) {
    const uint64_t begin = h[kVictim]["data_offsets"][0].get<uint64_t>();
    const uint64_t n = h[kVictim]["data_offsets"][1].get<uint64_t>() - begin;
    h[kVictim]["data_offsets"] = {size, size + n};
  });
  const std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim) && contains(msg, "data section")) << msg;
}

TEST(SafetensorsTest, OffsetsNotAscendingOrNotIntegers) {
  const std::string path = broken_copy("st-desc");
  rewrite_header(path, [](OrderedJson& h) {
    auto& o = h[kVictim]["data_offsets"];
    o = {o[1], o[0]};
  });
  std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim) && contains(msg, "ascending")) << msg;

  const std::string path2 = broken_copy("st-negoff");
  rewrite_header(path2, [](OrderedJson& h) { h[kVictim]["data_offsets"] = {-4, 8}; });
  msg = expect_open_error(path2, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim)) << msg;
}

TEST(SafetensorsTest, OverlappingOffsets) {
  const std::string path = broken_copy("st-overlap");
  // Point the victim one element into the tensor that starts the data section: same size, so
  // only the overlap is wrong.
  rewrite_header(path, [](OrderedJson& h) {
    uint64_t first = ~uint64_t{0};
    for (auto& [name, v] : h.items()) {
      if (name == "__metadata__" || name == kVictim) continue;
      first = std::min(first, v["data_offsets"][0].get<uint64_t>());
    }
    auto& o = h[kVictim]["data_offsets"];
    const uint64_t n = o[1].get<uint64_t>() - o[0].get<uint64_t>();
    o = {first + 4, first + 4 + n};
  });
  const std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, "overlaps")) << msg;
  EXPECT_TRUE(contains(msg, kVictim)) << msg;
}

TEST(SafetensorsTest, OffsetsNotMatchingDtypeTimesShape) {
  const std::string path = broken_copy("st-size");
  rewrite_header(path, [](OrderedJson& h) {
    auto& o = h[kVictim]["data_offsets"];
    o = {o[0].get<uint64_t>(), o[1].get<uint64_t>() - 4};
  });
  std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim) && contains(msg, "needs")) << msg;

  // Same bytes, but claiming BF16: half the bytes are needed.
  const std::string path2 = broken_copy("st-size-dtype");
  rewrite_header(path2, [](OrderedJson& h) { h[kVictim]["dtype"] = "BF16"; });
  msg = expect_open_error(path2, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, kVictim) && contains(msg, "BF16")) << msg;
}

TEST(SafetensorsTest, TensorNamedTwiceInHeader) {
  const std::string path = testing::make_temp_dir("st-dupkey") + "/model.safetensors";
  const std::string entry = R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  const std::string entry2 = R"({"dtype": "F32", "shape": [2], "data_offsets": [8, 16]})";
  write_raw(path, "{\"w\": " + entry + ", \"w\": " + entry2 + "}", 16);
  const std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, "'w'") && contains(msg, "twice")) << msg;
  // Nested repeated keys are not tensor names and are left to the entry checks.
  write_raw(path, R"({"w": )" + entry + R"(, "__metadata__": {"format": "pt"}})", 8);
  EXPECT_TRUE(SafetensorsFile::open(path).ok());
}

TEST(SafetensorsTest, MetadataMustHoldStrings) {
  const std::string path = broken_copy("st-meta");
  rewrite_header(path, [](OrderedJson& h) { h["__metadata__"] = {{"format", 1}}; });
  const std::string msg = expect_open_error(path, StatusCode::kDataLoss);
  EXPECT_TRUE(contains(msg, "__metadata__")) << msg;
}

TEST(SafetensorsTest, DirectoryIsNotAFile) {
  const std::string dir = testing::make_temp_dir("st-dir");
  auto r = SafetensorsFile::open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.status().message(), dir)) << r.status().message();
}

}  // namespace
}  // namespace sieve
