// Checkpoint: every fixture opens and validates against what its config implies; reads
// convert dtypes exactly (bf16 rounds to nearest even); sharded writes reopen; and each broken
// checkpoint is one clear error naming the file and the tensor.
#include "engine/checkpoint/checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/checkpoint/tests/checkpoint_test_util.h"
#include "models/model_size.h"
#include "models/registry.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::contains;
using testing::fixture_path;
using testing::read_bytes;

constexpr const char* kVictim = "model.layers.0.self_attn.q_proj.weight";

json read_json_file(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

void write_json_file(const std::string& path, const json& j) {
  std::ofstream out(path, std::ios::trunc);
  out << j.dump(2);
}

// A tensor to write, with its bytes.
struct TensorBytes {
  SafetensorsWriteEntry entry;
  std::vector<uint8_t> bytes;
};

// The fixture's tensors in file order, with their bytes.
std::vector<TensorBytes> fixture_tensors(const std::string& model) {
  auto f = SafetensorsFile::open(fixture_path(model + "/model.safetensors"));
  EXPECT_TRUE(f.ok()) << f.status().to_string();
  std::vector<TensorBytes> out;
  for (const auto& e : (*f)->entries()) {
    const uint8_t* p = (*f)->data(e);
    out.push_back({{e.name, e.dtype, e.shape}, std::vector<uint8_t>(p, p + (e.end - e.begin))});
  }
  return out;
}

// Writes `tensors` with the fixture's config.json into a fresh dir through write_checkpoint.
std::string write_copy(const std::string& model, const std::vector<TensorBytes>& tensors,
                       const std::string& tag, uint64_t max_shard_bytes = 4ull << 30) {
  const std::string dir = testing::make_temp_dir(tag);
  std::vector<SafetensorsWriteEntry> entries;
  for (const auto& t : tensors)
    entries.push_back(t.entry);
  CheckpointWriteOptions opts;
  opts.max_shard_bytes = max_shard_bytes;
  Status s = write_checkpoint(
      dir, read_json_file(fixture_path(model + "/config.json")), entries,
      [&](size_t i, void* dst) {
        std::memcpy(dst, tensors[i].bytes.data(), tensors[i].bytes.size());
      },
      opts);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return dir;
}

// Opens `dir` as a model (open → parse config → validate) and returns the error.
Status open_model_error(const std::string& dir) {
  auto r = open_model_dir(dir);
  EXPECT_FALSE(r.ok()) << dir << " opened but should not have";
  return r.ok() ? Status::Ok() : r.status();
}

TEST(CheckpointTest, EveryFixtureOpensAndValidates) {
  for (const auto& model : testing::fixture_models()) {
    SCOPED_TRACE(model);
    auto ck = Checkpoint::open(fixture_path(model));
    ASSERT_TRUE(ck.ok()) << ck.status().to_string();
    auto config = parse_model_config((*ck)->config());
    ASSERT_TRUE(config.ok()) << config.status().to_string();
    ASSERT_NE(find_family(config->model_type), nullptr);
    const auto expected = expected_tensors(*config);
    Status s = (*ck)->validate(expected);
    EXPECT_TRUE(s.ok()) << s.to_string();
    // What sieve expects is exactly what transformers wrote (golden.json lists it).
    const auto golden = testing::golden_tensors(model);
    EXPECT_EQ(expected.size(), golden.size());
    for (const auto& g : golden) {
      auto it = std::find_if(expected.begin(), expected.end(),
                             [&](const ExpectedTensor& e) { return e.name == g.name; });
      ASSERT_NE(it, expected.end()) << g.name;
      EXPECT_EQ(it->shape, g.shape) << g.name;
    }
    EXPECT_EQ((*ck)->files().size(), 1u);
    EXPECT_GT((*ck)->total_bytes(), 0u);
    auto dir = open_model_dir(fixture_path(model));
    EXPECT_TRUE(dir.ok()) << dir.status().to_string();
  }
}

TEST(CheckpointTest, Bf16FixtureReadsAsRoundedFp32Fixture) {
  auto f32 = Checkpoint::open(fixture_path("models/olmoe"));
  auto b16 = Checkpoint::open(fixture_path("models/olmoe/bf16"));
  ASSERT_TRUE(f32.ok() && b16.ok());
  const auto* t = (*f32)->find(kVictim);
  ASSERT_NE(t, nullptr);
  const size_t n = static_cast<size_t>(t->entry->numel());
  std::vector<uint16_t> from_f32(n), from_b16(n);
  ASSERT_TRUE((*f32)->read(kVictim, DType::kBF16, from_f32.data()).ok());
  ASSERT_TRUE((*b16)->read(kVictim, DType::kBF16, from_b16.data()).ok());
  EXPECT_EQ(from_f32, from_b16);  // torch's .to(bfloat16) rounds to nearest even, as we do
  std::vector<float> widened(n);
  ASSERT_TRUE((*b16)->read(kVictim, DType::kF32, widened.data()).ok());
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &widened[i], 4);
    ASSERT_EQ(bits, uint32_t{from_b16[i]} << 16) << i;
  }
}

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

TEST(CheckpointTest, ReadConvertsF32Bf16F16) {
  // fp32 inputs and their bf16 under round-to-nearest-even, worked out by hand.
  const std::vector<float> f32 = {
      1.0f,
      from_bits(0x3f808000),  // 1 + 2^-8: a tie, rounds to even 1.0
      from_bits(0x3f818000),  // 1 + 3·2^-8: a tie, rounds up to even 1 + 2^-6
      from_bits(0x3f808001),  // just above the tie: rounds up
      from_bits(0x3f807fff),  // just below the tie: rounds down
      -2.5f,
      -0.0f,
      std::numeric_limits<float>::infinity(),
      from_bits(0x7f7fffff),  // FLT_MAX rounds up to +inf
      std::numeric_limits<float>::quiet_NaN(),
  };
  const std::vector<uint16_t> want_bf16 = {0x3f80, 0x3f80, 0x3f82, 0x3f81, 0x3f80,
                                           0xc020, 0x8000, 0x7f80, 0x7f80};  // NaN checked apart
  const std::vector<uint16_t> bf16 = {0x3f80, 0xc0a0, 0x0001, 0xff80};       // 1, -5, tiny, -inf
  // fp16: 1, -2, smallest subnormal 2^-24, +inf, 0x3555 = 0.333251953125 (bf16: 0x3eab).
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555};

  const std::string dir = testing::make_temp_dir("ck-convert");
  const std::vector<SafetensorsWriteEntry> entries = {
      {"f32", DType::kF32, {static_cast<int64_t>(f32.size())}},
      {"bf16", DType::kBF16, {static_cast<int64_t>(bf16.size())}},
      {"f16", DType::kF16, {static_cast<int64_t>(f16.size())}},
      {"i32", DType::kI32, {2}}};
  ASSERT_TRUE(
      write_checkpoint(dir, json{{"model_type", "test"}}, entries, [&](size_t i, void* dst) {
        const void* src[] = {f32.data(), bf16.data(), f16.data()};
        if (i < 3) {
          std::memcpy(dst, src[i],
                      (i == 0 ? 4 : 2) * (i == 0   ? f32.size()
                                          : i == 1 ? bf16.size()
                                                   : f16.size()));
        } else {
          std::memset(dst, 0, 8);
        }
      }).ok());
  auto ck = Checkpoint::open(dir);
  ASSERT_TRUE(ck.ok()) << ck.status().to_string();

  std::vector<uint16_t> got16(f32.size());
  ASSERT_TRUE((*ck)->read("f32", DType::kBF16, got16.data()).ok());
  for (size_t i = 0; i < want_bf16.size(); ++i)
    EXPECT_EQ(got16[i], want_bf16[i]) << "f32[" << i << "]";
  EXPECT_EQ(got16.back() & 0x7f80, 0x7f80);  // NaN stays NaN...
  EXPECT_NE(got16.back() & 0x007f, 0);       // ...and does not become inf
  std::vector<float> got32(f32.size());
  ASSERT_TRUE((*ck)->read("f32", DType::kF32, got32.data()).ok());
  EXPECT_EQ(std::memcmp(got32.data(), f32.data(), 4 * f32.size()), 0);

  got32.assign(bf16.size(), 0);
  ASSERT_TRUE((*ck)->read("bf16", DType::kF32, got32.data()).ok());
  EXPECT_EQ(got32[0], 1.0f);
  EXPECT_EQ(got32[1], -5.0f);
  EXPECT_EQ(got32[2], from_bits(0x00010000));
  EXPECT_EQ(got32[3], -std::numeric_limits<float>::infinity());

  got32.assign(f16.size(), 0);
  ASSERT_TRUE((*ck)->read("f16", DType::kF32, got32.data()).ok());
  EXPECT_EQ(got32[0], 1.0f);
  EXPECT_EQ(got32[1], -2.0f);
  EXPECT_EQ(got32[2], std::ldexp(1.0f, -24));
  EXPECT_EQ(got32[3], std::numeric_limits<float>::infinity());
  EXPECT_EQ(got32[4], 0.333251953125f);
  got16.assign(f16.size(), 0);
  ASSERT_TRUE((*ck)->read("f16", DType::kBF16, got16.data()).ok());
  EXPECT_EQ(got16[0], 0x3f80);
  EXPECT_EQ(got16[1], 0xc000);
  EXPECT_EQ(got16[2], 0x3380);  // 2^-24 is exact in bf16
  EXPECT_EQ(got16[3], 0x7f80);
  EXPECT_EQ(got16[4], 0x3eab);

  // What cannot be read is an error, not garbage.
  std::vector<uint8_t> scratch(64);
  EXPECT_EQ((*ck)->read("nope", DType::kF32, scratch.data()).code(), StatusCode::kNotFound);
  EXPECT_EQ((*ck)->read("f32", DType::kF16, scratch.data()).code(), StatusCode::kInvalidArgument);
  Status s = (*ck)->read("i32", DType::kF32, scratch.data());
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(contains(s.message(), "'i32'")) << s.message();
}

TEST(CheckpointTest, MissingConfigOrWeights) {
  const std::string dir = testing::make_temp_dir("ck-empty");
  auto r = Checkpoint::open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(r.status().message(), "config.json")) << r.status().message();

  write_json_file(dir + "/config.json", json{{"model_type", "qwen3_moe"}});
  r = Checkpoint::open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(r.status().message(), "model.safetensors")) << r.status().message();

  r = Checkpoint::open(dir + "/no-such-dir");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(CheckpointTest, ConfigNotJsonOrNotObject) {
  const std::string dir = testing::copy_fixture("models/mixtral", "ck-badconfig");
  testing::write_bytes(dir + "/config.json", {'{', '"', 'a', '"', ':'});
  auto r = Checkpoint::open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(contains(r.status().message(), "config.json")) << r.status().message();

  write_json_file(dir + "/config.json", json::array({1, 2}));
  r = Checkpoint::open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.status().message(), "not an object")) << r.status().message();
}

TEST(CheckpointTest, CorruptWeightsFileNamesTheFile) {
  const std::string dir = testing::copy_fixture("models/mixtral", "ck-corrupt");
  const std::string path = dir + "/model.safetensors";
  std::vector<uint8_t> bytes = read_bytes(path);
  bytes.resize(bytes.size() / 2);
  testing::write_bytes(path, bytes);
  auto r = Checkpoint::open(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(contains(r.status().message(), path)) << r.status().message();
}

TEST(CheckpointTest, WrongShapeVsConfig) {
  auto tensors = fixture_tensors("models/qwen3_moe");
  for (auto& t : tensors) {
    // Same bytes, transposed shape: the file is self-consistent, only the config disagrees.
    if (t.entry.name == kVictim) std::swap(t.entry.shape[0], t.entry.shape[1]);
  }
  const std::string dir = write_copy("models/qwen3_moe", tensors, "ck-shape");
  Status s = open_model_error(dir);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(s.message(), kVictim)) << s.message();
  EXPECT_TRUE(contains(s.message(), dir + "/model.safetensors")) << s.message();
  EXPECT_TRUE(contains(s.message(), "[64, 128]") && contains(s.message(), "[128, 64]"))
      << s.message();
}

TEST(CheckpointTest, MissingTensor) {
  auto tensors = fixture_tensors("models/olmoe");
  const std::string gone = "model.layers.2.mlp.experts.7.down_proj.weight";
  const size_t before = tensors.size();
  std::erase_if(tensors, [&](const TensorBytes& t) { return t.entry.name == gone; });
  ASSERT_EQ(tensors.size(), before - 1);
  const std::string dir = write_copy("models/olmoe", tensors, "ck-missing");
  Status s = open_model_error(dir);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(s.message(), gone) && contains(s.message(), "missing")) << s.message();
  EXPECT_TRUE(contains(s.message(), dir)) << s.message();
}

TEST(CheckpointTest, UnexpectedTensor) {
  auto tensors = fixture_tensors("models/mixtral");
  // An expert past num_local_experts: a checkpoint for a bigger model than config.json says.
  const std::string extra = "model.layers.0.block_sparse_moe.experts.8.w1.weight";
  tensors.push_back({{extra, DType::kF32, {2}}, std::vector<uint8_t>(8, 0)});
  const std::string dir = write_copy("models/mixtral", tensors, "ck-extra");
  Status s = open_model_error(dir);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(s.message(), extra) && contains(s.message(), "unexpected")) << s.message();
  EXPECT_TRUE(contains(s.message(), dir + "/model.safetensors")) << s.message();
}

TEST(CheckpointTest, UnsupportedWeightDtype) {
  auto tensors = fixture_tensors("models/mixtral");
  for (auto& t : tensors) {
    if (t.entry.name == kVictim) t.entry.dtype = DType::kI32;  // same size as F32
  }
  const std::string dir = write_copy("models/mixtral", tensors, "ck-i32");
  Status s = open_model_error(dir);
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(contains(s.message(), kVictim) && contains(s.message(), "I32")) << s.message();
}

TEST(CheckpointTest, ManyProblemsReportFirstAndCount) {
  auto tensors = fixture_tensors("models/mixtral");
  tensors.resize(tensors.size() - 3);
  const std::string dir = write_copy("models/mixtral", tensors, "ck-many");
  Status s = open_model_error(dir);
  EXPECT_TRUE(contains(s.message(), "and 2 more problems")) << s.message();
}

// A sharded copy of a fixture: several shards and an index.
struct Sharded {
  std::string dir;
  json index;
  std::vector<std::string> shards;  // file names, in order
};

Sharded sharded_copy(const std::string& model, const std::string& tag) {
  Sharded out;
  out.dir = write_copy(model, fixture_tensors(model), tag, /*max_shard_bytes=*/256 << 10);
  out.index = read_json_file(out.dir + "/model.safetensors.index.json");
  for (const auto& e : fs::directory_iterator(out.dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("model-")) out.shards.push_back(name);
  }
  std::sort(out.shards.begin(), out.shards.end());
  return out;
}

TEST(CheckpointTest, ShardedWriteReopens) {
  for (const std::string model : {"models/qwen3_moe", "models/olmoe/bf16"}) {
    SCOPED_TRACE(model);
    const Sharded sh = sharded_copy(model, "ck-sharded");
    ASSERT_GT(sh.shards.size(), 2u);
    EXPECT_FALSE(fs::exists(sh.dir + "/model.safetensors"));
    EXPECT_EQ(sh.shards.front(),
              "model-00001-of-0000" + std::to_string(sh.shards.size()) + ".safetensors");
    auto dir = open_model_dir(sh.dir);
    ASSERT_TRUE(dir.ok()) << dir.status().to_string();
    const Checkpoint& ck = *dir->checkpoint;
    EXPECT_EQ(ck.files().size(), sh.shards.size());
    auto orig = Checkpoint::open(fixture_path(model));
    ASSERT_TRUE(orig.ok());
    EXPECT_EQ(ck.total_bytes(), (*orig)->total_bytes());
    EXPECT_EQ(sh.index["metadata"]["total_size"].get<uint64_t>(), ck.total_bytes());
    // Every tensor's bytes survive, whichever shard holds them.
    for (const auto& [name, t] : (*orig)->tensors()) {
      const CheckpointTensor* c = ck.find(name);
      ASSERT_NE(c, nullptr) << name;
      ASSERT_EQ(c->entry->end - c->entry->begin, t.entry->end - t.entry->begin) << name;
      EXPECT_EQ(std::memcmp(c->file->data(*c->entry), t.file->data(*t.entry),
                            t.entry->end - t.entry->begin),
                0)
          << name;
      EXPECT_EQ(sh.index["weight_map"][name].get<std::string>() + "",
                fs::path(c->file->path()).filename().string());
    }
    // No shard goes past the limit unless a single tensor does.
    for (const auto& f : ck.files()) {
      if (f->entries().size() > 1) {
        EXPECT_LE(f->file_size(), (256u << 10) + (16u << 10)) << f->path();  // + header
      }
    }
  }
}

TEST(CheckpointTest, RewriteInAnotherLayoutRemovesStaleFiles) {
  const Sharded sh = sharded_copy("models/mixtral", "ck-relayout");
  auto tensors = fixture_tensors("models/mixtral");
  std::vector<SafetensorsWriteEntry> entries;
  for (const auto& t : tensors)
    entries.push_back(t.entry);
  Status s = write_checkpoint(sh.dir, read_json_file(fixture_path("models/mixtral/config.json")),
                              entries, [&](size_t i, void* dst) {
                                std::memcpy(dst, tensors[i].bytes.data(), tensors[i].bytes.size());
                              });
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_FALSE(fs::exists(sh.dir + "/model.safetensors.index.json"));
  for (const auto& shard : sh.shards)
    EXPECT_FALSE(fs::exists(sh.dir + "/" + shard)) << shard;
  {
    auto dir = open_model_dir(sh.dir);
    ASSERT_TRUE(dir.ok()) << dir.status().to_string();
    EXPECT_EQ(dir->checkpoint->files().size(), 1u);
  }
  testing::write_bytes(sh.dir + "/notes.txt", {'h', 'i'});  // not ours: must survive

  // Sharded again with a different shard count: the old count's shards go, as does the
  // single file.
  s = write_checkpoint(
      sh.dir, read_json_file(fixture_path("models/mixtral/config.json")), entries,
      [&](size_t i, void* dst) {
        std::memcpy(dst, tensors[i].bytes.data(), tensors[i].bytes.size());
      },
      CheckpointWriteOptions{.max_shard_bytes = 1 << 20, .progress = {}});
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_FALSE(fs::exists(sh.dir + "/model.safetensors"));
  size_t shard_files = 0;
  for (const auto& e : fs::directory_iterator(sh.dir))
    shard_files += e.path().filename().string().starts_with("model-");
  auto again = open_model_dir(sh.dir);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(shard_files, again->checkpoint->files().size());
  EXPECT_NE(shard_files, sh.shards.size());
  EXPECT_TRUE(fs::exists(sh.dir + "/notes.txt"));
}

TEST(CheckpointTest, IndexPointsToMissingShard) {
  const Sharded sh = sharded_copy("models/qwen3_moe", "ck-noshard");
  fs::remove(sh.dir + "/" + sh.shards[1]);
  auto r = Checkpoint::open(sh.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(r.status().message(), sh.shards[1])) << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), "index")) << r.status().message();
}

TEST(CheckpointTest, IndexNamesTensorNotInItsShard) {
  const Sharded sh = sharded_copy("models/qwen3_moe", "ck-ghost");
  json index = sh.index;
  index["weight_map"]["model.layers.9.mlp.gate.weight"] = sh.shards[0];
  write_json_file(sh.dir + "/model.safetensors.index.json", index);
  auto r = Checkpoint::open(sh.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(contains(r.status().message(), "model.layers.9.mlp.gate.weight"))
      << r.status().message();
  EXPECT_TRUE(contains(r.status().message(), sh.shards[0])) << r.status().message();
}

TEST(CheckpointTest, IndexMapsTensorToWrongShard) {
  const Sharded sh = sharded_copy("models/qwen3_moe", "ck-wrongshard");
  json index = sh.index;
  const std::string name = index["weight_map"].begin().key();
  const std::string real = index["weight_map"][name];
  const std::string other = real == sh.shards[0] ? sh.shards[1] : sh.shards[0];
  index["weight_map"][name] = other;
  write_json_file(sh.dir + "/model.safetensors.index.json", index);
  auto r = Checkpoint::open(sh.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(contains(r.status().message(), name)) << r.status().message();
}

TEST(CheckpointTest, TensorInTwoShards) {
  const Sharded sh = sharded_copy("models/qwen3_moe", "ck-twice");
  // Rewrite the second shard (both mappings closed first) with a copy of one tensor from the first
  // added to it.
  auto first = SafetensorsFile::open(sh.dir + "/" + sh.shards[0]);
  auto second = SafetensorsFile::open(sh.dir + "/" + sh.shards[1]);
  ASSERT_TRUE(first.ok() && second.ok());
  std::vector<TensorBytes> tensors;
  for (const auto& e : (*second)->entries()) {
    const uint8_t* p = (*second)->data(e);
    tensors.push_back({{e.name, e.dtype, e.shape}, {p, p + (e.end - e.begin)}});
  }
  const SafetensorsEntry& dup = (*first)->entries().front();
  const std::string dup_name = dup.name;
  const uint8_t* p = (*first)->data(dup);
  tensors.push_back({{dup.name, dup.dtype, dup.shape}, {p, p + (dup.end - dup.begin)}});
  std::vector<SafetensorsWriteEntry> entries;
  for (const auto& t : tensors)
    entries.push_back(t.entry);
  first = Result<std::shared_ptr<SafetensorsFile>>(not_found("closed"));
  second = Result<std::shared_ptr<SafetensorsFile>>(not_found("closed"));
  ASSERT_TRUE(write_safetensors(sh.dir + "/" + sh.shards[1], entries, [&](size_t i, void* dst) {
                std::memcpy(dst, tensors[i].bytes.data(), tensors[i].bytes.size());
              }).ok());
  auto r = Checkpoint::open(sh.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  const std::string& msg = r.status().message();
  EXPECT_TRUE(contains(msg, "'" + dup_name + "'")) << msg;
  EXPECT_TRUE(contains(msg, sh.shards[0]) && contains(msg, sh.shards[1])) << msg;
}

TEST(CheckpointTest, IndexGarbage) {
  const Sharded sh = sharded_copy("models/qwen3_moe", "ck-badindex");
  write_json_file(sh.dir + "/model.safetensors.index.json", json{{"weight_map", 3}});
  auto r = Checkpoint::open(sh.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.status().message(), "weight_map")) << r.status().message();

  // A shard name that reaches outside the checkpoint folder is refused.
  json index = sh.index;
  index["weight_map"][kVictim] = "../elsewhere.safetensors";
  write_json_file(sh.dir + "/model.safetensors.index.json", index);
  r = Checkpoint::open(sh.dir);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.status().message(), "plain file name")) << r.status().message();
}

}  // namespace
}  // namespace sieve
