// Overlay layouts: output sizes, the width limit, each variant's colour on its detections, bad layouts.
#include <gtest/gtest.h>

#include "error.h"
#include "overlay.h"

using namespace ec;

TEST(Overlay, LayoutsSizesAndColours) {
  cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(0, 0, 0));
  Result a, b;
  Detection d;
  d.box = {100, 100, 60, 40};
  d.score = 0.9f;
  a.detections.push_back(d);
  b.detections.push_back(d);
  std::vector<PanelInfo> panels(3);
  panels[0].title = "a";
  panels[0].result = &a;
  panels[1].title = "b";
  panels[1].result = &b;
  panels[2].title = "c";
  OverlayHeader h;
  h.lines = {"pipeline 30 FPS"};
  cv::Mat out;
  compose_overlay(frame, panels, h, "side-by-side", 4000, out);
  EXPECT_EQ(out.size(), cv::Size(960, 240));
  // the bottom edge of the box in panel 1 (x offset 320) has variant 1's colour
  cv::Vec3b p = out.at<cv::Vec3b>(140, 320 + 130);
  cv::Scalar c1 = variant_color(1);
  EXPECT_NEAR(p[0], c1[0], 40);
  EXPECT_NEAR(p[1], c1[1], 40);
  EXPECT_NEAR(p[2], c1[2], 40);
  compose_overlay(frame, panels, h, "grid", 4000, out);
  EXPECT_EQ(out.size(), cv::Size(640, 480));  // 2 x 2 cells for 3 panels
  compose_overlay(frame, panels, h, "overlay", 4000, out);
  EXPECT_EQ(out.size(), cv::Size(320, 240));
  compose_overlay(frame, panels, h, "side-by-side", 480, out);  // scaled to the width limit
  EXPECT_EQ(out.cols, 480);
  EXPECT_EQ(out.rows, 120);
  EXPECT_THROW(compose_overlay(frame, panels, h, "mosaic", 4000, out), Error);
}
