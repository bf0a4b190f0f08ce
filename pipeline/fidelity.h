// Fidelity of a compressed model to its original on unlabelled data: detection mAP@0.5 with the
// original's detections as ground truth, mean IoU of matched boxes, top-1 agreement for classifiers,
// and output signal-to-noise ratio in dB. Used offline by `eval` and live by `run` (each variant against the
// reference variant on the same frames), so its memory is bounded: exact up to 65,536 scored detections,
// then the precision/recall curve is kept in 10,000 score bins over [0, 1] (the decoders' probabilities).
#pragma once
#include <vector>

#include "decode.h"
#include "tensor.h"

namespace ec {

struct FidelityAccumulator {
  // One frame: reference detections (ground truth) and the candidate's (scored, any threshold).
  void add_detections(const std::vector<Detection>& reference, const std::vector<Detection>& candidate, float iou_threshold = 0.5f);
  // One classifier output pair (top-1 classes).
  void add_classes(int reference_top1, int candidate_top1);
  // One set of raw outputs: accumulates signal and error energy.
  void add_outputs(const std::vector<const Tensor*>& reference, const std::vector<const Tensor*>& candidate);

  // Average precision (VOC all-point interpolation) over all frames; NAN without ground truth.
  double map50() const;
  // Mean IoU of candidate boxes matched to reference boxes; NAN without matches.
  double mean_iou() const;
  double top1_agreement() const;  // NAN without classifier pairs
  double snr_db() const;          // 10 log10(sum ref^2 / sum (ref - cand)^2); INFINITY when identical

  int64_t gt = 0, frames = 0;

 private:
  static constexpr size_t kExact = 65536, kBins = 10000;
  void record(float score, bool tp);
  std::vector<std::pair<float, bool>> scored_;  // (score, true positive) while exact
  std::vector<int64_t> tp_bins_, fp_bins_;      // after: counts per score bin (bin kBins - 1 holds 1.0)
  double iou_sum_ = 0;
  int64_t iou_n_ = 0;
  int64_t agree_ = 0, pairs_ = 0;
  double sig_ = 0, err_ = 0;
};

}  // namespace ec
