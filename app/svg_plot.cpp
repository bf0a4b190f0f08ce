#include "svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ec {
namespace {

std::string fmt(double v) {
  char b[32];
  if (std::fabs(v) >= 100 || v == std::floor(v)) std::snprintf(b, sizeof b, "%.0f", v);
  else if (std::fabs(v) >= 1) std::snprintf(b, sizeof b, "%.1f", v);
  else std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

// A tick label with as many decimals as the step needs (0.4215, 0.4220, ... rather than 0.422 four times).
std::string tick(double v, double step) {
  const int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step))), 0, 9);
  if (decimals == 0 || std::fabs(v) >= 1e4) return fmt(v);
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", decimals, std::fabs(v) < step * 1e-6 ? 0.0 : v);
  return b;
}

double nice_step(double range) {
  const double raw = range / 5, mag = std::pow(10, std::floor(std::log10(raw > 0 ? raw : 1)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

struct Frame {
  double x0, x1, y0, y1;
  int l = 60, r = 20, t = 30, b = 45, w, h;
  double px(double x) const { return l + (x - x0) / (x1 - x0) * (w - l - r); }
  double py(double y) const { return h - b - (y - y0) / (y1 - y0) * (h - t - b); }
};

std::string axes(const PlotSpec& s, const Frame& f) {
  std::string o;
  char b[512];
  std::snprintf(b, sizeof b, "<text x='%d' y='18' font-size='14' font-weight='bold'>%s</text>", f.l, html_escape(s.title).c_str());
  o += b;
  const double sx = nice_step(f.x1 - f.x0), sy = nice_step(f.y1 - f.y0);
  for (double x = std::ceil(f.x0 / sx) * sx; x <= f.x1 + sx * 1e-6; x += sx) {
    std::snprintf(b, sizeof b, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#ddd'/><text x='%.1f' y='%d' font-size='11' text-anchor='middle'>%s</text>",
                  f.px(x), f.t, f.px(x), f.h - f.b, f.px(x), f.h - f.b + 14, tick(x, sx).c_str());
    o += b;
  }
  for (double y = std::ceil(f.y0 / sy) * sy; y <= f.y1 + sy * 1e-6; y += sy) {
    std::snprintf(b, sizeof b, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#ddd'/><text x='%d' y='%.1f' font-size='11' text-anchor='end'>%s</text>",
                  f.l, f.py(y), f.w - f.r, f.py(y), f.l - 4, f.py(y) + 4, tick(y, sy).c_str());
    o += b;
  }
  std::snprintf(b, sizeof b,
                "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#444'/>"
                "<text x='%d' y='%d' font-size='12' text-anchor='middle'>%s</text>"
                "<text x='14' y='%d' font-size='12' text-anchor='middle' transform='rotate(-90 14 %d)'>%s</text>",
                f.l, f.t, f.w - f.l - f.r, f.h - f.t - f.b, (f.l + f.w - f.r) / 2, f.h - 8, html_escape(s.x_label).c_str(), (f.t + f.h - f.b) / 2,
                (f.t + f.h - f.b) / 2, html_escape(s.y_label).c_str());
  o += b;
  return o;
}

}  // namespace

namespace {
// A chart without data: one line, not an empty box.
std::string no_data(const PlotSpec& s) {
  return "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(s.width) +
         "' height='24' font-family='sans-serif'><text x='0' y='16' font-size='13' fill='#666'>" + html_escape(s.title) + ": no data</text></svg>";
}
}  // namespace

std::string palette(size_t i) {
  static const char* c[] = {"#2ca02c", "#ff7f0e", "#1f77b4", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  return c[i % 8];
}

std::string html_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '<') r += "&lt;";
    else if (c == '>') r += "&gt;";
    else if (c == '&') r += "&amp;";
    else if (c == '\'') r += "&#39;";
    else if (c == '"') r += "&quot;";
    else r += c;
  }
  return r;
}

std::string svg_xy(const PlotSpec& s, const std::vector<Series>& series) {
  Frame f{};
  f.w = s.width;
  f.h = s.height;
  f.x0 = f.y0 = INFINITY;
  f.x1 = f.y1 = -INFINITY;
  for (auto& se : series)
    for (size_t i = 0; i < se.x.size() && i < se.y.size(); ++i) {
      if (!std::isfinite(se.x[i]) || !std::isfinite(se.y[i])) continue;
      f.x0 = std::min(f.x0, se.x[i]);
      f.x1 = std::max(f.x1, se.x[i]);
      f.y0 = std::min(f.y0, se.y[i]);
      f.y1 = std::max(f.y1, se.y[i]);
    }
  std::string o = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(s.width) + "' height='" + std::to_string(s.height) +
                  "' font-family='sans-serif'>";
  if (!std::isfinite(f.x0)) return no_data(s);
  if (s.points) {  // room around scatter points; equal values get +-10 % of their size (a flat axis has no scale)
    auto pad = [](double lo, double hi) { return hi - lo > 1e-6 * std::max(std::fabs(lo), std::fabs(hi)) ? (hi - lo) * 0.1 : std::max(std::fabs(hi) * 0.1, 0.5); };
    const double dx = pad(f.x0, f.x1), dy = pad(f.y0, f.y1);
    f.x0 = std::max(0.0, f.x0 - dx);
    f.x1 += dx;
    f.y0 = std::max(0.0, f.y0 - dy);
    f.y1 += dy;
  }
  if (f.y0 > 0 && !s.points) f.y0 = 0;
  if (f.x1 <= f.x0) f.x1 = f.x0 + 1;
  if (f.y1 <= f.y0) f.y1 = f.y0 + 1;
  o += axes(s, f);
  char b[512];
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& se = series[k];
    const std::string col = se.color.empty() ? palette(k) : se.color;
    if (s.points) {
      for (size_t i = 0; i < se.x.size(); ++i) {
        // the label goes left of its point where it would run past the right edge (~6 px per character)
        const double cx = f.px(se.x[i]), cy = f.py(se.y[i]);
        const bool left = cx + 7 + 6.0 * static_cast<double>(se.name.size()) > f.w - 4;
        std::snprintf(b, sizeof b, "<circle cx='%.1f' cy='%.1f' r='5' fill='%s'/><text x='%.1f' y='%.1f' font-size='11' text-anchor='%s'>%s</text>", cx, cy,
                      col.c_str(), left ? cx - 7 : cx + 7, cy - 5 - 13.0 * static_cast<double>(k % 2), left ? "end" : "start", html_escape(se.name).c_str());
        o += b;
      }
      continue;
    }
    std::string pts;
    for (size_t i = 0; i < se.x.size() && i < se.y.size(); ++i) {
      if (!std::isfinite(se.x[i]) || !std::isfinite(se.y[i])) continue;
      std::snprintf(b, sizeof b, "%.1f,%.1f ", f.px(se.x[i]), f.py(se.y[i]));
      pts += b;
    }
    o += "<polyline fill='none' stroke='" + col + "' stroke-width='1.5' points='" + pts + "'/>";
    std::snprintf(b, sizeof b, "<rect x='%d' y='%d' width='10' height='10' fill='%s'/><text x='%d' y='%d' font-size='11'>%s</text>", f.l + 8,
                  f.t + 6 + 14 * static_cast<int>(k), col.c_str(), f.l + 22, f.t + 15 + 14 * static_cast<int>(k), html_escape(se.name).c_str());
    o += b;
  }
  return o + "</svg>";
}

std::string svg_bars(const PlotSpec& s, const std::vector<std::string>& labels, const std::vector<double>& values,
                     const std::vector<std::string>& colors) {
  std::string o = "<svg xmlns='http://www.w3.org/2000/svg' width='" + std::to_string(s.width) + "' height='" + std::to_string(s.height) +
                  "' font-family='sans-serif'>";
  double mx = 0;
  for (double v : values)
    if (std::isfinite(v)) mx = std::max(mx, v);
  if (values.empty() || mx <= 0) return no_data(s);
  Frame f{};
  f.w = s.width;
  f.h = s.height;
  f.x0 = 0;
  f.x1 = static_cast<double>(values.size());
  f.y0 = 0;
  f.y1 = mx * 1.15;
  f.b = 70;
  PlotSpec t = s;
  t.x_label = "";
  o += axes(t, f);
  char b[512];
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    const double x = f.px(static_cast<double>(i) + 0.15), w = f.px(static_cast<double>(i) + 0.85) - x;
    std::snprintf(b, sizeof b,
                  "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'/><text x='%.1f' y='%.1f' font-size='11' text-anchor='middle'>%s</text>"
                  "<text x='%.1f' y='%d' font-size='10' text-anchor='end' transform='rotate(-30 %.1f %d)'>%s</text>",
                  x, f.py(values[i]), w, f.py(0) - f.py(values[i]), (i < colors.size() ? colors[i] : palette(i)).c_str(), x + w / 2,
                  f.py(values[i]) - 4, fmt(values[i]).c_str(), x + w / 2, f.h - f.b + 14, x + w / 2, f.h - f.b + 14, html_escape(labels[i]).c_str());
    o += b;
  }
  return o + "</svg>";
}

}  // namespace ec
