// OpenCV preprocessing from a model's input spec: resize (stretch or letterbox), BGR/RGB, per-channel
// y = (pixel * scale - mean) / std, written straight into the engine's NCHW or NHWC input buffer.
#pragma once
#include <opencv2/core.hpp>

#include <array>
#include <string>

#include "ir.h"
#include "tensor.h"

namespace ec {

struct PreprocessSpec {
  int width = 0, height = 0;          // model input size in pixels (0: from the model's input shape)
  std::string resize = "stretch";     // stretch | letterbox
  std::string color = "rgb";          // rgb | bgr
  std::string layout = "auto";        // auto | nchw | nhwc (auto: from the input shape, the dim that is 3)
  double scale = 1.0 / 255.0;         // pixel (0..255) multiplier
  std::array<double, 3> mean = {0, 0, 0};
  std::array<double, 3> std = {1, 1, 1};
  int pad_value = 114;                // letterbox border, grey as YOLO exports expect
};

// Maps model-input pixel coordinates back to frame pixels: frame = (model - pad) / scale.
struct Letterbox {
  double sx = 1, sy = 1;     // model pixels per frame pixel
  double pad_x = 0, pad_y = 0;
  cv::Point2f to_frame(float x, float y) const {
    return {static_cast<float>((x - pad_x) / sx), static_cast<float>((y - pad_y) / sy)};
  }
};

// The concrete shape to prepare an image model's input with, for models whose declared input has symbolic
// dimensions ([1,3,height,width], PaddlePaddle and dynamic-axes PyTorch exports). `given` (a --shape option or a
// variant's shape:) wins when not empty: same rank, and equal to every fixed declared dimension. Otherwise the
// declared shape with a symbolic batch as 1, a symbolic channel count as 3, and symbolic height/width (NCHW
// [N,C,H,W], or NHWC [N,H,W,3]) from spec.height/spec.width (the input size: [width, height] of a task, recipe or
// variant, pixels). Throws ec::Error naming the input and the dimension that stays unknown.
Shape resolve_input_shape(const ValueInfo& in, const PreprocessSpec& spec, const Shape& given = {});

class Preprocessor {
 public:
  // Resolves size and layout from `input_shape` (rank 4, batch 1). Throws ec::Error naming the problem.
  Preprocessor(const PreprocessSpec& spec, const Shape& input_shape);
  // Converts a BGR frame into `input` (float32, the shape given at construction); returns the mapping.
  Letterbox run(const cv::Mat& bgr, Tensor& input);
  int width() const { return w_; }
  int height() const { return h_; }
  bool nchw() const { return nchw_; }

 private:
  PreprocessSpec spec_;
  int w_ = 0, h_ = 0;
  bool nchw_ = true;
  cv::Mat resized_, canvas_, color_, f32_;
};

}  // namespace ec
