// The live dashboard page of `sieve serve` (GET /dashboard): one self-contained HTML document,
// no external assets, that polls GET /dashboard/data once a second and draws the MoE layers'
// expert load as a heatmap (and, with an expert placement, which tier each expert ran on and
// which are resident) next to sparklines of throughput, latency, queue and KV use.
#pragma once

#include <string_view>

namespace sieve::server {

std::string_view dashboard_page();

}  // namespace sieve::server
