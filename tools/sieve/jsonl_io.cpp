#include "tools/sieve/jsonl_io.h"

#include <cerrno>
#include <cstring>
#include <iostream>

namespace sieve {

Result<std::unique_ptr<JsonlFiles>> JsonlFiles::open(const std::string& input,
                                                     const std::string& output) {
  auto f = std::make_unique<JsonlFiles>();
  f->in_ = &std::cin;
  f->out_ = &std::cout;
  if (input != "-") {
    f->in_file_.open(input);
    if (!f->in_file_) {
      return not_found("cannot read --input " + input + ": " + std::strerror(errno));
    }
    f->in_ = &f->in_file_;
  }
  if (output != "-") {
    f->out_file_.open(output, std::ios::trunc);
    if (!f->out_file_) {
      return invalid_argument("cannot write --output " + output + ": " + std::strerror(errno));
    }
    f->out_ = &f->out_file_;
  }
  return f;
}

void JsonlFiles::write(const nlohmann::ordered_json& line) {
  *out_ << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

bool JsonlFiles::map_lines(
    const std::function<nlohmann::ordered_json(const std::string& line, int64_t number)>& handle) {
  std::string line;
  int64_t number = 0;
  while (std::getline(*in_, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    write(handle(line, number));
  }
  out_->flush();
  return static_cast<bool>(*out_);
}

bool JsonlFiles::map_objects(
    const std::function<Result<nlohmann::ordered_json>(const nlohmann::ordered_json&)>& handle,
    int64_t& lines, int64_t& errors) {
  using json = nlohmann::ordered_json;
  return map_lines([&](const std::string& line, int64_t number) {
    ++lines;
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    Result<json> out = invalid_argument("line " + std::to_string(number) + " is not valid JSON");
    if (j.is_object()) {
      out = handle(j);
    } else if (!j.is_discarded()) {
      out = invalid_argument("a line must be a JSON object, got " + j.dump());
    }
    if (out.ok()) return std::move(*out);
    ++errors;
    json err = json::object();
    err["id"] = j.is_object() && j.contains("id") ? j["id"] : json(number);
    err["error"] = out.status().message();
    return err;
  });
}

}  // namespace sieve
