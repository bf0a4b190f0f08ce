// Frame sinks by URI on GStreamer appsrc pipelines:
//   display://0      a video window (nveglglessink on Jetson, else xvimagesink/ximagesink/autovideosink);
//                    without $DISPLAY it falls back to a file and says where
//   file:///out.mp4  H.264 in MP4 (or .mkv): nvv4l2h264enc where the board has NVENC and the encoder starts,
//                    else x264enc (openh264enc last); element() says which one runs
//   udp://HOST:PORT  RTP/H.264 over UDP
//   none://          discard
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

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
  // The element doing the work once the first frame started the stream ("x264enc", "nvv4l2h264enc",
  // "xvimagesink"); "" before that and for none://.
  virtual std::string element() const { return ""; }
  // Why preferred elements were passed over at start ("nvv4l2h264enc did not start (...)"), or "".
  virtual std::string fallback_note() const { return ""; }
};

// The H.264 encoders to try in order, as launch fragments that take raw video from videoconvert: the Jetson
// hardware encoder (nvvidconv into NVMM NV12, then nvv4l2h264enc) where both elements exist, then x264enc,
// then openh264enc. `has_element` says whether an element is installed. `kbps` is the target bit rate.
std::vector<std::string> h264_encoders(int kbps, const std::function<bool(const std::string&)>& has_element);
// "nvv4l2h264enc", "x264enc" or "openh264enc" for a fragment of h264_encoders().
std::string h264_encoder_name(const std::string& fragment);

}  // namespace ec
