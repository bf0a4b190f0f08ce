// Shared by `compress` and `eval`: a task spec (preprocessing + decoder, as in a run variant) and
// preprocessed frames from a video or any frame source.
#pragma once
#include <string>
#include <vector>

#include "decode.h"
#include "preprocess.h"
#include "tensor.h"

namespace YAML {
class Node;
}

namespace ec {

struct TaskSpec {
  PreprocessSpec input;
  DecoderOptions decoder;
};

// Reads `input:` and `decoder:` of a YAML node (the keys of a run variant). Throws with line numbers.
void parse_task_yaml(const YAML::Node& n, const std::string& path, TaskSpec& t);

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
