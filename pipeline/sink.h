// Frame sinks by URI on GStreamer appsrc pipelines:
//   display://0      a video window (nveglglessink on Jetson, else xvimagesink/ximagesink/autovideosink);
//                    without $DISPLAY it falls back to a file and says where
//   file:///out.mp4  H.264 (nvv4l2h264enc on Jetson, else x264enc) in MP4 (or .mkv)
//   udp://HOST:PORT  RTP/H.264 over UDP
//   none://          discard
#pragma once
#include <memory>
#include <string>

#include <opencv2/core.hpp>

namespace ec {

struct SinkOptions {
  double fps = 30;          // nominal rate stamped on the stream
  int bitrate_kbps = 4000;  // encoders
};

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // Opens the sink for `uri`. `note` receives a user-facing remark (e.g. the display fallback file).
  // Throws ec::Error naming the URI for unknown schemes or pipelines that cannot start.
  static std::unique_ptr<FrameSink> open(const std::string& uri, const SinkOptions& o, std::string* note = nullptr);
  // Sends one BGR frame (all frames of a stream must have the same size). Throws ec::Error on failure.
  virtual void write(const cv::Mat& bgr, double t_ms) = 0;
  // Finishes the stream (EOS: MP4 files get their index). Safe to call twice.
  virtual void close() = 0;
  // True for none://: nothing is shown, so the pipeline skips composing the overlay.
  virtual bool discards() const { return false; }
  // What it writes to ("file:///x.mp4", "display", ...).
  virtual std::string describe() const = 0;
};

}  // namespace ec
