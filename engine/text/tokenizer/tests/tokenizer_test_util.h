// Shared helpers for the tokenizer tests: cached real tokenizers and golden lines.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/text/tokenizer/tokenizer.h"
#include "tests/support/fixtures.h"

namespace sieve::testing {

// The three real tokenizers, loaded once per process.
inline std::shared_ptr<const Tokenizer> real_tokenizer(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  auto t = Tokenizer::load(fixture_path("tokenizers/" + name + "/tokenizer.json"));
  if (!t.ok()) ADD_FAILURE() << t.status().to_string();
  if (!t.ok()) return nullptr;
  cache[name] = *t;
  return *t;
}

struct GoldenLine {
  std::string text;
  std::vector<int32_t> ids;
  std::string decoded;  // `decoded` when present, else `text`
};

std::vector<GoldenLine> golden_lines(const std::string& name);

// A tokenizer built from inline JSON; fails the test on error.
inline std::shared_ptr<const Tokenizer> from_json_or_die(const std::string& json) {
  auto t = Tokenizer::from_json(json, "test.json");
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? *t : nullptr;
}

}  // namespace sieve::testing
