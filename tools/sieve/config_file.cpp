#include "tools/sieve/config_file.h"

#include <fstream>

#include <nlohmann/json.hpp>

namespace sieve {

Result<std::vector<std::string>> expand_config_file(const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  std::string path;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config") {
      if (i + 1 >= args.size()) return invalid_argument("--config needs a file name");
      path = args[++i];
    } else if (args[i].rfind("--config=", 0) == 0) {
      path = args[i].substr(9);
    } else {
      rest.push_back(args[i]);
    }
  }
  if (path.empty()) return rest;
  std::ifstream in(path);
  if (!in) return not_found("--config " + path + ": cannot read the file");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return invalid_argument("--config " + path +
                            ": must be a JSON object of flags, e.g. {\"max-num-seqs\": 8}");
  }
  std::vector<std::string> flags;
  for (const auto& [key, value] : j.items()) {
    std::string flag = "--" + key;
    for (char& ch : flag)
      ch = ch == '_' ? '-' : ch;
    auto scalar = [](const nlohmann::json& v) {
      return v.is_string() ? v.get<std::string>() : v.dump();
    };
    if (value.is_boolean()) {
      if (value.get<bool>()) flags.push_back(flag);
    } else if (value.is_array()) {
      for (const auto& v : value) {
        flags.push_back(flag);
        flags.push_back(scalar(v));
      }
    } else if (value.is_null() || value.is_object()) {
      return invalid_argument("--config " + path + ": '" + key +
                              "' must be a string, number, boolean or list");
    } else {
      flags.push_back(flag);
      flags.push_back(scalar(value));
    }
  }
  // Program name, then the subcommand (the words before the first flag: `run`, or
  // `bench serve`), then the file's flags, then everything else the user typed.
  std::vector<std::string> out;
  size_t i = 0;
  if (!rest.empty()) out.push_back(rest[i++]);
  while (i < rest.size() && rest[i].rfind("-", 0) != 0)
    out.push_back(rest[i++]);
  out.insert(out.end(), flags.begin(), flags.end());
  out.insert(out.end(), rest.begin() + i, rest.end());
  return out;
}

}  // namespace sieve
