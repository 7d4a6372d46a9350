#include "tools/sieve/bench/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sieve::bench {
namespace {

constexpr double kPanelW = 420, kPanelH = 300, kMarginL = 60, kMarginT = 50, kMarginB = 50;
constexpr const char* kColors[] = {"#1f77b4", "#ff7f0e", "#d62728"};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A round upper bound for an axis: 1, 2 or 5 times a power of ten.
double nice_max(double v) {
  if (!(v > 0)) return 1;
  const double p = std::pow(10, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v) return m * p;
  return 10 * p;
}

struct Series {
  std::string name;
  std::vector<double> y;
};

std::string panel(double x0, const std::string& title, const std::vector<double>& xs,
                  const std::vector<Series>& series) {
  double xmax = 0, ymax = 0;
  for (double x : xs)
    xmax = std::max(xmax, x);
  for (const Series& s : series)
    for (double y : s.y)
      ymax = std::max(ymax, y);
  xmax = nice_max(xmax);
  ymax = nice_max(ymax);
  const double w = kPanelW - kMarginL - 20, h = kPanelH - kMarginT - kMarginB;
  const double left = x0 + kMarginL, top = kMarginT;
  auto px = [&](double x) { return left + x / xmax * w; };
  auto py = [&](double y) { return top + h - y / ymax * h; };
  std::string out;
  out += "<text x=\"" + num(left + w / 2) + "\" y=\"30\" text-anchor=\"middle\" " +
         "font-weight=\"bold\">" + escape(title) + "</text>\n";
  // Axes, ticks and grid.
  for (int i = 0; i <= 5; ++i) {
    const double fx = xmax * i / 5, fy = ymax * i / 5;
    out += "<line x1=\"" + num(left) + "\" y1=\"" + num(py(fy)) + "\" x2=\"" + num(left + w) +
           "\" y2=\"" + num(py(fy)) + "\" stroke=\"#ddd\"/>\n";
    out += "<text x=\"" + num(left - 6) + "\" y=\"" + num(py(fy) + 4) + "\" text-anchor=\"end\">" +
           num(fy) + "</text>\n";
    out += "<text x=\"" + num(px(fx)) + "\" y=\"" + num(top + h + 16) +
           "\" text-anchor=\"middle\">" + num(fx) + "</text>\n";
  }
  out += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(w) + "\" height=\"" +
         num(h) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  out += "<text x=\"" + num(left + w / 2) + "\" y=\"" + num(top + h + 36) +
         "\" text-anchor=\"middle\">output throughput (tok/s)</text>\n";
  out += "<text transform=\"translate(" + num(x0 + 16) + "," + num(top + h / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">ms</text>\n";
  // One line per percentile; points in sweep order.
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    std::string points;
    for (size_t i = 0; i < xs.size(); ++i)
      points += (i ? " " : "") + num(px(xs[i])) + "," + num(py(s.y[i]));
    out += "<polyline fill=\"none\" stroke=\"" + std::string(kColors[k % 3]) +
           "\" stroke-width=\"2\" points=\"" + points + "\"/>\n";
    for (size_t i = 0; i < xs.size(); ++i) {
      out += "<circle cx=\"" + num(px(xs[i])) + "\" cy=\"" + num(py(s.y[i])) +
             "\" r=\"3\" fill=\"" + kColors[k % 3] + "\"/>\n";
    }
    out += "<text x=\"" + num(left + 8) + "\" y=\"" + num(top + 14 + 14 * k) + "\" fill=\"" +
           kColors[k % 3] + "\">" + escape(s.name) + "</text>\n";
  }
  return out;
}

}  // namespace

std::string sweep_chart_svg(const std::vector<RunReport>& runs, const std::string& title) {
  std::vector<double> xs;
  Series ttft[3] = {{"p50", {}}, {"p90", {}}, {"p99", {}}};
  Series tpot[3] = {{"p50", {}}, {"p90", {}}, {"p99", {}}};
  for (const RunReport& r : runs) {
    const Summary& s = r.summary;
    xs.push_back(s.output_throughput);
    ttft[0].y.push_back(s.ttft.p50);
    ttft[1].y.push_back(s.ttft.p90);
    ttft[2].y.push_back(s.ttft.p99);
    tpot[0].y.push_back(s.tpot.p50);
    tpot[1].y.push_back(s.tpot.p90);
    tpot[2].y.push_back(s.tpot.p99);
  }
  const double width = 2 * kPanelW, height = kPanelH + 20;
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" +
         num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) +
         "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  out += "<title>" + escape(title) + "</title>\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out += "<text x=\"8\" y=\"14\" fill=\"#555\">" + escape(title) + "</text>\n";
  out += panel(0, "time to first token", xs, {ttft[0], ttft[1], ttft[2]});
  out += panel(kPanelW, "time per output token", xs, {tpot[0], tpot[1], tpot[2]});
  out += "</svg>\n";
  return out;
}

}  // namespace sieve::bench
