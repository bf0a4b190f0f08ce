// BlazeFace-128 int8 PTQ as a user runs it: calibrated on vtest.avi, evaluated on Megamind.avi: fidelity
// mAP@0.5 >= 0.95 against the original, file >= 3.5x smaller, runs in our engine and in ONNX Runtime;
// recipe errors with line numbers.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "onnx_io.h"

#include "../engine/helpers.h"
#include "cli.h"

using namespace ec;
using namespace ec::test;

TEST(CompressCli, BlazeFaceInt8PtqFidelitySizeAndOnnxRuntime) {
  const std::string d = testing::TempDir() + "/cmp-" + std::to_string(getpid());
  std::system(("mkdir -p '" + d + "'").c_str());
  CliResult c = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" compress -m models/blazeface128.onnx -r configs/recipes/int8.yaml -o '" + d +
                          "/int8.onnx' --json");
  ASSERT_EQ(c.rc, 0) << c.err;
  auto j = nlohmann::json::parse(c.out);
  EXPECT_GE(j["size_ratio"].get<double>(), 3.5);
  EXPECT_EQ(j["onnx_checker"], "passed");
  CliResult e = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" eval --reference models/blazeface128.onnx -m '" + d +
                          "/int8.onnx' --video models/Megamind.avi --task configs/tasks/blazeface.yaml --frames 90 --every 3 --json");
  ASSERT_EQ(e.rc, 0) << e.err;
  auto ej = nlohmann::json::parse(e.out);
  EXPECT_GE(ej["models"][1]["fidelity"]["map50"].get<double>(), 0.95) << ej.dump(2);
  EXPECT_GT(ej["models"][1]["fidelity"]["reference_boxes"].get<int>(), 60);
  const std::string peer = shared_dir() + "/peers/ort-peer";
  if (std::system(("test -x '" + peer + "'").c_str()) != 0) GTEST_SKIP() << "no ONNX Runtime peer at " << peer;
  CliResult o = run_cli("bench -m '" + d + "/int8.onnx' -r 3 -w 1 --memory --ort-peer '" + peer + "' --compare-outputs --json");
  if (o.rc != 0 && o.err.find("with status 3") != std::string::npos)
    GTEST_SKIP() << "ort-peer could not install onnxruntime-node (no npm or registry here): " << o.err;
  ASSERT_EQ(o.rc, 0) << o.err;
  auto oj = nlohmann::json::parse(o.out);
  ASSERT_EQ(oj["results"].size(), 2u);
  EXPECT_EQ(oj["results"][1]["backend"], "onnxruntime");
  // --memory measures the peer too: what the model adds to its peak holds at least the model's weights
  for (size_t r = 0; r < 2; ++r) {
    EXPECT_GE(oj["results"][r]["peak_memory_bytes"].get<double>(), oj["weight_bytes"].get<double>()) << oj["results"][r]["backend"];
    EXPECT_LT(oj["results"][r]["peak_memory_bytes"].get<double>(), 1024.0 * 1048576) << oj["results"][r]["backend"];
  }
  for (auto& cmp : oj["compare"]) EXPECT_LE(cmp["max_diff_over_range"].get<double>(), 1e-3) << cmp.dump();
}

// Weights in Constant nodes (PaddlePaddle and some PyTorch exports) are weights to every tool: inspect counts
// them, an int8 recipe quantizes them as it does initializers; a recipe that changes nothing is an error.
TEST(CompressCli, ConstantNodeWeightsAreWeightsAndANoOpRecipeIsAnError) {
  const std::string d = testing::TempDir() + "/cmpconst-" + std::to_string(getpid());
  std::system(("mkdir -p '" + d + "'").c_str());
  Model m = load_onnx(models_dir() + "/blazeface128.onnx");
  std::vector<Node> consts;
  for (auto& kv : m.graph.initializers) {
    Node c{kv.first + "_const", "Constant", "", {}, {kv.first}, {}};
    c.attrs["value"].kind = Attribute::Kind::t;
    c.attrs["value"].t = kv.second;
    consts.push_back(c);
  }
  const size_t moved = consts.size();
  m.graph.initializers.clear();
  m.graph.nodes.insert(m.graph.nodes.begin(), consts.begin(), consts.end());
  save_onnx(m, d + "/const.onnx");
  CliResult a = run_cli("inspect --json --no-layers '" + models_dir() + "/blazeface128.onnx'");
  CliResult b = run_cli("inspect --json --no-layers '" + d + "/const.onnx'");
  ASSERT_EQ(a.rc, 0) << a.err;
  ASSERT_EQ(b.rc, 0) << b.err;
  auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  EXPECT_GT(ja["totals"]["params"].get<int64_t>(), 100000);
  EXPECT_EQ(jb["totals"]["params"], ja["totals"]["params"]);
  EXPECT_EQ(jb["totals"]["weight_bytes"], ja["totals"]["weight_bytes"]);
  EXPECT_EQ(jb["totals"]["macs"], ja["totals"]["macs"]);
  EXPECT_EQ(jb["totals"]["constant_nodes_as_weights"].get<size_t>(), moved);
  // int8: as small as from initializers, and as faithful
  CliResult c = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" compress -m '" + d + "/const.onnx' -r configs/recipes/int8-full.yaml -o '" + d +
                          "/const_int8.onnx' --json");
  ASSERT_EQ(c.rc, 0) << c.err;
  auto jc = nlohmann::json::parse(c.out);
  EXPECT_GE(jc["size_ratio"].get<double>(), 3.0) << jc.dump(2);
  CliResult e = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" eval --reference models/blazeface128.onnx -m '" + d +
                          "/const_int8.onnx' --video models/Megamind.avi --task configs/tasks/blazeface.yaml --frames 30 --every 9 --json");
  ASSERT_EQ(e.rc, 0) << e.err;
  EXPECT_GE(nlohmann::json::parse(e.out)["models"][1]["fidelity"]["map50"].get<double>(), 0.9) << e.out;
  // a recipe whose steps change nothing: pruning to sparsity 0
  std::ofstream(d + "/noop.yaml") << "name: noop\nsteps:\n  - prune: {sparsity: 0}\n";
  CliResult n = run_cli("compress -m '" + models_dir() + "/blazeface128.onnx' -r '" + d + "/noop.yaml' -o '" + d + "/noop.onnx'");
  EXPECT_EQ(n.rc, 1) << n.out;
  EXPECT_NE(n.err.find("noop.yaml: the steps changed nothing in"), std::string::npos) << n.err;
  EXPECT_EQ(std::count(n.err.begin(), n.err.end(), '\n'), 1) << n.err;
  std::ifstream written(d + "/noop.onnx");
  EXPECT_FALSE(written.good()) << "nothing is written for a no-op recipe";
}

TEST(CompressCli, RecipeErrorsHaveLineNumbers) {
  const std::string d = testing::TempDir() + "/cmpbad-" + std::to_string(getpid());
  std::system(("mkdir -p '" + d + "'").c_str());
  auto write = [](const std::string& p, const std::string& t) {
    std::ofstream f(p);
    f << t;
  };
  const std::string model = models_dir() + "/blazeface128.onnx";
  write(d + "/unknown.yaml", "name: x\nsteps:\n  - prune: {sparsity: 0.3}\n  - lowrank-magic: {rank: 4}\n");
  CliResult r = run_cli("compress -m '" + model + "' -r '" + d + "/unknown.yaml'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("unknown.yaml:4:5: unknown step 'lowrank-magic'"), std::string::npos) << r.err;
  write(d + "/param.yaml", "steps:\n  - prune: {sparsity: 0.3, sparsty: 1}\n");
  r = run_cli("compress -m '" + model + "' -r '" + d + "/param.yaml'");
  EXPECT_NE(r.err.find("param.yaml:2:5: step 'prune' has no parameter 'sparsty'"), std::string::npos) << r.err;
  write(d + "/nocal.yaml", "steps:\n  - quantize: {method: minmax}\n");
  r = run_cli("compress -m '" + model + "' -r '" + d + "/nocal.yaml'");
  EXPECT_NE(r.err.find("needs calibration data"), std::string::npos) << r.err;
  write(d + "/empty.avi", "");
  write(d + "/cal.yaml", "calibration: {source: '" + d + "/empty.avi'}\nsteps:\n  - quantize\n");
  r = run_cli("compress -m '" + model + "' -r '" + d + "/cal.yaml'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("empty.avi"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(CompressCli, ImageFolderAccuracyAndCalibration) {
  const std::string d = testing::TempDir() + "/imgs-" + std::to_string(getpid());
  std::system(("rm -rf '" + d + "' && mkdir -p '" + d + "/data/blue' '" + d + "/data/green' '" + d + "/data/red'").c_str());
  const cv::Scalar colours[3] = {{200, 30, 20}, {20, 190, 40}, {30, 20, 210}};  // BGR: blue, green, red
  const char* names[3] = {"blue", "green", "red"};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 4; ++i) cv::imwrite(d + "/data/" + names[c] + "/" + std::to_string(i) + ".png", cv::Mat(16, 16, CV_8UC3, colours[c] + cv::Scalar::all(i)));
  // a "classifier" whose class scores are the mean B, G, R: correct by construction, then quantized
  ec::Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(value("x", ec::DType::f32, {1, 3, 8, 8}));
  m.graph.initializers["w"] = ec::Tensor::from_f32({3, 3, 1, 1}, {1, 0, 0, 0, 1, 0, 0, 0, 1});
  m.graph.initializers["shape"] = ec::Tensor::from_i64({2}, {1, 3});
  m.graph.nodes.push_back(ec::Node{"id", "Conv", "", {"x", "w"}, {"c"}, {}});
  m.graph.nodes.push_back(ec::Node{"gap", "GlobalAveragePool", "", {"c"}, {"p"}, {}});
  m.graph.nodes.push_back(ec::Node{"flat", "Reshape", "", {"p", "shape"}, {"y"}, {}});
  m.graph.outputs.push_back(value("y", ec::DType::f32, {1, 3}));
  ec::save_onnx(m, d + "/cls.onnx");
  {
    std::ofstream t(d + "/task.yaml");
    t << "input: {color: bgr, scale: 0.00392156862}\ndecoder: classify\n";
    std::ofstream r(d + "/q.yaml");
    r << "calibration: {frames: 12, input: {color: bgr, scale: 0.00392156862}}\nsteps:\n  - quantize: {method: minmax}\n";
  }
  CliResult q = run_cli("compress -m '" + d + "/cls.onnx' -r '" + d + "/q.yaml' --calib 'images:" + d + "/data' -o '" + d + "/cls_int8.onnx'");
  ASSERT_EQ(q.rc, 0) << q.err;
  CliResult e = run_cli("eval --reference '" + d + "/cls.onnx' -m '" + d + "/cls_int8.onnx' --images '" + d + "/data' --task '" + d + "/task.yaml' --json");
  ASSERT_EQ(e.rc, 0) << e.err;
  auto j = nlohmann::json::parse(e.out);
  ASSERT_EQ(j["models"].size(), 2u);
  for (auto& mj : j["models"]) {
    EXPECT_DOUBLE_EQ(mj["accuracy"].get<double>(), 1.0) << mj.dump();
    EXPECT_EQ(mj["images"].get<int>(), 12);
  }
  EXPECT_EQ(j["models"][0]["classes"][2], "red");
}

// Distillation on unlabelled video, as a user runs it: BlazeFace-128 with 30 % of its channel groups pruned,
// then trained towards the original's outputs on the first 48 frames of Megamind.avi (no labels), recovers
// fidelity on later frames it never saw, compared with pruning alone. (The full version: recipe
// prune-ch30-distill.yaml, bench/training.sh.)
TEST(CompressCli, PrunedBlazeFaceDistilledOnVideoRecoversFidelity) {
  const std::string d = testing::TempDir() + "/distill-" + std::to_string(getpid());
  std::system(("mkdir -p '" + d + "'").c_str());
  CliResult h = run_shell("test -x \"$(dirname \"$bin\")/edgecompress-train\"");
  if (h.rc != 0) GTEST_SKIP() << "built without libtorch: no edgecompress-train";
  {
    std::ofstream f(d + "/r.yaml");
    f << "calibration:\n  source: models/Megamind.avi\n  frames: 48\n  every: 1\n"
         "  input: {resize: stretch, color: rgb, scale: 0.00784313725, mean: [1, 1, 1], std: [1, 1, 1]}\n"
         "steps:\n  - prune-channels: {ratio: 0.3, criterion: l1}\n"
         "  - distill: {teacher: original, data: calibration, epochs: 8, batch: 16, optimizer: adam, lr: 0.001}\n";
  }
  CliResult c = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" compress -m models/blazeface128.onnx -r '" + d + "/r.yaml' -o '" + d + "/kd.onnx'");
  ASSERT_EQ(c.rc, 0) << c.err;
  EXPECT_NE(c.out.find("distill: epochs 1-8 on 48 unlabelled calibration frames"), std::string::npos) << c.out;
  CliResult p = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" compress -m models/blazeface128.onnx -r configs/recipes/prune-ch30.yaml -o '" + d + "/p.onnx'");
  ASSERT_EQ(p.rc, 0) << p.err;
  CliResult e = run_shell("cd '" EC_SOURCE_DIR "' && \"$bin\" eval --reference models/blazeface128.onnx -m '" + d + "/p.onnx' -m '" + d +
                          "/kd.onnx' --video models/Megamind.avi --task configs/tasks/blazeface.yaml --start 135 --frames 45 --every 3 --json");
  ASSERT_EQ(e.rc, 0) << e.err;
  auto j = nlohmann::json::parse(e.out);
  const double pruned = j["models"][1]["fidelity"]["map50"].get<double>(), kd = j["models"][2]["fidelity"]["map50"].get<double>();
  const double iou_p = j["models"][1]["fidelity"]["mean_iou"].get<double>(), iou_kd = j["models"][2]["fidelity"]["mean_iou"].get<double>();
  std::printf("held-out frames: pruned mAP %.3f IoU %.3f, distilled mAP %.3f IoU %.3f\n", pruned, iou_p, kd, iou_kd);
  EXPECT_GT(kd, pruned + 0.2) << j.dump(2);
  EXPECT_GT(iou_kd, iou_p) << j.dump(2);
}
