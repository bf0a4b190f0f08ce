#include "overlay.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "error.h"

namespace ec {
namespace {

// Text with a dark box behind it so it stays readable on any video; returns the next line's y.
int text_line(cv::Mat& img, const std::string& s, int x, int y, double scale, const cv::Scalar& color) {
  int base = 0;
  const int thick = std::max(1, static_cast<int>(std::lround(scale * 1.6)));
  cv::Size sz = cv::getTextSize(s, cv::FONT_HERSHEY_SIMPLEX, scale, thick, &base);
  cv::Rect bg(x - 3, y - sz.height - 4, sz.width + 6, sz.height + base + 6);
  bg &= cv::Rect(0, 0, img.cols, img.rows);
  if (bg.area() > 0) {
    cv::Mat roi = img(bg);
    roi *= 0.35;  // darken instead of a solid box: the video stays visible
  }
  cv::putText(img, s, cv::Point(x, y), cv::FONT_HERSHEY_SIMPLEX, scale, color, thick, cv::LINE_AA);
  return y + sz.height + base + 8;
}

void draw_result(cv::Mat& img, const Result& r, double s, const cv::Scalar& color, const std::vector<std::string>& labels, double fscale) {
  const int thick = std::max(2, static_cast<int>(std::lround(2 * s + 0.5)));
  for (const Detection& d : r.detections) {
    cv::Rect2f b(d.box.x * static_cast<float>(s), d.box.y * static_cast<float>(s), d.box.width * static_cast<float>(s),
                 d.box.height * static_cast<float>(s));
    cv::rectangle(img, b, color, thick, cv::LINE_AA);
    for (const cv::Point2f& k : d.keypoints) cv::circle(img, k * static_cast<float>(s), std::max(2, thick), color, cv::FILLED, cv::LINE_AA);
    std::string tag = (d.class_id >= 0 && static_cast<size_t>(d.class_id) < labels.size() ? labels[static_cast<size_t>(d.class_id)] + " " : std::string()) +
                      cv::format("%.2f", d.score);
    text_line(img, tag, static_cast<int>(b.x) + 2, std::max(14, static_cast<int>(b.y) - 4), fscale * 0.8, color);
  }
}

}  // namespace

cv::Scalar variant_color(size_t i) {
  static const cv::Scalar c[] = {{60, 220, 60}, {40, 160, 255}, {255, 120, 60}, {220, 60, 220}, {60, 220, 220}, {200, 200, 40}};
  return c[i % 6];
}

namespace {

// Panel grid and panel size of `n` panels of a `frame`-sized image.
struct Grid {
  size_t cols = 1, rows = 1;
  int pw = 2, ph = 2;
};
Grid grid_for(cv::Size frame, size_t panels, const std::string& layout, int max_width) {
  const size_t n = std::max<size_t>(1, panels);
  Grid g;
  if (layout == "side-by-side") g.cols = n;
  else if (layout == "grid") {
    g.cols = static_cast<size_t>(std::ceil(std::sqrt(static_cast<double>(n))));
    g.rows = (n + g.cols - 1) / g.cols;
  } else if (layout != "overlay") {
    throw Error("layout '" + layout + "' is not side-by-side, grid or overlay");
  }
  const double s = std::min(1.0, static_cast<double>(max_width) / (static_cast<double>(frame.width) * static_cast<double>(g.cols)));
  g.pw = std::max(2, static_cast<int>(frame.width * s)) & ~1;
  g.ph = std::max(2, static_cast<int>(frame.height * s)) & ~1;
  return g;
}

}  // namespace

cv::Size overlay_size(cv::Size frame, size_t n, const std::string& layout, int max_width) {
  const Grid g = grid_for(frame, n, layout, max_width);
  return {g.pw * static_cast<int>(g.cols), g.ph * static_cast<int>(g.rows)};
}

void fit_to_canvas(const cv::Mat& img, cv::Size canvas, cv::Mat& out) {
  if (img.size() == canvas) {
    img.copyTo(out);
    return;
  }
  out.create(canvas, img.type());
  out.setTo(cv::Scalar::all(0));
  const double s = std::min(static_cast<double>(canvas.width) / img.cols, static_cast<double>(canvas.height) / img.rows);
  const int w = std::clamp(static_cast<int>(std::lround(img.cols * s)), 1, canvas.width);
  const int h = std::clamp(static_cast<int>(std::lround(img.rows * s)), 1, canvas.height);
  cv::Mat roi = out(cv::Rect((canvas.width - w) / 2, (canvas.height - h) / 2, w, h));
  cv::resize(img, roi, roi.size(), 0, 0, s < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
}

void compose_overlay(const cv::Mat& frame, const std::vector<PanelInfo>& panels, const OverlayHeader& header, const std::string& layout,
                     int max_width, cv::Mat& out) {
  const Grid g = grid_for(frame.size(), panels.size(), layout, max_width);
  const size_t cols = g.cols, rows = g.rows;
  const int pw = g.pw, ph = g.ph;
  const double s = static_cast<double>(pw) / frame.cols;
  out.create(ph * static_cast<int>(rows), pw * static_cast<int>(cols), CV_8UC3);
  out.setTo(cv::Scalar::all(0));
  const double fscale = std::clamp(pw / 900.0, 0.4, 1.0);
  cv::Mat scaled;
  if (pw == frame.cols && ph == frame.rows) scaled = frame;
  else cv::resize(frame, scaled, cv::Size(pw, ph), 0, 0, cv::INTER_AREA);

  if (layout == "overlay") {
    cv::Mat roi = out(cv::Rect(0, 0, pw, ph));
    scaled.copyTo(roi);
    int y = static_cast<int>(22 * fscale + 8);
    for (const std::string& l : header.lines) y = text_line(roi, l, 8, y, fscale * 0.6, {255, 255, 255});
    for (size_t i = 0; i < panels.size(); ++i) {
      if (panels[i].result) draw_result(roi, *panels[i].result, s, variant_color(i), panels[i].labels, fscale);
      y = text_line(roi, panels[i].title, 8, y, fscale * 0.6, variant_color(i));
      for (const std::string& l : panels[i].lines) y = text_line(roi, "  " + l, 8, y, fscale * 0.5, variant_color(i));
    }
    return;
  }
  for (size_t i = 0; i < panels.size(); ++i) {
    const int cx = static_cast<int>(i % cols) * pw, cy = static_cast<int>(i / cols) * ph;
    cv::Mat roi = out(cv::Rect(cx, cy, pw, ph));
    scaled.copyTo(roi);
    const cv::Scalar col = variant_color(i);
    if (panels[i].result) draw_result(roi, *panels[i].result, s, col, panels[i].labels, fscale);
    int y = static_cast<int>(22 * fscale + 8);
    y = text_line(roi, panels[i].title, 8, y, fscale * 0.65, col);
    for (const std::string& l : panels[i].lines) y = text_line(roi, l, 8, y, fscale * 0.55, {255, 255, 255});
    if (i == 0)
      for (const std::string& l : header.lines) y = text_line(roi, l, 8, y, fscale * 0.55, {200, 200, 200});
  }
}

}  // namespace ec
