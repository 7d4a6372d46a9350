// The pure parts of `sieve bench`: percentiles, SLOs and goodput, workload lengths, arrival
// schedules, the SVG and the comparison table.
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tools/sieve/bench/http_client.h"
#include "tools/sieve/bench/report.h"
#include "tools/sieve/bench/runner.h"
#include "tools/sieve/bench/stats.h"
#include "tools/sieve/bench/svg_chart.h"
#include "tools/sieve/bench/workload.h"

namespace sieve::bench {
namespace {

TEST(BenchStats, PercentilesInterpolateLikeNumpy) {
  const std::vector<double> v = {5, 1, 4, 2, 3};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 3);
  EXPECT_DOUBLE_EQ(percentile(v, 100), 5);
  EXPECT_DOUBLE_EQ(percentile(v, 90), 4.6);  // numpy.percentile([1..5], 90)
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
  const Distribution d = describe_ms({0.001, 0.002, 0.003});
  EXPECT_DOUBLE_EQ(d.mean, 2);
  EXPECT_DOUBLE_EQ(d.p50, 2);
}

RequestResult ok_request(double ttft, double e2e, int64_t tokens) {
  RequestResult r;
  r.ok = true;
  r.ttft_s = ttft;
  r.e2e_s = e2e;
  r.has_usage = true;
  r.prompt_tokens = 10;
  r.completion_tokens = tokens;
  r.stream_counted = true;
  r.stream_tokens = tokens;
  return r;
}

TEST(BenchStats, SloParsingAndGoodput) {
  auto slo = parse_slo("ttft=200ms,tpot=0.05s");
  ASSERT_TRUE(slo.ok());
  EXPECT_DOUBLE_EQ(*slo->ttft_ms, 200);
  EXPECT_DOUBLE_EQ(*slo->tpot_ms, 50);
  EXPECT_FALSE(slo->e2e_ms.has_value());
  EXPECT_FALSE(parse_slo("ttft").ok());
  EXPECT_FALSE(parse_slo("latency=3ms").ok());
  EXPECT_FALSE(parse_slo("ttft=-3ms").ok());
  EXPECT_DOUBLE_EQ(*parse_slo("e2e=150")->e2e_ms, 150);

  std::vector<RequestResult> rs = {
      ok_request(0.1, 1.1, 21),  // tpot 50 ms: meets both
      ok_request(0.3, 0.5, 5),   // ttft too slow
      ok_request(0.1, 2.1, 21),  // tpot 100 ms: too slow
  };
  RequestResult failed;
  failed.error_kind = "http_500";
  rs.push_back(failed);
  rs[2].completion_tokens = 20;  // the stream saw 21: a mismatch
  const Summary s = summarize(rs, 2.0, *slo);
  EXPECT_EQ(s.completed, 3);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.errors.at("http_500"), 1);
  EXPECT_EQ(s.good, 1);
  EXPECT_DOUBLE_EQ(s.goodput, 0.5);
  EXPECT_DOUBLE_EQ(s.request_throughput, 1.5);
  EXPECT_EQ(s.output_tokens, 21 + 5 + 20);
  EXPECT_EQ(s.input_tokens, 30);
  EXPECT_EQ(s.token_mismatches, 1);
  EXPECT_DOUBLE_EQ(*tpot_s(rs[0]), 0.05);
  EXPECT_FALSE(tpot_s(ok_request(0.1, 0.1, 1)).has_value());
}

TEST(BenchWorkload, LengthDistributions) {
  const auto fixed = draw_lengths(LengthDist::kFixed, 100, 0.5, 50, 1);
  for (int64_t v : fixed)
    EXPECT_EQ(v, 100);
  const auto uni = draw_lengths(LengthDist::kUniform, 100, 0.2, 2000, 1);
  for (int64_t v : uni) {
    EXPECT_GE(v, 80);
    EXPECT_LE(v, 120);
  }
  const double mean = std::accumulate(uni.begin(), uni.end(), 0.0) / uni.size();
  EXPECT_NEAR(mean, 100, 2);
  const auto normal = draw_lengths(LengthDist::kNormal, 100, 0.1, 4000, 2);
  double m = 0, var = 0;
  for (int64_t v : normal)
    m += v;
  m /= normal.size();
  for (int64_t v : normal)
    var += (v - m) * (v - m);
  EXPECT_NEAR(m, 100, 1);
  EXPECT_NEAR(std::sqrt(var / normal.size()), 10, 1);
  EXPECT_EQ(draw_lengths(LengthDist::kNormal, 100, 0.1, 10, 5),
            draw_lengths(LengthDist::kNormal, 100, 0.1, 10, 5));
  EXPECT_FALSE(parse_length_dist("zipf").ok());
}

TEST(BenchWorkload, RandomPromptsShareTheirPrefixAndStayInTheVocabulary) {
  WorkloadOptions o;
  o.num_prompts = 5;
  o.input_len = 7;
  o.output_len = 3;
  o.shared_prefix_len = 4;
  o.vocab_size = 1024;
  auto items = make_workload(o);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 5u);
  for (const WorkItem& w : *items) {
    ASSERT_EQ(w.prompt.size(), 11u);
    EXPECT_EQ(w.expected_prompt_len, 11);
    EXPECT_EQ(w.output_len, 3);
    for (size_t i = 0; i < 4; ++i)
      EXPECT_EQ(w.prompt[i], (*items)[0].prompt[i]);
    for (const auto& id : w.prompt) {
      EXPECT_GE(id.get<int64_t>(), 512);
      EXPECT_LT(id.get<int64_t>(), 1024);
    }
  }
  EXPECT_NE((*items)[0].prompt[5], (*items)[1].prompt[5]);
  EXPECT_EQ(token_id_range(0).lo, 1000);
  EXPECT_EQ(token_id_range(0).hi, 30000);
  EXPECT_EQ(token_id_range(151669).hi, 30000);
}

TEST(BenchRunner, ArrivalSchedules) {
  LoadOptions lo;
  lo.request_rate = std::numeric_limits<double>::infinity();
  for (double t : arrival_times(lo, 10))
    EXPECT_EQ(t, 0);
  lo.request_rate = 4;
  lo.poisson = false;
  const auto constant = arrival_times(lo, 5);
  EXPECT_DOUBLE_EQ(constant[4], 1.0);
  lo.poisson = true;
  lo.seed = 3;
  const auto poisson = arrival_times(lo, 4001);
  EXPECT_NEAR(poisson.back() / 4000, 0.25, 0.02);  // mean gap 1/rate
}

TEST(BenchHttp, BaseUrls) {
  auto ep = parse_base_url("http://127.0.0.1:8000/");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, "8000");
  EXPECT_EQ(ep->base_path, "");
  EXPECT_EQ(parse_base_url("http://host/api/")->base_path, "/api");
  EXPECT_EQ(parse_base_url("http://host")->port, "80");
  EXPECT_FALSE(parse_base_url("localhost:8000").ok());
  EXPECT_FALSE(parse_base_url("https://x:1").ok());
  EXPECT_FALSE(parse_base_url("http://x:port").ok());
}

std::vector<RunReport> two_runs() {
  std::vector<RunReport> runs(2);
  runs[0].request_rate = 2;
  runs[0].summary = summarize({ok_request(0.1, 1.1, 21)}, 1.0, {});
  runs[1].request_rate = std::numeric_limits<double>::infinity();
  runs[1].summary = summarize({ok_request(0.2, 1.2, 21), ok_request(0.4, 2.4, 21)}, 1.0, {});
  return runs;
}

TEST(BenchReport, SvgIsWellFormed) {
  const std::string svg = sweep_chart_svg(two_runs(), "a <title> & more");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("a &lt;title&gt; &amp; more"), std::string::npos);
  // Every element opened is closed: tags balance.
  int depth = 0;
  for (size_t pos = svg.find('<'); pos != std::string::npos; pos = svg.find('<', pos + 1)) {
    if (svg.compare(pos, 2, "<?") == 0) continue;
    const size_t end = svg.find('>', pos);
    ASSERT_NE(end, std::string::npos);
    if (svg[pos + 1] == '/') {
      --depth;
    } else if (svg[end - 1] != '/') {
      ++depth;
    }
    ASSERT_GE(depth, 0);
  }
  EXPECT_EQ(depth, 0);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  // An empty sweep still draws.
  EXPECT_NE(sweep_chart_svg({}, "empty").find("</svg>"), std::string::npos);
}

TEST(BenchReport, ComparisonRatios) {
  const auto runs = two_runs();
  nlohmann::json a = {{"runs", {run_to_json(runs[0])}}};
  nlohmann::json b = {{"runs", {run_to_json(runs[1])}}};
  auto table = format_comparison(a, b);
  ASSERT_TRUE(table.ok());
  // output throughput 21 -> 42 tok/s; TTFT mean 100 -> 300 ms.
  EXPECT_NE(table->find("output_throughput"), std::string::npos) << *table;
  EXPECT_NE(table->find("2.000"), std::string::npos) << *table;
  EXPECT_NE(table->find("3.000"), std::string::npos) << *table;
  EXPECT_FALSE(format_comparison(nlohmann::json::object(), b).ok());
  const std::string t = format_table(runs);
  EXPECT_NE(t.find("2 req/s"), std::string::npos) << t;
  EXPECT_NE(t.find("inf"), std::string::npos) << t;
}

}  // namespace
}  // namespace sieve::bench
