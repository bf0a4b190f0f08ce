// Task heads: turn a model's outputs into detections or classes in frame coordinates.
//   blazeface  MediaPipe face detector (2 anchor grids, box + 6 keypoints relative to anchors)
//   ssd        scores [1,N,C] (softmax, class 0 = background) + boxes [1,N,4] normalised x1,y1,x2,y2
//   yolov5     [1,N,5+C]: cx,cy,w,h (input pixels), objectness, class scores
//   yolov8     [1,4+C,N]: cx,cy,w,h (input pixels), class scores
//   classify   [1,C] logits or probabilities -> top-k
// Detections go through per-class NMS and are mapped back through the letterbox.
#pragma once
#include <opencv2/core.hpp>

#include <memory>
#include <string>
#include <vector>

#include "preprocess.h"
#include "tensor.h"

namespace ec {

struct Detection {
  cv::Rect2f box;  // frame pixels
  float score = 0;
  int class_id = 0;
  std::vector<cv::Point2f> keypoints;  // frame pixels
};

struct ClassScore {
  int class_id = 0;
  float score = 0;
};

struct Result {
  std::vector<Detection> detections;
  std::vector<ClassScore> classes;  // classify: top-k, best first
};

struct DecoderOptions {
  std::string type = "none";  // blazeface | ssd | yolov5 | yolov8 | classify | none
  float score_threshold = 0.5f;
  float nms_iou = 0.45f;
  int top_k = 5;
  int max_detections = 100;
  std::vector<std::string> labels;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decodes `outputs` of a model whose input is w x h pixels; appends into `r` (cleared first).
  virtual void decode(const std::vector<const Tensor*>& outputs, const Letterbox& lb, Result& r) = 0;
};

// Creates the decoder; throws ec::Error for an unknown type.
std::unique_ptr<Decoder> make_decoder(const DecoderOptions& o, int input_w, int input_h);

// Greedy per-class non-maximum suppression, best score first; keeps at most max_keep.
std::vector<Detection> nms(std::vector<Detection> dets, float iou, int max_keep);
// Intersection over union of two boxes.
float iou(const cv::Rect2f& a, const cv::Rect2f& b);

}  // namespace ec
