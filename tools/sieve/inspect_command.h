// `sieve inspect`: what a checkpoint is and what it needs, without loading the weights.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "models/registry.h"

namespace CLI {
class App;
}

namespace sieve {

void add_inspect_command(CLI::App& app);
// The facts `inspect` prints, as JSON (--json) — also what the human-readable form shows.
nlohmann::json describe_model(const ModelDir& dir);

}  // namespace sieve
