// The report's plots as a reader sees them: tick labels that differ from each other, point labels inside the
// picture, and charts without data reduced to one line.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "svg_plot.h"

using namespace ec;

namespace {

// Text of every <text> element whose anchor is `anchor` ("end": the y axis ticks).
std::vector<std::string> texts(const std::string& svg, const std::string& anchor) {
  std::vector<std::string> r;
  std::regex re("<text [^>]*text-anchor='" + anchor + "'[^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it) r.push_back((*it)[1]);
  return r;
}

}  // namespace

TEST(SvgPlot, EqualSizesGetDistinctTickLabels) {
  // two variants of the same size (0.422 MB) at different latencies: the case that printed 0.422 four times
  std::vector<Series> s = {{"blazeface128-fp32", {1.21}, {0.4215}, ""}, {"blazeface128-native-ref", {3.4}, {0.4215}, ""}};
  const std::string svg = svg_xy({"Model size vs median inference latency", "ms", "MB", 640, 320, true}, s);
  std::vector<std::string> y;
  for (const std::string& t : texts(svg, "end"))
    if (t.find_first_not_of("0123456789.-") == std::string::npos) y.push_back(t);  // numeric: the y ticks
  ASSERT_GE(y.size(), 3u) << svg;
  EXPECT_EQ(std::set<std::string>(y.begin(), y.end()).size(), y.size()) << "repeated y tick labels in " << svg;
}

TEST(SvgPlot, PointLabelsStayInsideThePicture) {
  std::vector<Series> s = {{"a-rather-long-variant-name-int8", {9.0}, {0.1}, ""}, {"b", {1.0}, {0.4}, ""}};
  const std::string svg = svg_xy({"size vs latency", "ms", "MB", 640, 320, true}, s);
  std::regex re("<circle [^>]*/><text x='([0-9.]+)' y='[0-9.]+' font-size='11' text-anchor='(start|end)'>([^<]*)</text>");
  int seen = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it) {
    const double x = std::stod((*it)[1]);
    const std::string anchor = (*it)[2], name = (*it)[3];
    const double right = anchor == "start" ? x + 6.0 * static_cast<double>(name.size()) : x;
    EXPECT_LE(right, 640.0) << name;
    EXPECT_GE(anchor == "end" ? x - 6.0 * static_cast<double>(name.size()) : x, 0.0) << name;
    ++seen;
  }
  EXPECT_EQ(seen, 2) << svg;
}

TEST(SvgPlot, ChartsWithoutDataAreOneLine) {
  const std::string xy = svg_xy({"Board power over time", "s", "W", 640, 320, false}, {});
  const std::string bars = svg_bars({"Energy per inference", "", "mJ", 640, 320, false}, {"a"}, {NAN}, {});
  for (const std::string& svg : {xy, bars}) {
    EXPECT_NE(svg.find("height='24'"), std::string::npos) << svg;
    EXPECT_NE(svg.find(": no data"), std::string::npos) << svg;
  }
}
