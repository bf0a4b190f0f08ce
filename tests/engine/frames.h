// Real preprocessed frames for the model tests: Megamind.avi resized to the BlazeFace input, RGB in [-1, 1].
#pragma once
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <string>
#include <vector>

#include "tensor.h"

namespace ec::test {

// Every `every`-th frame of `path` (at most `max_frames`), as NHWC float32 [1, size, size, 3].
inline std::vector<Tensor> blazeface_frames(const std::string& path, int size, int every, int max_frames) {
  std::vector<Tensor> r;
  cv::VideoCapture cap(path);
  if (!cap.isOpened()) return r;
  cv::Mat frame, small, rgb, f;
  for (int i = 0; static_cast<int>(r.size()) < max_frames && cap.read(frame); ++i) {
    if (i % every) continue;
    cv::resize(frame, small, cv::Size(size, size), 0, 0, cv::INTER_AREA);
    cv::cvtColor(small, rgb, cv::COLOR_BGR2RGB);
    rgb.convertTo(f, CV_32F, 2.0 / 255.0, -1.0);
    Tensor t(DType::f32, {1, size, size, 3});
    std::memcpy(t.data(), f.ptr<float>(), t.size_bytes());
    r.push_back(t);
  }
  return r;
}

}  // namespace ec::test
