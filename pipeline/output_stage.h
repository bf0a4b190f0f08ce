// Output management: the overlay composed into a canvas whose size is fixed for the run (toggles, reloads and
// layout changes are scaled into it, so a recording stays one playable file), written to the sink, with the
// session's overlay snapshot. Says once which element the output runs on.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "overlay.h"
#include "sink.h"

namespace ec {

class SessionRecorder;

class OutputStage {
 public:
  // Opens the sink for `uri`; `log` receives user-facing remarks (the display fallback file). Throws ec::Error.
  OutputStage(const std::string& uri, const SinkOptions& o, const std::function<void(const std::string&)>& log);
  // False for none://: nothing to draw unless someone watches the live view.
  bool shows() const { return !sink_->discards(); }
  // Composes `panels` over `frame` in `layout` into the run's canvas; the canvas size is fixed at the first
  // call from `configured_variants` panels. `rec` (may be null) gets a snapshot with the most detections
  // (`detections`), at most one every 2 s.
  void compose(const cv::Mat& frame, const std::vector<PanelInfo>& panels, const OverlayHeader& header, const std::string& layout,
               int max_width, size_t configured_variants, int detections, SessionRecorder* rec, double now_ms);
  // Writes the canvas to the sink (none://: nothing). Returns "SINK by ELEMENT (...)" the first time the sink
  // has started, "" otherwise.
  std::string write(double now_ms);
  const cv::Mat& canvas() const { return canvas_; }
  void close() { sink_->close(); }

 private:
  std::unique_ptr<FrameSink> sink_;
  cv::Mat composed_, canvas_;
  cv::Size canvas_size_;
  int snapshot_detections_ = 0;
  double last_snapshot_ = -1e18;
  bool said_element_ = false;
};

}  // namespace ec
