// BlazeFace-128 int8 PTQ as a user runs it: calibrated on vtest.avi, evaluated on Megamind.avi: fidelity
// mAP@0.5 >= 0.95 against the original, file >= 3.5x smaller, runs in our engine and in ONNX Runtime;
// recipe errors with line numbers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../engine/helpers.h"
#include "cli.h"

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
  CliResult o = run_cli("bench -m '" + d + "/int8.onnx' -r 3 -w 1 --ort-peer '" + peer + "' --compare-outputs --json");
  ASSERT_EQ(o.rc, 0) << o.err;
  auto oj = nlohmann::json::parse(o.out);
  ASSERT_EQ(oj["results"].size(), 2u);
  EXPECT_EQ(oj["results"][1]["backend"], "onnxruntime");
  for (auto& cmp : oj["compare"]) EXPECT_LE(cmp["max_diff_over_range"].get<double>(), 1e-3) << cmp.dump();
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
