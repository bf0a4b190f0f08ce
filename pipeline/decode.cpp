#include "decode.h"

#include <algorithm>
#include <cmath>

#include "error.h"

namespace ec {

float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = (a & b).area();
  const float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.f;
}

std::vector<Detection> nms(std::vector<Detection> dets, float thr, int max_keep) {
  std::stable_sort(dets.begin(), dets.end(), [](const Detection& a, const Detection& b) { return a.score > b.score; });
  std::vector<Detection> keep;
  std::vector<bool> gone(dets.size(), false);
  for (size_t i = 0; i < dets.size() && static_cast<int>(keep.size()) < max_keep; ++i) {
    if (gone[i]) continue;
    keep.push_back(dets[i]);
    for (size_t j = i + 1; j < dets.size(); ++j)
      if (!gone[j] && dets[j].class_id == dets[i].class_id && iou(dets[i].box, dets[j].box) > thr) gone[j] = true;
  }
  return keep;
}

namespace {

float sigmoid(float x) { return 1.f / (1.f + std::exp(-std::clamp(x, -100.f, 100.f))); }

cv::Rect2f to_frame_box(const Letterbox& lb, float x1, float y1, float x2, float y2) {
  cv::Point2f a = lb.to_frame(x1, y1), b = lb.to_frame(x2, y2);
  return {a.x, a.y, b.x - a.x, b.y - a.y};
}

class BlazeFaceDecoder : public Decoder {
 public:
  BlazeFaceDecoder(const DecoderOptions& o, int w, int h) : o_(o), w_(w), h_(h) {}
  void decode(const std::vector<const Tensor*>& outs, const Letterbox& lb, Result& r) override {
    r = Result{};
    // Pair score [1,N,1] and regressor [1,N,16] outputs by anchor count; larger N = finer grid (2 anchors).
    std::vector<std::pair<const Tensor*, const Tensor*>> heads;
    for (const Tensor* s : outs) {
      if (s->rank() != 3 || s->dim(2) != 1) continue;
      for (const Tensor* g : outs)
        if (g->rank() == 3 && g->dim(2) == 16 && g->dim(1) == s->dim(1)) heads.push_back({s, g});
    }
    if (heads.empty()) throw Error("blazeface decoder: the model has no [1,N,1] score + [1,N,16] regressor outputs");
    std::sort(heads.begin(), heads.end(), [](auto& a, auto& b) { return a.first->dim(1) > b.first->dim(1); });
    std::vector<Detection> dets;
    const int per_cell[2] = {2, 6};
    for (size_t hi = 0; hi < heads.size() && hi < 2; ++hi) {
      const int64_t n = heads[hi].first->dim(1);
      const int apc = per_cell[hi];
      const int grid = static_cast<int>(std::lround(std::sqrt(static_cast<double>(n / apc))));
      if (grid * grid * apc != n) throw Error("blazeface decoder: " + std::to_string(n) + " anchors do not form a square grid");
      const float* sc = heads[hi].first->ptr<float>();
      const float* rg = heads[hi].second->ptr<float>();
      for (int64_t i = 0; i < n; ++i) {
        const float score = sigmoid(sc[i]);
        if (score < o_.score_threshold) continue;
        const int64_t cell = i / apc;
        const float ax = (static_cast<float>(cell % grid) + 0.5f) / grid, ay = (static_cast<float>(cell / grid) + 0.5f) / grid;
        const float* v = rg + i * 16;
        const float cx = ax * w_ + v[0], cy = ay * h_ + v[1], bw = v[2], bh = v[3];  // input pixels
        Detection d;
        d.score = score;
        d.box = to_frame_box(lb, cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2);
        for (int k = 0; k < 6; ++k) d.keypoints.push_back(lb.to_frame(ax * w_ + v[4 + 2 * k], ay * h_ + v[5 + 2 * k]));
        dets.push_back(d);
      }
    }
    r.detections = nms(std::move(dets), o_.nms_iou, o_.max_detections);
  }
  DecoderOptions o_;
  int w_, h_;
};

class SsdDecoder : public Decoder {
 public:
  SsdDecoder(const DecoderOptions& o, int w, int h) : o_(o), w_(w), h_(h) {}
  void decode(const std::vector<const Tensor*>& outs, const Letterbox& lb, Result& r) override {
    r = Result{};
    const Tensor *boxes = nullptr, *scores = nullptr;
    for (const Tensor* t : outs) {
      if (t->rank() != 3) continue;
      if (t->dim(2) == 4 && !boxes) boxes = t;
      else if (!scores) scores = t;
    }
    if (!boxes || !scores || boxes->dim(1) != scores->dim(1))
      throw Error("ssd decoder: expects scores [1,N,C] and boxes [1,N,4] outputs");
    const int64_t n = boxes->dim(1), c = scores->dim(2);
    std::vector<Detection> dets;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 1; k < c; ++k) {  // class 0 is background
        const float s = scores->ptr<float>()[i * c + k];
        if (s < o_.score_threshold) continue;
        const float* b = boxes->ptr<float>() + i * 4;
        Detection d;
        d.score = s;
        d.class_id = static_cast<int>(k);
        d.box = to_frame_box(lb, b[0] * w_, b[1] * h_, b[2] * w_, b[3] * h_);
        dets.push_back(d);
      }
    r.detections = nms(std::move(dets), o_.nms_iou, o_.max_detections);
  }
  DecoderOptions o_;
  int w_, h_;
};

class YoloDecoder : public Decoder {
 public:
  YoloDecoder(const DecoderOptions& o, bool v8) : o_(o), v8_(v8) {}
  void decode(const std::vector<const Tensor*>& outs, const Letterbox& lb, Result& r) override {
    r = Result{};
    const Tensor* t = outs.empty() ? nullptr : outs[0];
    if (!t || t->rank() != 3) throw Error(std::string(v8_ ? "yolov8" : "yolov5") + " decoder: expects one [1,A,B] output");
    // v5: [1,N,5+C] rows; v8: [1,4+C,N] columns
    const int64_t n = v8_ ? t->dim(2) : t->dim(1), f = v8_ ? t->dim(1) : t->dim(2);
    const int64_t first_cls = v8_ ? 4 : 5;
    if (f <= first_cls) throw Error("yolo decoder: output " + shape_str(t->shape()) + " has no class scores");
    const float* p = t->ptr<float>();
    auto at = [&](int64_t i, int64_t k) { return v8_ ? p[k * n + i] : p[i * f + k]; };
    std::vector<Detection> dets;
    for (int64_t i = 0; i < n; ++i) {
      const float obj = v8_ ? 1.f : at(i, 4);
      if (obj < o_.score_threshold) continue;
      int64_t best = first_cls;
      for (int64_t k = first_cls + 1; k < f; ++k)
        if (at(i, k) > at(i, best)) best = k;
      const float s = obj * at(i, best);
      if (s < o_.score_threshold) continue;
      const float cx = at(i, 0), cy = at(i, 1), w = at(i, 2), h = at(i, 3);
      Detection d;
      d.score = s;
      d.class_id = static_cast<int>(best - first_cls);
      d.box = to_frame_box(lb, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
      dets.push_back(d);
    }
    r.detections = nms(std::move(dets), o_.nms_iou, o_.max_detections);
  }
  DecoderOptions o_;
  bool v8_;
};

class ClassifyDecoder : public Decoder {
 public:
  explicit ClassifyDecoder(const DecoderOptions& o) : o_(o) {}
  void decode(const std::vector<const Tensor*>& outs, const Letterbox&, Result& r) override {
    r = Result{};
    if (outs.empty()) throw Error("classify decoder: the model has no output");
    const Tensor& t = *outs[0];
    const int64_t c = t.numel();
    const float* p = t.ptr<float>();
    bool probs = true;
    double sum = 0;
    for (int64_t i = 0; i < c; ++i) {
      probs = probs && p[i] >= 0 && p[i] <= 1;
      sum += p[i];
    }
    probs = probs && std::fabs(sum - 1.0) < 1e-3;
    std::vector<float> s(p, p + c);
    if (!probs) {  // softmax of logits
      const float mx = *std::max_element(s.begin(), s.end());
      double z = 0;
      for (float& v : s) z += (v = std::exp(v - mx));
      for (float& v : s) v = static_cast<float>(v / z);
    }
    std::vector<int> idx(static_cast<size_t>(c));
    for (int i = 0; i < c; ++i) idx[static_cast<size_t>(i)] = i;
    const int k = std::min<int>(o_.top_k, static_cast<int>(c));
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) { return s[static_cast<size_t>(a)] > s[static_cast<size_t>(b)]; });
    for (int i = 0; i < k; ++i) r.classes.push_back({idx[static_cast<size_t>(i)], s[static_cast<size_t>(idx[static_cast<size_t>(i)])]});
  }
  DecoderOptions o_;
};

class NoDecoder : public Decoder {
 public:
  void decode(const std::vector<const Tensor*>&, const Letterbox&, Result& r) override { r = Result{}; }
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const DecoderOptions& o, int w, int h) {
  if (o.type == "blazeface") return std::make_unique<BlazeFaceDecoder>(o, w, h);
  if (o.type == "ssd") return std::make_unique<SsdDecoder>(o, w, h);
  if (o.type == "yolov5") return std::make_unique<YoloDecoder>(o, false);
  if (o.type == "yolov8") return std::make_unique<YoloDecoder>(o, true);
  if (o.type == "classify") return std::make_unique<ClassifyDecoder>(o);
  if (o.type == "none") return std::make_unique<NoDecoder>();
  throw Error("decoder '" + o.type + "' is not one of blazeface, ssd, yolov5, yolov8, classify, none");
}

}  // namespace ec
