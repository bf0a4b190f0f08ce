// The zoo end to end (bench/zoo_e2e.sh with fewer frames): one model per architecture kind, built in code with
// random weights — MobileNetV3 blocks, the same with Constant-node weights and a symbolic [1,3,height,width]
// input, a segmentation head (ConvTranspose, bilinear Resize), a YOLOv8-style detector, an SSD with two outputs —
// each compressed to int8 (int8-full), evaluated against its original on Megamind.avi, and run beside it with
// live quality scoring. The bounds are fidelity floors well under what this int8 recipe gives (README's table).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli.h"

using namespace ec::test;

namespace {

const nlohmann::json* find_model(const nlohmann::json& z, const std::string& name) {
  for (auto& m : z["models"])
    if (m["name"] == name) return &m;
  return nullptr;
}

}  // namespace

TEST(Zoo, EveryArchitectureKindCompressesEvaluatesAndRuns) {
  const std::string d = testing::TempDir() + "/zoo-" + std::to_string(getpid());
  const int run_frames = 24;
  CliResult r = run_shell("cd '" EC_SOURCE_DIR "' && EC_BIN=\"$bin\" EC_ZOO_BIN='" EC_ZOO_BIN "' EC_ZOO_DIR='" + d +
                          "' bash bench/zoo_e2e.sh --frames 16 --every 8 --run-frames " + std::to_string(run_frames) + " --threads 2");
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  const nlohmann::json z = nlohmann::json::parse(slurp(d + "/zoo_e2e.json"));
  struct Kind {
    const char* name;
    const char* score;  // the eval/live figure held to a floor: map50, or none (SNR only)
    double floor;
  };
  // The random-weight classifiers give the same top class on every frame of this clip (their logits differ by
  // far less between frames than between classes), so top-1 agreement would be 1 whatever int8 did: they are
  // held to the SNR of their logits, and the agreement is only checked to be reported.
  for (const Kind& k : {Kind{"mobilenetv3", "", 0}, Kind{"mobilenetv3-const", "", 0}, Kind{"seghead", "", 0},
                        Kind{"yolov8", "map50", 0.7}, Kind{"ssd", "map50", 0.7}}) {
    SCOPED_TRACE(k.name);
    const nlohmann::json* m = find_model(z, k.name);
    ASSERT_NE(m, nullptr);
    // compress: the weights (in Constant nodes too) are counted and quantized: about 4x smaller
    const auto& c = (*m)["compress"];
    EXPECT_GT(c["original"]["params"].get<int64_t>(), 100000) << c.dump(2);
    EXPECT_GE(c["size_ratio"].get<double>(), 3.0) << c.dump(2);
    EXPECT_EQ(c["original"]["macs"], c["compressed"]["macs"]);
    EXPECT_GT(c["original"]["macs"].get<int64_t>(), 10000000) << "compute counted at the resolved input shape";
    // eval: the int8 model's outputs and results against the original's
    const auto& ev = (*m)["eval"]["models"];
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0]["params"], c["original"]["params"]);
    const auto& f = ev[1]["fidelity"];
    EXPECT_GE(f["snr_db"].get<double>(), 20.0) << f.dump(2);
    if (*k.score) {
      EXPECT_GE(f[k.score].get<double>(), k.floor) << f.dump(2);
      if (std::string(k.score) == "map50") {
        EXPECT_GT(f["reference_boxes"].get<int>(), 8) << "the random detector finds boxes to compare";
        EXPECT_GE(f["mean_iou"].get<double>(), 0.5) << f.dump(2);
      }
    }
    if (std::string(k.name).rfind("mobilenetv3", 0) == 0) {
      EXPECT_TRUE(f["top1_agreement"].is_number()) << f.dump(2);
    }
    // run: both variants on every frame, the int8 one scored live against the original
    const auto& vs = (*m)["summary"]["variants"];
    ASSERT_EQ(vs.size(), 2u);
    EXPECT_EQ(vs[0]["frames"].get<int64_t>(), run_frames);
    EXPECT_EQ(vs[1]["frames"].get<int64_t>(), run_frames);
    EXPECT_EQ(vs[0]["quality"]["is_reference"], true);
    const auto& q = vs[1]["quality"];
    ASSERT_TRUE(q.is_object()) << vs[1].dump(2);
    EXPECT_EQ(q["reference"], vs[0]["name"]);
    EXPECT_EQ(q["frames"].get<int64_t>(), run_frames);
    if (*k.score) {
      EXPECT_GE(q[k.score].get<double>(), k.floor) << q.dump(2);
    }
  }
  std::system(("rm -rf '" + d + "'").c_str());
}

// A model whose input is [1,3,height,width] and whose weights are Constant nodes: without a size anywhere, the
// commands say which dimension is unknown and how to give it; with --shape they run.
TEST(Zoo, SymbolicInputWithoutASizeIsANamedError) {
  const std::string d = testing::TempDir() + "/zoosym-" + std::to_string(getpid());
  ASSERT_EQ(std::system(("mkdir -p '" + d + "' && '" EC_ZOO_BIN "' '" + d + "' mobilenetv3-const >/dev/null").c_str()), 0);
  const std::string m = d + "/mobilenetv3-const.onnx";
  // the int8 recipe's calibration input has no size
  CliResult c = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" compress -m '" + m + "' -r configs/recipes/int8-full.yaml --frames 4 -o '" + d + "/q.onnx'");
  EXPECT_EQ(c.rc, 1) << c.out;
  EXPECT_NE(c.err.find("input 'x'"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("'height') is symbolic"), std::string::npos) << c.err;
  EXPECT_EQ(std::count(c.err.begin(), c.err.end(), '\n'), 1) << c.err;
  // --shape that contradicts the fixed channel count
  CliResult bad = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" compress -m '" + m +
                            "' -r configs/recipes/int8-full.yaml --frames 4 --shape 1,4,224,224 -o '" + d + "/q.onnx'");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("differs in dimension 1"), std::string::npos) << bad.err;
  CliResult ok = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" compress -m '" + m +
                           "' -r configs/recipes/int8-full.yaml --frames 4 --shape 1,3,160,160 -o '" + d + "/q.onnx' --json");
  ASSERT_EQ(ok.rc, 0) << ok.err;
  auto j = nlohmann::json::parse(ok.out);
  EXPECT_GE(j["size_ratio"].get<double>(), 3.0);
  // eval without --shape and without a size in the task: the same named error
  std::ofstream(d + "/task.yaml") << "input: {scale: 0.00784313725, mean: [1, 1, 1]}\ndecoder: {type: classify}\n";
  CliResult e = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" eval --reference '" + m + "' -m '" + d + "/q.onnx' --video models/Megamind.avi --task '" + d +
                          "/task.yaml' --frames 2");
  EXPECT_EQ(e.rc, 1) << e.out;
  EXPECT_NE(e.err.find("is symbolic"), std::string::npos) << e.err;
  CliResult e2 = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" eval --reference '" + m + "' -m '" + d + "/q.onnx' --video models/Megamind.avi --task '" +
                           d + "/task.yaml' --frames 4 --every 10 --shape 1,3,160,160 --json");
  ASSERT_EQ(e2.rc, 0) << e2.err;
  auto ej = nlohmann::json::parse(e2.out);
  EXPECT_GE(ej["models"][1]["fidelity"]["snr_db"].get<double>(), 20.0) << e2.out;
  std::system(("rm -rf '" + d + "'").c_str());
}
