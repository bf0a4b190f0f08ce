// Frame sources by URI, built on GStreamer pipelines ending in an appsink that delivers BGR frames:
//   csi://N                 nvarguscamerasrc sensor-id=N [sensor-mode] (NVMM NV12 -> nvvidconv -> BGR), Jetson
//   v4l2:///dev/videoN      v4l2src at one of the modes the device lists (YUYV or MJPG, size, rate)
//   file:///path.mp4 | PATH anything decodebin plays; `loop` restarts at the end; `realtime` paces
//   rtsp://host/...         rtspsrc with `latency_ms`
//   test://PATTERN          videotestsrc (ball, smpte, snow, ...), live
//   gst://LAUNCH            a custom launch string ending in an appsink
// Live sources keep only the newest frame (appsink max-buffers=1 drop=true): a slow consumer never makes
// capture lag; frames dropped that way are counted. Files deliver every frame.
#pragma once
#include <memory>
#include <string>

#include "frame.h"
#include "v4l2.h"

namespace ec {

struct SourceOptions {
  int width = 0, height = 0;   // 0: the source's own size
  int fps = 0;                 // 0: the source's own rate
  std::string flip = "none";   // none, horizontal, vertical, rotate-180, clockwise, counterclockwise
  bool loop = false;           // files: start again at the end
  bool realtime = false;       // files: deliver at the file's frame rate instead of as fast as read
  int latency_ms = 200;        // rtsp jitter buffer
  std::string format = "auto";  // v4l2: auto (raw YUYV where the device lists the size and rate, else MJPG),
                                // raw or mjpeg
  int sensor_mode = -1;         // csi: nvarguscamerasrc sensor-mode (-1: the driver's choice)
};

enum class ReadStatus { ok, timeout, end_of_stream, error };

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // Opens the source for `uri` (see above). Throws ec::Error naming the URI for an unknown scheme, a
  // missing file or a pipeline that cannot start (no camera, damaged file header, ...).
  static std::unique_ptr<FrameSource> open(const std::string& uri, const SourceOptions& opts);
  // The GStreamer launch string a URI maps to (for messages and tests). For v4l2:// it is the request as
  // given; open() asks the device and uses v4l2_launch_string with one of the device's own modes.
  static std::string launch_string(const std::string& uri, const SourceOptions& opts);
  // v4l2src at exactly mode `m` of device `dev` (MJPG decoded by jpegdec), flipped and converted to BGR.
  static std::string v4l2_launch_string(const std::string& dev, const V4l2Mode& m, const SourceOptions& opts);

  // Waits up to timeout_ms for the next frame. On error, error() says why.
  virtual ReadStatus read(Frame& f, int timeout_ms) = 0;
  // True for cameras, RTSP and test patterns (keep-newest, reconnect on loss).
  virtual bool is_live() const = 0;
  // Frames the source produced that were dropped before delivery (live sources).
  virtual int64_t dropped() const = 0;
  // The last error message ("" when none).
  virtual std::string error() const = 0;
  // Nominal frame rate when known (caps), else 0.
  virtual double nominal_fps() const = 0;
  const std::string& uri() const { return uri_; }

 protected:
  std::string uri_;
};

}  // namespace ec
