// `sieve bench trace`: routing traces for placement replays without a model run — drawn from a
// Zipf law or from real models' routing statistics onto a model's shape — and the skew figures
// (top-8 share, Gini, max/mean, per-step load) of any trace, recorded ones included.
#pragma once

namespace CLI {
class App;
}

namespace sieve {

void add_bench_trace_command(CLI::App* bench);

}  // namespace sieve
