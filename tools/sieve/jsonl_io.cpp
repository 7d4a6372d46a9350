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

}  // namespace sieve
