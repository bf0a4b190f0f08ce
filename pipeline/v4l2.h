// V4L2 cameras: what a device offers (formats, frame sizes, frame rates, read with the V4L2 ioctls) and the
// choice of one of those modes for a request, so a source asks the camera only for what it lists.
#pragma once
#include <string>
#include <vector>

namespace ec {

// One capture mode a device lists: a pixel format at one frame size and one frame rate.
struct V4l2Mode {
  std::string fourcc;  // "YUYV", "MJPG", "NV12", ... as the driver reports it
  int width = 0, height = 0;
  int fps_n = 0, fps_d = 1;  // frames per second as the fraction fps_n / fps_d (the discrete frame interval
                             // inverted); 0 / 1 when the driver lists no interval
  double fps() const { return fps_d > 0 ? static_cast<double>(fps_n) / fps_d : 0.0; }
};

// What one device node is.
struct V4l2Device {
  std::string path;         // "/dev/video0"
  std::string card;         // VIDIOC_QUERYCAP card name ("HD Pro Webcam C920", "vi-output, imx219 9-0010")
  std::string driver;       // "uvcvideo", "tegra-video", ...
  bool capture = false;     // the node captures video (metadata and output nodes do not)
  std::vector<V4l2Mode> modes;
  // True for a Jetson CSI sensor (the VI driver's "vi-output, SENSOR ..." nodes): read it through
  // nvarguscamerasrc (csi://N), not v4l2src, to get the ISP's debayered output.
  bool is_csi() const { return card.rfind("vi-output", 0) == 0; }
};

// Queries `path` with VIDIOC_QUERYCAP, VIDIOC_ENUM_FMT, VIDIOC_ENUM_FRAMESIZES and VIDIOC_ENUM_FRAMEINTERVALS
// (discrete sizes and intervals; a stepwise range contributes its smallest and largest size). Throws ec::Error
// "PATH: ..." when the node cannot be opened or is not a V4L2 device.
V4l2Device query_v4l2(const std::string& path);

// A request for a mode: format "auto" (YUYV when the size and rate are listed raw, else MJPG), "raw" (YUYV)
// or "mjpeg"; 0 for width, height or fps: any, preferring the largest size up to 1280x720 and then the
// highest rate.
struct V4l2Request {
  std::string format = "auto";
  int width = 0, height = 0, fps = 0;
};

// The device's mode that satisfies `req` (exact size; a listed rate within 0.5 fps of the requested one).
// Throws ec::Error "DEVICE: no mode FORMAT WxH@FPS; it offers: YUYV 640x480@30, ..." when none does.
V4l2Mode choose_v4l2_mode(const V4l2Device& dev, const V4l2Request& req);

// "YUYV 640x480@30, 1280x720@10; MJPG 1920x1080@30, ...": the modes grouped by format, for messages.
std::string describe_modes(const std::vector<V4l2Mode>& modes, size_t max_per_format = 12);

// The GStreamer caps that ask v4l2src for `m` ("video/x-raw,format=YUY2,..." or "image/jpeg,...").
// Throws ec::Error for a format the pipeline cannot decode (only YUYV, MJPG, NV12, GREY, BGR3/RGB3 are mapped).
std::string v4l2_caps(const V4l2Mode& m);

}  // namespace ec
