// The live overlay: every variant's detections and its figures (FPS, latency per stage, power, energy per
// inference, model size) composed side by side, in a grid, or on one frame with a colour per variant.
#pragma once
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "decode.h"

namespace ec {

// What one variant's panel shows; numbers already formatted by the caller are kept as lines of text.
struct PanelInfo {
  std::string title;               // "blazeface128 native x2 | 0.39 MB"
  std::vector<std::string> lines;  // figure lines, e.g. "infer 3.1 ms p95 4.0 | 320 FPS (engine only)"
  const Result* result = nullptr;  // detections / classes to draw
  std::vector<std::string> labels; // class names (optional)
};

struct OverlayHeader {
  std::vector<std::string> lines;  // shared lines: pipeline FPS, source, power rails, status
};

// Composes the output image. layout: "side-by-side", "grid" or "overlay". Panels are scaled so the
// output is at most max_width pixels wide. `out` is reused between calls.
void compose_overlay(const cv::Mat& frame, const std::vector<PanelInfo>& panels, const OverlayHeader& header,
                     const std::string& layout, int max_width, cv::Mat& out);

// Size compose_overlay gives `n` panels of a frame of `frame` pixels in `layout` (throws on an unknown layout).
cv::Size overlay_size(cv::Size frame, size_t n, const std::string& layout, int max_width);

// Scales `img` into a `canvas`-sized image, aspect kept, centred on black (letterbox); copies when the
// sizes are equal. A run's output keeps one size while variants and layouts change.
void fit_to_canvas(const cv::Mat& img, cv::Size canvas, cv::Mat& out);

// The colour of variant i (BGR).
cv::Scalar variant_color(size_t i);

}  // namespace ec
