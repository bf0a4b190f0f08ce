// Decoders with known answers on synthetic outputs: BlazeFace anchors and keypoints, SSD, YOLOv5 and
// YOLOv8 layouts, NMS, top-k, and boxes mapped back through a letterbox.
#include <gtest/gtest.h>

#include "decode.h"
#include "error.h"
#include "preprocess.h"

using namespace ec;

TEST(Decode, NmsKeepsTheBestOfOverlappingBoxesPerClass) {
  std::vector<Detection> d(4);
  d[0].box = {0, 0, 10, 10}; d[0].score = 0.9f;
  d[1].box = {1, 1, 10, 10}; d[1].score = 0.8f;             // overlaps d0 (IoU 0.68)
  d[2].box = {1, 1, 10, 10}; d[2].score = 0.7f; d[2].class_id = 1;  // other class
  d[3].box = {50, 50, 10, 10}; d[3].score = 0.6f;
  auto k = nms(d, 0.5f, 10);
  ASSERT_EQ(k.size(), 3u);
  EXPECT_FLOAT_EQ(k[0].score, 0.9f);
  EXPECT_FLOAT_EQ(k[1].score, 0.7f);
  EXPECT_FLOAT_EQ(k[2].score, 0.6f);
  EXPECT_NEAR(iou({0, 0, 10, 10}, {5, 0, 10, 10}), 50.0 / 150.0, 1e-6);
}

TEST(Decode, BlazeFaceAnchorsAndKeypoints) {
  Tensor s16(DType::f32, {1, 512, 1}), s8(DType::f32, {1, 384, 1}), r16(DType::f32, {1, 512, 16}), r8(DType::f32, {1, 384, 16});
  for (auto* t : {&s16, &s8}) for (int64_t i = 0; i < t->numel(); ++i) t->ptr<float>()[i] = -10;
  // anchor 2*(5*16 + 9) + 1: cell (x=9, y=5) of the 16x16 grid, second anchor
  const int64_t a = 2 * (5 * 16 + 9) + 1;
  s16.ptr<float>()[a] = 3;  // sigmoid 0.953
  float* v = r16.ptr<float>() + a * 16;
  v[0] = 2; v[1] = -1; v[2] = 20; v[3] = 24;  // centre offset and size in input pixels
  v[4] = -3; v[5] = -4;                       // first keypoint offset
  // one on the 8x8 grid: cell (x=2, y=7), anchor 4
  const int64_t b = 6 * (7 * 8 + 2) + 4;
  s8.ptr<float>()[b] = 1;
  r8.ptr<float>()[b * 16 + 2] = 30;
  r8.ptr<float>()[b * 16 + 3] = 30;
  DecoderOptions o;
  o.type = "blazeface";
  o.score_threshold = 0.6f;
  auto dec = make_decoder(o, 128, 128);
  Letterbox lb;
  lb.sx = lb.sy = 0.5;  // frame is 256x256
  Result r;
  dec->decode({&s16, &s8, &r16, &r8}, lb, r);
  ASSERT_EQ(r.detections.size(), 2u);
  const Detection& d = r.detections[0];
  EXPECT_NEAR(d.score, 1 / (1 + std::exp(-3.0)), 1e-6);
  const float cx = (9.5f / 16 * 128 + 2) * 2, cy = (5.5f / 16 * 128 - 1) * 2;  // frame pixels
  EXPECT_NEAR(d.box.x + d.box.width / 2, cx, 1e-3);
  EXPECT_NEAR(d.box.y + d.box.height / 2, cy, 1e-3);
  EXPECT_NEAR(d.box.width, 40, 1e-3);
  EXPECT_NEAR(d.box.height, 48, 1e-3);
  ASSERT_EQ(d.keypoints.size(), 6u);
  EXPECT_NEAR(d.keypoints[0].x, (9.5f / 16 * 128 - 3) * 2, 1e-3);
  const Detection& e = r.detections[1];
  EXPECT_NEAR(e.box.x + e.box.width / 2, 2.5f / 8 * 128 * 2, 1e-3);
  EXPECT_NEAR(e.box.y + e.box.height / 2, 7.5f / 8 * 128 * 2, 1e-3);
}

TEST(Decode, YoloV5AndV8LayoutsThroughALetterbox) {
  // A 640x640 input letterboxed from a 1280x720 frame: scale 0.5, pad y = 140.
  PreprocessSpec spec;
  spec.resize = "letterbox";
  Preprocessor pre(spec, {1, 3, 640, 640});
  cv::Mat frame(720, 1280, CV_8UC3, cv::Scalar(10, 20, 30));
  Tensor in(DType::f32, {1, 3, 640, 640});
  Letterbox lb = pre.run(frame, in);
  EXPECT_DOUBLE_EQ(lb.sx, 0.5);
  EXPECT_DOUBLE_EQ(lb.pad_y, 140);
  // v5: [1, N, 5 + C]
  Tensor v5(DType::f32, {1, 3, 7});
  const float rows[3][7] = {{320, 320, 100, 50, 0.9f, 0.1f, 0.8f}, {322, 321, 100, 50, 0.8f, 0.2f, 0.7f}, {100, 100, 10, 10, 0.2f, 0.9f, 0.1f}};
  std::memcpy(v5.data(), rows, sizeof rows);
  DecoderOptions o;
  o.type = "yolov5";
  o.score_threshold = 0.3f;
  Result r;
  make_decoder(o, 640, 640)->decode({&v5}, lb, r);
  ASSERT_EQ(r.detections.size(), 1u);  // the second row is suppressed, the third below threshold
  EXPECT_EQ(r.detections[0].class_id, 1);
  EXPECT_NEAR(r.detections[0].score, 0.72f, 1e-6);
  EXPECT_NEAR(r.detections[0].box.x, (320 - 50) / 0.5, 1e-3);
  EXPECT_NEAR(r.detections[0].box.y, (320 - 25 - 140) / 0.5, 1e-3);
  EXPECT_NEAR(r.detections[0].box.width, 200, 1e-3);
  // v8: the same first box as columns of [1, 4 + C, N]
  Tensor v8(DType::f32, {1, 6, 2});
  const float cols[6][2] = {{320, 50}, {320, 50}, {100, 4}, {50, 4}, {0.1f, 0.05f}, {0.8f, 0.1f}};
  std::memcpy(v8.data(), cols, sizeof cols);
  o.type = "yolov8";
  make_decoder(o, 640, 640)->decode({&v8}, lb, r);
  ASSERT_EQ(r.detections.size(), 1u);
  EXPECT_NEAR(r.detections[0].box.x, 540, 1e-3);
  EXPECT_NEAR(r.detections[0].score, 0.8f, 1e-6);
}

TEST(Decode, SsdAndClassify) {
  Tensor scores(DType::f32, {1, 2, 3}), boxes(DType::f32, {1, 2, 4});
  const float s[6] = {0.1f, 0.85f, 0.05f, 0.9f, 0.05f, 0.05f};  // second prior is background
  const float b[8] = {0.1f, 0.2f, 0.5f, 0.6f, 0, 0, 1, 1};
  std::memcpy(scores.data(), s, sizeof s);
  std::memcpy(boxes.data(), b, sizeof b);
  DecoderOptions o;
  o.type = "ssd";
  Result r;
  Letterbox lb;
  lb.sx = lb.sy = 300.0 / 600.0;
  make_decoder(o, 300, 300)->decode({&scores, &boxes}, lb, r);
  ASSERT_EQ(r.detections.size(), 1u);
  EXPECT_EQ(r.detections[0].class_id, 1);
  EXPECT_NEAR(r.detections[0].box.x, 60, 1e-3);
  EXPECT_NEAR(r.detections[0].box.height, 240, 1e-3);
  Tensor logits = Tensor::from_f32({1, 4}, {1.f, 3.f, 2.f, -1.f});
  o.type = "classify";
  o.top_k = 2;
  make_decoder(o, 224, 224)->decode({&logits}, lb, r);
  ASSERT_EQ(r.classes.size(), 2u);
  EXPECT_EQ(r.classes[0].class_id, 1);
  EXPECT_EQ(r.classes[1].class_id, 2);
  const double z = std::exp(1) + std::exp(3) + std::exp(2) + std::exp(-1);
  EXPECT_NEAR(r.classes[0].score, std::exp(3) / z, 1e-6);
}

TEST(Preprocess, LayoutsAndNormalisation) {
  cv::Mat frame(2, 4, CV_8UC3);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 4; ++x) frame.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(10 * x), static_cast<uchar>(100 + y), 200);
  PreprocessSpec spec;
  spec.scale = 1.0;
  spec.mean = {1, 2, 3};
  spec.std = {2, 4, 8};
  Preprocessor nchw(spec, {1, 3, 2, 4});  // same size: no resampling
  Tensor a(DType::f32, {1, 3, 2, 4});
  nchw.run(frame, a);
  // RGB order: channel 0 is R = 200
  EXPECT_FLOAT_EQ(a.ptr<float>()[0], (200 - 1) / 2.f);
  EXPECT_FLOAT_EQ(a.ptr<float>()[8 + 4 + 1], (101 - 2) / 4.f);  // G at (y=1, x=1)
  EXPECT_FLOAT_EQ(a.ptr<float>()[16 + 3], (30 - 3) / 8.f);      // B at (y=0, x=3)
  spec.color = "bgr";
  Preprocessor nhwc(spec, {1, 2, 4, 3});
  EXPECT_FALSE(nhwc.nchw());
  Tensor b(DType::f32, {1, 2, 4, 3});
  nhwc.run(frame, b);
  EXPECT_FLOAT_EQ(b.ptr<float>()[(1 * 4 + 2) * 3 + 0], (20 - 1) / 2.f);
  EXPECT_THROW(Preprocessor(spec, {1, 4, 8, 8}), Error);
}
