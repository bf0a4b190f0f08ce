#include "output_stage.h"

#include <opencv2/imgcodecs.hpp>

#include "recorder.h"

namespace ec {

OutputStage::OutputStage(const std::string& uri, const SinkOptions& o, const std::function<void(const std::string&)>& log) {
  std::string note;
  sink_ = FrameSink::open(uri, o, &note);
  if (!note.empty() && log) log(note);
}

void OutputStage::compose(const cv::Mat& frame, const std::vector<PanelInfo>& panels, const OverlayHeader& header, const std::string& layout,
                          int max_width, size_t configured_variants, int detections, SessionRecorder* rec, double now_ms) {
  compose_overlay(frame, panels, header, layout, max_width, composed_);
  if (canvas_size_.empty()) canvas_size_ = overlay_size(frame.size(), std::max<size_t>(1, configured_variants), layout, max_width);
  if (composed_.size() == canvas_size_) std::swap(composed_, canvas_);  // the usual case: no copy
  else fit_to_canvas(composed_, canvas_size_, canvas_);
  if (rec && detections >= snapshot_detections_ && now_ms - last_snapshot_ >= 2000) {
    std::vector<unsigned char> jpg;
    cv::imencode(".jpg", canvas_, jpg, {cv::IMWRITE_JPEG_QUALITY, 85});
    rec->snapshot(jpg);
    snapshot_detections_ = detections;
    last_snapshot_ = now_ms;
  }
}

std::string OutputStage::write(double now_ms) {
  if (sink_->discards()) return "";
  sink_->write(canvas_, now_ms);
  if (said_element_ || sink_->element().empty()) return "";
  said_element_ = true;
  const std::string fb = sink_->fallback_note();
  return sink_->describe() + " by " + sink_->element() + (fb.empty() ? "" : " (" + fb + ")");
}

}  // namespace ec
