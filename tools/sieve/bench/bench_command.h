// `sieve bench`: load tests of a running server (`bench serve`, OpenAI-compatible HTTP), the
// engine's offline throughput (`bench throughput`), expert-placement policies replayed on a
// routing trace (`bench placement`), routing traces written or described (`bench trace`) and
// side-by-side ratios of two result files (`bench compare`).
#pragma once

namespace CLI {
class App;
}

namespace sieve {

void add_bench_command(CLI::App& app);

}  // namespace sieve
