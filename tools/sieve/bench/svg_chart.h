// A self-contained SVG of a sweep: TTFT and TPOT percentiles (p50, p90, p99) against the
// achieved output throughput, one point per load level.
#pragma once

#include <string>
#include <vector>

#include "tools/sieve/bench/report.h"

namespace sieve::bench {

std::string sweep_chart_svg(const std::vector<RunReport>& runs, const std::string& title);

}  // namespace sieve::bench
