// Agreement scoring as `run` uses it for days: past 65,536 scored detections the accumulator keeps score bins,
// and its mAP@0.5 stays within 1e-3 of the exact all-point value of the same detections.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "fidelity.h"

using namespace ec;

namespace {

// Exact VOC all-point AP of (score, true positive) pairs against `gt` ground-truth boxes.
double exact_ap(std::vector<std::pair<float, bool>> s, int64_t gt) {
  std::stable_sort(s.begin(), s.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<double> p, r;
  int64_t tp = 0, fp = 0;
  for (auto& e : s) {
    (e.second ? tp : fp) += 1;
    p.push_back(static_cast<double>(tp) / static_cast<double>(tp + fp));
    r.push_back(static_cast<double>(tp) / static_cast<double>(gt));
  }
  for (size_t i = p.size(); i-- > 1;) p[i - 1] = std::max(p[i - 1], p[i]);
  double ap = 0, last = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    ap += (r[i] - last) * p[i];
    last = r[i];
  }
  return ap;
}

Detection box(float x, float score) {
  Detection d;
  d.box = cv::Rect2f(x, 10, 20, 20);
  d.score = score;
  return d;
}

}  // namespace

TEST(Fidelity, MapStaysWithinOneThousandthPastTheExactLimit) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  FidelityAccumulator acc;
  std::vector<std::pair<float, bool>> truth;
  int64_t gt = 0;
  for (int f = 0; f < 100000; ++f) {  // one reference face per frame; the candidate finds it (score higher) or a box elsewhere
    const bool hit = u(rng) < 0.8f;
    const float score = hit ? 0.5f + 0.5f * u(rng) : 0.3f + 0.6f * u(rng);
    acc.add_detections({box(0, 0.9f)}, {box(hit ? 1.f : 200.f, score)});
    truth.push_back({score, hit});
    ++gt;
  }
  ASSERT_EQ(acc.gt, gt);
  const double want = exact_ap(truth, gt);
  EXPECT_GT(want, 0.5);
  EXPECT_NEAR(acc.map50(), want, 1e-3);
  EXPECT_GT(acc.mean_iou(), 0.9);  // a 1-pixel shift of a 20-pixel box: IoU 0.905
}

TEST(Fidelity, IdenticalDetectionsAgreePerfectly) {
  FidelityAccumulator acc;
  for (int f = 0; f < 70000; ++f) acc.add_detections({box(5, 0.8f), box(100, 0.95f)}, {box(5, 0.8f), box(100, 0.95f)});
  EXPECT_DOUBLE_EQ(acc.map50(), 1.0);
  EXPECT_DOUBLE_EQ(acc.mean_iou(), 1.0);
}

// Classifiers: top-1 agreement over the frames scored, and those frames counted (the live summary reports them).
TEST(Fidelity, ClassifierAgreementCountsItsFrames) {
  ec::FidelityAccumulator f;
  EXPECT_TRUE(std::isnan(f.top1_agreement()));
  f.add_classes(3, 3);
  f.add_classes(3, 1);
  f.add_classes(0, 0);
  f.add_classes(7, 7);
  EXPECT_EQ(f.frames, 4);
  EXPECT_DOUBLE_EQ(f.top1_agreement(), 0.75);
  EXPECT_TRUE(std::isnan(f.map50())) << "no boxes: no mAP";
}
