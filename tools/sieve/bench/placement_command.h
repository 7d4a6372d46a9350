// `sieve bench placement`: a routing trace replayed through each expert-placement policy's
// planner and residency with a cost model (placement_replay.h); a table, JSON and an SVG of the
// predicted speed-ups.
#pragma once

namespace CLI {
class App;
}

namespace sieve {

void add_bench_placement_command(CLI::App* bench);

}  // namespace sieve
