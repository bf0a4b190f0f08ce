// The pipeline's parts in process: the variant runner (shared by `run` and `eval`), the live view, and the
// whole loop on a test source into a file output with a toggle, a layout change and a reload issued while it
// runs — one playable file of one size, every variant's frames in the summary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "../engine/helpers.h"
#include "error.h"
#include "live_view.h"
#include "runner.h"
#include "samples.h"
#include "source.h"
#include "variant_runner.h"

using namespace ec;

namespace {

RunnerSpec blazeface(const std::string& model) {
  RunnerSpec s;
  s.model = model;
  s.threads = 1;
  s.input.scale = 1.0 / 127.5;
  s.input.mean = {1, 1, 1};
  s.decoder.type = "blazeface";
  s.decoder.score_threshold = 0.5f;
  s.decoder.nms_iou = 0.3f;
  return s;
}

std::string copy_model(const std::string& name) {
  const std::string dst = testing::TempDir() + "/" + name + "-" + std::to_string(getpid()) + ".onnx";
  std::ifstream in(test::models_dir() + "/blazeface128.onnx", std::ios::binary);
  std::ofstream out(dst, std::ios::binary);
  out << in.rdbuf();
  return dst;
}

}  // namespace

TEST(VariantRunner, PreprocessedAndRawFramesGiveTheSameResultAndStagesAreTimed) {
  VariantRunner r(blazeface(test::models_dir() + "/blazeface128.onnx"));
  EXPECT_GT(r.model_bytes(), 100000u);
  EXPECT_GT(r.params(), 100000);
  EXPECT_EQ(r.recipe(), "") << "an original model";
  auto samples = load_samples(test::models_dir() + "/Megamind.avi", r.spec().input, r.engine().input(0).shape(), 30, 5);
  ASSERT_EQ(samples.size(), 5u);
  int faces = 0;
  for (const FrameSample& s : samples) {
    Result a, b;
    const StageTimes t = r.run(s.bgr, a);
    EXPECT_GT(t.pre_ms, 0);
    EXPECT_GT(t.infer_ms, 0);
    EXPECT_GE(t.decode_ms, 0);
    EXPECT_GT(t.infer_start_ms, 0);
    r.run_preprocessed(s.input, s.lb, b);
    ASSERT_EQ(a.detections.size(), b.detections.size());
    for (size_t i = 0; i < a.detections.size(); ++i) {
      EXPECT_EQ(a.detections[i].score, b.detections[i].score);
      EXPECT_EQ(a.detections[i].box.x, b.detections[i].box.x);
    }
    faces += !a.detections.empty();
  }
  EXPECT_GE(faces, 3) << "Megamind's face on most sampled frames";
  Tensor wrong(DType::f32, {1, 3, 64, 64});
  try {
    Result r2;
    r.run_preprocessed(wrong, {}, r2);
    FAIL() << "a wrong input shape must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not have the model's input shape"), std::string::npos) << e.what();
  }
}

TEST(VariantRunner, SameEngineFollowsTheFileAndReconfigureKeepsItOnError) {
  const std::string path = copy_model("same");
  RunnerSpec s = blazeface(path);
  VariantRunner r(s);
  EXPECT_TRUE(r.same_engine(s));
  RunnerSpec other = s;
  other.threads = 2;
  EXPECT_FALSE(r.same_engine(other));
  other = s;
  other.decoder.score_threshold = 0.9f;  // decoder settings do not need a new engine
  EXPECT_TRUE(r.same_engine(other));
  // a model file rewritten in place (recompressed to the same path): a new engine
  struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  EXPECT_FALSE(r.same_engine(s));

  // a bad decoder setting is refused and the runner keeps working as before
  cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(90, 120, 150));
  Result before, after;
  r.run(frame, before);
  RunnerSpec bad = s;
  bad.decoder.type = "yolo-nas";
  EXPECT_THROW(r.check_settings(bad), Error);
  EXPECT_THROW(r.reconfigure(bad), Error);
  r.run(frame, after);
  EXPECT_EQ(before.detections.size(), after.detections.size());
  EXPECT_EQ(r.spec().decoder.type, "blazeface");
  std::remove(path.c_str());
}

TEST(LiveView, FramesOnlyWhileWatchedAndAtMostTenASecond) {
  LiveView v;
  std::vector<unsigned char> jpg;
  uint64_t seq = 0;
  EXPECT_FALSE(v.watched(1000));
  EXPECT_FALSE(v.latest_jpeg(jpg, seq, 1000)) << "nothing before the first frame";
  EXPECT_TRUE(v.watched(1000));
  EXPECT_TRUE(v.watched(2999));
  EXPECT_FALSE(v.watched(3001)) << "a viewer that stopped asking for 2 s is gone";
  cv::Mat canvas(48, 64, CV_8UC3, cv::Scalar(0, 0, 255));
  EXPECT_EQ(v.jpeg_seq(1000), 0u);
  EXPECT_TRUE(v.frame_due(1000));
  v.offer_frame(canvas, 1000);
  EXPECT_FALSE(v.frame_due(1050)) << "the loop skips drawing the overlay for frames the view would not take";
  v.offer_frame(canvas, 1050);  // within 100 ms: not encoded
  EXPECT_EQ(v.jpeg_seq(1050), 1u);
  EXPECT_TRUE(v.frame_due(1100));
  ASSERT_TRUE(v.latest_jpeg(jpg, seq, 1060));
  EXPECT_EQ(seq, 1u);
  EXPECT_EQ(jpg[0], 0xFF);
  EXPECT_EQ(jpg[1], 0xD8);
  v.offer_frame(canvas, 1101);
  ASSERT_TRUE(v.latest_jpeg(jpg, seq, 1110));
  EXPECT_EQ(seq, 2u);
  int built = 0;
  v.offer_status(1000, [&] { ++built; return nlohmann::json{{"n", 1}}; });
  v.offer_status(1100, [&] { ++built; return nlohmann::json{{"n", 2}}; });  // within 250 ms: not even built
  EXPECT_EQ(built, 1);
  EXPECT_EQ(v.status()["n"], 1);
}

TEST(Pipeline, TogglesLayoutAndReloadWhileRunningKeepOneFileAndEveryVariantsFrames) {
  const std::string dir = testing::TempDir() + "/pipeline-inproc-" + std::to_string(getpid());
  std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str());
  auto variant = [](const std::string& name) {
    VariantConfig v;
    v.name = name;
    v.model = test::models_dir() + "/blazeface128.onnx";
    v.threads = 1;
    v.input.scale = 1.0 / 127.5;
    v.input.mean = {1, 1, 1};
    v.decoder.type = "blazeface";
    return v;
  };
  RunConfig c;
  c.source_uri = "test://ball";
  c.source.width = 320;
  c.source.height = 240;
  c.source.fps = 30;
  c.variants = {variant("keep"), variant("gone")};
  c.sink_uri = "file://" + dir + "/out.mp4";
  c.max_frames = 150;
  c.record = true;
  c.session_dir = dir + "/s";
  c.quiet = true;
  Pipeline p(c, nullptr, "no sensor in this test");
  RunConfig reloaded = c;
  reloaded.variants = {variant("keep")};
  p.reload_config = [&] { return reloaded; };
  // the requests come from another thread, as the signal handlers and the window's keys do
  std::thread driver([&] {
    auto frames = [&] {
      const nlohmann::json st = p.status();  // null until the loop's first status
      return st.is_object() ? st.value("frames", 0) : 0;
    };
    auto wait_for = [&](int n) {
      for (int i = 0; i < 3000 && frames() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
    wait_for(20);
    p.request_toggle(1);
    wait_for(40);
    p.request_toggle(1);
    wait_for(60);
    p.request_next_layout();
    wait_for(80);
    p.request_reload();
  });
  const nlohmann::json sum = p.run();
  driver.join();
  EXPECT_EQ(sum["session"]["frames"], 150);
  EXPECT_EQ(sum["session"]["status"], "max frames");
  ASSERT_EQ(sum["variants"].size(), 2u) << sum.dump(1);
  const auto& keep = sum["variants"][0];
  const auto& gone = sum["variants"][1];
  EXPECT_EQ(keep["name"], "keep");
  EXPECT_EQ(keep["frames"], 150) << "the kept variant ran on every frame, across the reload";
  EXPECT_EQ(gone["name"], "gone");
  EXPECT_TRUE(gone["removed_by_reload"].get<bool>());
  EXPECT_GT(gone["frames"].get<int>(), 20);
  EXPECT_LT(gone["frames"].get<int>(), 130) << "off for a while, then removed";
  std::vector<std::string> kinds;
  for (const auto& e : sum["events"]["last"]) kinds.push_back(e["kind"]);
  EXPECT_EQ(kinds, (std::vector<std::string>{"output", "disable", "enable", "layout", "reload"}));
  // one file, one frame size, every frame
  auto src = FrameSource::open(dir + "/out.mp4", {});
  Frame f;
  int n = 0;
  cv::Size size;
  while (src->read(f, 5000) == ReadStatus::ok) {
    if (n++ == 0) size = f.bgr.size();
    ASSERT_EQ(f.bgr.size(), size) << "frame " << n;
  }
  EXPECT_EQ(n, 150);
  EXPECT_EQ(size.width, 640) << "two 320-pixel panels side by side, kept after the reload to one";
  struct stat st {};
  EXPECT_EQ(stat((dir + "/s/summary.json").c_str(), &st), 0);
}

// Symbolic input dimensions (PaddlePaddle and dynamic-axes exports: [1,3,height,width], [N,H,W,3]) get their
// size from the input spec; what stays unknown is an error naming the input and the dimension.
TEST(ResolveInputShape, SymbolicDimsComeFromTheInputSizeOrTheGivenShape) {
  ValueInfo nchw{"x", DType::f32, {{1, ""}, {3, ""}, {-1, "height"}, {-1, "width"}}, true};
  PreprocessSpec spec;
  spec.width = 320;
  spec.height = 240;
  EXPECT_EQ(resolve_input_shape(nchw, spec), (Shape{1, 3, 240, 320}));
  // a given shape wins, and must agree with every fixed dimension
  EXPECT_EQ(resolve_input_shape(nchw, spec, {1, 3, 64, 96}), (Shape{1, 3, 64, 96}));
  try {
    resolve_input_shape(nchw, spec, {1, 1, 64, 96});
    FAIL() << "a channel count other than the declared 3 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dimension 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(resolve_input_shape(nchw, spec, {1, 3, 64}), Error);  // another rank
  // without a size, the symbolic height is named
  try {
    resolve_input_shape(nchw, PreprocessSpec{});
    FAIL() << "a symbolic height without a size was accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'x'"), std::string::npos) << m;
    EXPECT_NE(m.find("height"), std::string::npos) << m;
    EXPECT_NE(m.find("--shape"), std::string::npos) << m;
  }
  // NHWC with a symbolic batch: batch 1, H and W from the size
  ValueInfo nhwc{"img", DType::f32, {{-1, "N"}, {-1, "H"}, {-1, "W"}, {3, ""}}, true};
  EXPECT_EQ(resolve_input_shape(nhwc, spec), (Shape{1, 240, 320, 3}));
  // symbolic channels in NCHW: 3 (the pipeline feeds colour images)
  ValueInfo anyc{"in", DType::f32, {{-1, "N"}, {-1, "C"}, {128, ""}, {128, ""}}, true};
  EXPECT_EQ(resolve_input_shape(anyc, PreprocessSpec{}), (Shape{1, 3, 128, 128}));
  ValueInfo noshape{"y", DType::f32, {}, false};
  EXPECT_THROW(resolve_input_shape(noshape, spec), Error);
}
