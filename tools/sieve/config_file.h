// `--config FILE`: every flag of a subcommand can come from a JSON object in a file,
// {"max-num-seqs": 8, "dtype": "bf16"} (underscores work too); flags on the command line win.
#pragma once

#include <string>
#include <vector>

#include "engine/base/status.h"

namespace sieve {

// Rewrites argv: removes "--config FILE" / "--config=FILE" and inserts the file's flags right
// after the subcommand name, so later command-line flags override them (the parser keeps the
// last value of a repeated flag).
Result<std::vector<std::string>> expand_config_file(const std::vector<std::string>& args);

}  // namespace sieve
