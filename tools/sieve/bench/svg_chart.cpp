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

std::string num2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
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

std::string bar_chart_svg(const BarChart& chart) {
  constexpr double kBarW = 44, kGap = 40, kLeft = 70, kPlotH = 300, kBottom = 76;
  const double kTop = 50 + 16 * static_cast<double>(chart.subtitle.size());
  const size_t nseries = std::max<size_t>(1, chart.series.size());
  const double group_w = static_cast<double>(nseries) * kBarW + kGap;
  const double plot_w = std::max(760.0, static_cast<double>(chart.groups.size()) * group_w + kGap);
  const double width = kLeft + plot_w + 30, height = kTop + kPlotH + kBottom;
  double ymax = chart.reference;
  for (const BarGroup& g : chart.groups)
    for (double v : g.values)
      if (std::isfinite(v)) ymax = std::max(ymax, v);
  ymax = nice_max(ymax * 1.1);
  auto py = [&](double y) { return kTop + kPlotH - y / ymax * kPlotH; };

  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" +
         num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  out += "<title>" + escape(chart.title) + "</title>\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out += "<text x=\"" + num(width / 2) +
         "\" y=\"24\" text-anchor=\"middle\" font-weight=\"bold\" " + "font-size=\"15\">" +
         escape(chart.title) + "</text>\n";
  for (size_t i = 0; i < chart.subtitle.size(); ++i) {
    out += "<text x=\"" + num(width / 2) + "\" y=\"" + num(44 + 16 * static_cast<double>(i)) +
           "\" text-anchor=\"middle\" fill=\"#555\">" + escape(chart.subtitle[i]) + "</text>\n";
  }
  for (int i = 0; i <= 5; ++i) {
    const double fy = ymax * i / 5;
    out += "<line x1=\"" + num(kLeft) + "\" y1=\"" + num(py(fy)) + "\" x2=\"" +
           num(kLeft + plot_w) + "\" y2=\"" + num(py(fy)) + "\" stroke=\"#e5e5e5\"/>\n";
    out += "<text x=\"" + num(kLeft - 6) + "\" y=\"" + num(py(fy) + 4) + "\" text-anchor=\"end\">" +
           num(fy) + "×</text>\n";
  }
  out += "<text transform=\"translate(18," + num(kTop + kPlotH / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + escape(chart.y_label) + "</text>\n";
  for (size_t g = 0; g < chart.groups.size(); ++g) {
    const BarGroup& grp = chart.groups[g];
    // Each group centred in an equal share of the width.
    const double slot = plot_w / static_cast<double>(chart.groups.size());
    const double x0 =
        kLeft + slot * (static_cast<double>(g) + 0.5) - static_cast<double>(nseries) * kBarW / 2;
    const double mid = x0 + static_cast<double>(nseries) * kBarW / 2;
    out += "<text x=\"" + num(mid) + "\" y=\"" + num(kTop + kPlotH + 20) +
           "\" text-anchor=\"middle\" font-weight=\"bold\">" + escape(grp.label) + "</text>\n";
    out += "<text x=\"" + num(mid) + "\" y=\"" + num(kTop + kPlotH + 35) +
           "\" text-anchor=\"middle\" fill=\"#555\">" + escape(grp.caption) + "</text>\n";
    if (!grp.note.empty()) {
      out += "<text x=\"" + num(mid) + "\" y=\"" + num(py(ymax / 2)) +
             "\" text-anchor=\"middle\" fill=\"#888\">" + escape(grp.note) + "</text>\n";
      continue;
    }
    for (size_t k = 0; k < grp.values.size() && k < nseries; ++k) {
      const double v = grp.values[k];
      if (!(v > 0) || !std::isfinite(v)) continue;
      const double x = x0 + static_cast<double>(k) * kBarW;
      out += "<rect x=\"" + num(x + 2) + "\" y=\"" + num(py(v)) + "\" width=\"" + num(kBarW - 4) +
             "\" height=\"" + num(py(0) - py(v)) + "\" fill=\"" + kColors[k % 3] + "\"/>\n";
      out += "<text x=\"" + num(x + kBarW / 2) + "\" y=\"" + num(py(v) - 4) +
             "\" text-anchor=\"middle\" font-size=\"11\">" + num2(v) + "×</text>\n";
    }
  }
  out += "<line x1=\"" + num(kLeft) + "\" y1=\"" + num(py(chart.reference)) + "\" x2=\"" +
         num(kLeft + plot_w) + "\" y2=\"" + num(py(chart.reference)) +
         "\" stroke=\"#333\" stroke-dasharray=\"6,4\"/>\n";
  out += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(plot_w) +
         "\" height=\"" + num(kPlotH) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  for (size_t k = 0; k < chart.series.size(); ++k) {
    const double x = kLeft + 10 + static_cast<double>(k) * 150;
    out += "<rect x=\"" + num(x) + "\" y=\"" + num(kTop + kPlotH + 52) +
           "\" width=\"12\" height=\"12\" fill=\"" + kColors[k % 3] + "\"/>\n";
    out += "<text x=\"" + num(x + 16) + "\" y=\"" + num(kTop + kPlotH + 62) + "\">" +
           escape(chart.series[k]) + "</text>\n";
  }
  out += "</svg>\n";
  return out;
}

}  // namespace sieve::bench
