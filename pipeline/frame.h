// A captured frame: BGR pixels, the steady-clock capture time and its sequence number from the source.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>

namespace ec {

struct Frame {
  cv::Mat bgr;              // 8-bit BGR; may view the source's buffer: valid until the next read (clone to keep)
  double capture_ms = 0;    // steady-clock ms when the frame left the source (appsink)
  int64_t seq = -1;         // 0, 1, 2, ... in delivery order
  double pts_ms = -1;       // stream timestamp when known (files), else -1
  std::shared_ptr<void> hold;  // keeps the source buffer behind `bgr` alive (zero-copy frames)
};

}  // namespace ec
