// `sieve serve`: the OpenAI-compatible HTTP server (server/), on the CPU backend.
#pragma once

namespace CLI {
class App;
}

namespace sieve {

void add_serve_command(CLI::App& app);

}  // namespace sieve
