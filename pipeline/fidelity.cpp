#include "fidelity.h"

#include <algorithm>
#include <cmath>

namespace ec {

void FidelityAccumulator::add_detections(const std::vector<Detection>& ref, const std::vector<Detection>& cand, float thr) {
  ++frames;
  gt += static_cast<int64_t>(ref.size());
  std::vector<size_t> order(cand.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cand[a].score > cand[b].score; });
  std::vector<bool> used(ref.size(), false);
  for (size_t i : order) {
    float best = 0;
    size_t bj = ref.size();
    for (size_t j = 0; j < ref.size(); ++j) {
      if (used[j] || ref[j].class_id != cand[i].class_id) continue;
      const float u = iou(cand[i].box, ref[j].box);
      if (u > best) {
        best = u;
        bj = j;
      }
    }
    const bool tp = bj < ref.size() && best >= thr;
    if (tp) {
      used[bj] = true;
      iou_sum_ += best;
      ++iou_n_;
    }
    record(cand[i].score, tp);
  }
}

void FidelityAccumulator::record(float score, bool tp) {
  auto bin = [](float s) { return static_cast<size_t>(std::clamp(s, 0.f, 1.f) * static_cast<float>(kBins - 1) + 0.5f); };
  if (tp_bins_.empty()) {
    scored_.push_back({score, tp});
    if (scored_.size() <= kExact) return;
    tp_bins_.assign(kBins, 0);  // switch to bins: fixed memory from here on
    fp_bins_.assign(kBins, 0);
    for (auto& e : scored_) ++(e.second ? tp_bins_ : fp_bins_)[bin(e.first)];
    scored_.clear();
    scored_.shrink_to_fit();
    return;
  }
  ++(tp ? tp_bins_ : fp_bins_)[bin(score)];
}

void FidelityAccumulator::add_classes(int r, int c) {
  ++frames;
  ++pairs_;
  agree_ += r == c;
}

void FidelityAccumulator::add_outputs(const std::vector<const Tensor*>& ref, const std::vector<const Tensor*>& cand) {
  for (size_t k = 0; k < ref.size() && k < cand.size(); ++k) {
    if (ref[k]->numel() != cand[k]->numel()) continue;
    for (int64_t i = 0; i < ref[k]->numel(); ++i) {
      const double a = ref[k]->ptr<float>()[i], b = cand[k]->ptr<float>()[i];
      sig_ += a * a;
      err_ += (a - b) * (a - b);
    }
  }
}

double FidelityAccumulator::map50() const {
  if (gt == 0) return NAN;
  // points of the precision/recall curve from the highest score down (a bin counts as one step)
  std::vector<double> prec, rec;
  int64_t tp = 0, fp = 0;
  auto step = [&](int64_t dtp, int64_t dfp) {
    tp += dtp;
    fp += dfp;
    prec.push_back(static_cast<double>(tp) / static_cast<double>(tp + fp));
    rec.push_back(static_cast<double>(tp) / static_cast<double>(gt));
  };
  if (tp_bins_.empty()) {
    std::vector<std::pair<float, bool>> s = scored_;
    std::stable_sort(s.begin(), s.end(), [](auto& a, auto& b) { return a.first > b.first; });
    for (auto& e : s) step(e.second, !e.second);
  } else {
    for (size_t b = kBins; b-- > 0;)
      if (tp_bins_[b] || fp_bins_[b]) step(tp_bins_[b], fp_bins_[b]);
  }
  // all-point interpolation: precision envelope from the right, summed over recall steps
  for (size_t i = prec.size(); i-- > 1;) prec[i - 1] = std::max(prec[i - 1], prec[i]);
  double ap = 0, last_r = 0;
  for (size_t i = 0; i < prec.size(); ++i) {
    ap += (rec[i] - last_r) * prec[i];
    last_r = rec[i];
  }
  return ap;
}

double FidelityAccumulator::mean_iou() const { return iou_n_ ? iou_sum_ / static_cast<double>(iou_n_) : NAN; }
double FidelityAccumulator::top1_agreement() const { return pairs_ ? static_cast<double>(agree_) / static_cast<double>(pairs_) : NAN; }
double FidelityAccumulator::snr_db() const { return err_ > 0 ? 10.0 * std::log10(sig_ / err_) : INFINITY; }

}  // namespace ec
