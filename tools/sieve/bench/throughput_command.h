// `sieve bench throughput`: offline, in-process throughput of the engine (no HTTP): N prompts
// of given lengths through the engine at full speed, prompt and output tokens/s.
#pragma once

namespace CLI {
class App;
}

namespace sieve {

void add_bench_throughput_command(CLI::App* bench);

}  // namespace sieve
