// Preprocessed frames for offline work — calibration (`compress`), fidelity and accuracy (`eval`): sampled
// from a video or any frame source, or read from an image folder, each through the pipeline's Preprocessor.
#pragma once
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "preprocess.h"
#include "tensor.h"

namespace ec {

struct FrameSample {
  cv::Mat bgr;
  Tensor input;  // preprocessed for the model
  Letterbox lb;
};

// Every `every`-th frame of `uri` from frame `start` (0-based; earlier frames are decoded and dropped), at
// most `max_frames`, preprocessed for a model input of `shape`. Throws ec::Error when the source cannot be
// read or yields no frame.
std::vector<FrameSample> load_samples(const std::string& uri, const PreprocessSpec& spec, const Shape& shape, int every, int max_frames,
                                      int start = 0);

// Images under `dir` (png/jpg/jpeg/bmp; subfolders one level deep, sorted), preprocessed for `shape`;
// `labels` receives each image's subfolder index among the sorted subfolder names (for accuracy), and
// `classes` those names. At most max_images (all when <= 0). Throws ec::Error when nothing is readable.
std::vector<FrameSample> load_image_folder(const std::string& dir, const PreprocessSpec& spec, const Shape& shape, int max_images,
                                           std::vector<int>* labels = nullptr, std::vector<std::string>* classes = nullptr);

}  // namespace ec
