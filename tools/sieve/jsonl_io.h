// --input and --output of a JSONL command: files, or '-' for stdin / stdout.
#pragma once

#include <fstream>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"

namespace sieve {

class JsonlFiles {
 public:
  // Errors name the flag and the path ("cannot read --input x.jsonl: No such file...").
  static Result<std::unique_ptr<JsonlFiles>> open(const std::string& input,
                                                  const std::string& output);
  std::istream& in() { return *in_; }
  std::ostream& out() { return *out_; }
  // One result per line; invalid UTF-8 in strings becomes U+FFFD rather than an exception.
  void write(const nlohmann::ordered_json& line);

  // Calls `handle` with every non-blank input line and its 1-based number; writes what it
  // returns. Returns false when writing failed.
  bool map_lines(
      const std::function<nlohmann::ordered_json(const std::string& line, int64_t number)>& handle);

  // map_lines for lines that are JSON objects: `handle` gets the object. A line that is not
  // JSON, not an object, or whose handler fails is written as {"id", "error"} (its "id", else
  // its line number) and counted in `errors`.
  bool map_objects(
      const std::function<Result<nlohmann::ordered_json>(const nlohmann::ordered_json&)>& handle,
      int64_t& lines, int64_t& errors);

 private:
  std::ifstream in_file_;
  std::ofstream out_file_;
  std::istream* in_ = nullptr;
  std::ostream* out_ = nullptr;
};

}  // namespace sieve
