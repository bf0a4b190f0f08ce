#include "preprocess.h"

#include <opencv2/imgproc.hpp>

#include <cstring>

#include "error.h"

namespace ec {

Shape resolve_input_shape(const ValueInfo& in, const PreprocessSpec& spec, const Shape& given) {
  const size_t rank = in.dims.size();
  if (!given.empty()) {
    if (in.has_shape && given.size() != rank)
      throw Error("input '" + in.name + "' " + in.dims_str() + ": the given shape " + shape_str(given) + " has another rank");
    for (size_t i = 0; i < given.size() && in.has_shape; ++i)
      if (in.dims[i].value >= 0 && in.dims[i].value != given[i])
        throw Error("input '" + in.name + "' " + in.dims_str() + ": the given shape " + shape_str(given) + " differs in dimension " +
                    std::to_string(i) + " (fixed at " + std::to_string(in.dims[i].value) + ")");
    return given;
  }
  if (!in.has_shape) throw Error("input '" + in.name + "' declares no shape: give one (--shape, or shape: in the variant)");
  Shape s = in.shape_or(-1);
  if (rank == 4) {
    if (s[0] < 0) s[0] = 1;
    const bool nhwc = spec.layout == "nhwc" || (spec.layout == "auto" && s[3] == 3 && s[1] != 3);
    int64_t& c = nhwc ? s[3] : s[1];
    if (c < 0) c = 3;
    int64_t& h = nhwc ? s[1] : s[2];
    int64_t& w = nhwc ? s[2] : s[3];
    if (h < 0 && spec.height > 0) h = spec.height;
    if (w < 0 && spec.width > 0) w = spec.width;
  }
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] < 0)
      throw Error("input '" + in.name + "' " + in.dims_str() + ": dimension " + std::to_string(i) + " ('" + in.dims[i].param +
                  "') is symbolic: give the size (input: {size: [width, height]} in the task, recipe or variant, or --shape)");
  return s;
}

Preprocessor::Preprocessor(const PreprocessSpec& spec, const Shape& s) : spec_(spec) {
  if (s.size() != 4 || s[0] != 1) throw Error("preprocess: model input " + shape_str(s) + " is not an image batch of 1");
  if (spec.layout == "nchw") nchw_ = true;
  else if (spec.layout == "nhwc") nchw_ = false;
  else if (spec.layout == "auto") nchw_ = !(s[3] == 3 && s[1] != 3);
  else throw Error("preprocess: layout '" + spec.layout + "' is not auto, nchw or nhwc");
  const int64_t c = nchw_ ? s[1] : s[3];
  if (c != 3) throw Error("preprocess: model input " + shape_str(s) + " does not have 3 colour channels in " + (nchw_ ? "NCHW" : "NHWC"));
  h_ = static_cast<int>(nchw_ ? s[2] : s[1]);
  w_ = static_cast<int>(nchw_ ? s[3] : s[2]);
  if ((spec.width && spec.width != w_) || (spec.height && spec.height != h_))
    throw Error("preprocess: size " + std::to_string(spec.width) + "x" + std::to_string(spec.height) + " differs from the model input " +
                shape_str(s));
  if (spec.resize != "stretch" && spec.resize != "letterbox") throw Error("preprocess: resize '" + spec.resize + "' is not stretch or letterbox");
  if (spec.color != "rgb" && spec.color != "bgr") throw Error("preprocess: color '" + spec.color + "' is not rgb or bgr");
  for (double v : spec.std)
    if (v == 0) throw Error("preprocess: std must not be 0");
}

Letterbox Preprocessor::run(const cv::Mat& bgr, Tensor& input) {
  Letterbox lb;
  const cv::Mat* img = &resized_;
  if (spec_.resize == "stretch") {
    cv::resize(bgr, resized_, cv::Size(w_, h_), 0, 0, cv::INTER_LINEAR);
    lb.sx = static_cast<double>(w_) / bgr.cols;
    lb.sy = static_cast<double>(h_) / bgr.rows;
  } else {
    const double r = std::min(static_cast<double>(w_) / bgr.cols, static_cast<double>(h_) / bgr.rows);
    const int nw = std::max(1, static_cast<int>(std::lround(bgr.cols * r))), nh = std::max(1, static_cast<int>(std::lround(bgr.rows * r)));
    cv::resize(bgr, resized_, cv::Size(nw, nh), 0, 0, cv::INTER_LINEAR);
    canvas_.create(h_, w_, CV_8UC3);
    canvas_.setTo(cv::Scalar::all(spec_.pad_value));
    const int px = (w_ - nw) / 2, py = (h_ - nh) / 2;
    resized_.copyTo(canvas_(cv::Rect(px, py, nw, nh)));
    lb.sx = lb.sy = r;
    lb.pad_x = px;
    lb.pad_y = py;
    img = &canvas_;
  }
  if (spec_.color == "rgb") {
    cv::cvtColor(*img, color_, cv::COLOR_BGR2RGB);
    img = &color_;
  }
  // y = pixel * (scale / std) - mean / std, per channel
  const cv::Scalar a(spec_.scale / spec_.std[0], spec_.scale / spec_.std[1], spec_.scale / spec_.std[2]);
  const cv::Scalar b(-spec_.mean[0] / spec_.std[0], -spec_.mean[1] / spec_.std[1], -spec_.mean[2] / spec_.std[2]);
  float* dst = input.ptr<float>();
  if (!nchw_) {
    cv::Mat out(h_, w_, CV_32FC3, dst);
    img->convertTo(out, CV_32F);
    cv::multiply(out, a, out);
    cv::add(out, b, out);
  } else {
    img->convertTo(f32_, CV_32F);
    cv::multiply(f32_, a, f32_);
    cv::add(f32_, b, f32_);
    std::vector<cv::Mat> planes = {cv::Mat(h_, w_, CV_32F, dst), cv::Mat(h_, w_, CV_32F, dst + w_ * h_),
                                   cv::Mat(h_, w_, CV_32F, dst + 2 * w_ * h_)};
    cv::split(f32_, planes);
  }
  return lb;
}

}  // namespace ec
