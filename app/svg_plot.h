// Minimal SVG charts for the offline HTML report: line/step charts, scatter and bar charts with axes,
// ticks and a legend. No scripts, no external files.
#pragma once
#include <string>
#include <vector>

namespace ec {

struct Series {
  std::string name;
  std::vector<double> x, y;
  std::string color;
};

struct PlotSpec {
  std::string title, x_label, y_label;
  int width = 640, height = 320;
  bool points = false;  // scatter: draw markers with the series name instead of lines
};

// A line chart (or scatter when spec.points) of all series on shared axes.
std::string svg_xy(const PlotSpec& spec, const std::vector<Series>& series);
// A bar chart: one bar per label.
std::string svg_bars(const PlotSpec& spec, const std::vector<std::string>& labels, const std::vector<double>& values,
                     const std::vector<std::string>& colors);
// The i-th of a fixed palette.
std::string palette(size_t i);
// Escapes text for HTML/SVG.
std::string html_escape(const std::string& s);

}  // namespace ec
