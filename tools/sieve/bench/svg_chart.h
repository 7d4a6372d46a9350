// Self-contained SVG charts of benchmark results: a sweep's TTFT and TPOT percentiles against
// its throughput (bench serve), and grouped bars of ratios against a reference line (bench
// placement's speed-ups).
#pragma once

#include <string>
#include <vector>

#include "tools/sieve/bench/report.h"

namespace sieve::bench {

// TTFT and TPOT percentiles (p50, p90, p99) against the achieved output throughput, one point per
// load level.
std::string sweep_chart_svg(const std::vector<RunReport>& runs, const std::string& title);

// One group of bars (a policy): one value per series (a speed-up over each baseline). A value
// that is not positive draws no bar; a group with `note` (e.g. "does not fit") shows it instead
// of its bars.
struct BarGroup {
  std::string label;
  std::string caption;         // a second line under the label (the policy's time per step)
  std::vector<double> values;  // [series]
  std::string note;
};
struct BarChart {
  std::string title, y_label;
  std::vector<std::string> subtitle;  // lines under the title
  std::vector<std::string> series;    // legend, one colour each
  std::vector<BarGroup> groups;
  double reference = 1.0;  // a dashed line across the chart (1×: as fast as the baseline)
};
std::string bar_chart_svg(const BarChart& chart);

}  // namespace sieve::bench
