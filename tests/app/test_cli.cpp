// The `inspect` and `bench` commands as a user runs them: JSON that parses and adds up, and one-line
// errors with a non-zero exit for bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../engine/helpers.h"
#include "cli.h"
#include "onnx_io.h"

using namespace ec;
using namespace ec::test;

namespace {

const std::string kModel = models_dir() + "/blazeface128.onnx";

void expect_one_line_error(const CliResult& r, const std::string& must_contain) {
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_EQ(r.err.rfind("edgecompress: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(must_contain), std::string::npos) << "expected '" << must_contain << "' in: " << r.err;
}

void write_model_bytes(const Model& m, const std::string& path) {
  std::string b = to_onnx_bytes(m);
  std::ofstream f(path, std::ios::binary);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
}

}  // namespace

TEST(Cli, InspectJsonAddsUp) {
  CliResult r = run_cli("inspect '" + kModel + "' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  int64_t params = 0, macs = 0;
  for (auto& l : j["layers"]) {
    params += l["params"].get<int64_t>();
    macs += l["macs"].get<int64_t>();
  }
  EXPECT_EQ(j["totals"]["params"].get<int64_t>(), params);
  EXPECT_EQ(j["totals"]["macs"].get<int64_t>(), macs);
  EXPECT_EQ(j["totals"]["params"].get<int64_t>(), 100412);
  EXPECT_EQ(j["op_histogram"]["Conv"].get<int>(), 37);
  EXPECT_EQ(j["inputs"][0]["dims"], "[1,128,128,3]");
  EXPECT_EQ(j["weight_bytes"]["float32"].get<int64_t>(), 4 * 100412);
  // --no-layers (a negated flag, as setup's demo uses it) drops the per-layer table
  CliResult all = run_cli("inspect '" + kModel + "'"), brief = run_cli("inspect '" + kModel + "' --no-layers");
  ASSERT_EQ(brief.rc, 0) << brief.err;
  EXPECT_NE(all.out.find("sparsity\n"), std::string::npos) << all.out;
  EXPECT_EQ(brief.out.find("sparsity\n"), std::string::npos) << brief.out;
  EXPECT_NE(brief.out.find("params   100412"), std::string::npos) << brief.out;
  CliResult nolayers = run_cli("inspect '" + kModel + "' --json --no-layers");
  ASSERT_EQ(nolayers.rc, 0) << nolayers.err;
  EXPECT_FALSE(nlohmann::json::parse(nolayers.out).contains("layers"));
}

TEST(Cli, BenchComparesBackends) {
  SKIP_UNLESS_OPENCV_LOADS(kModel);
  CliResult r = run_cli("bench --model '" + kModel + "' --backend native,opencv --threads 2 --runs 5 --warmup 1 --compare-outputs --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 2u);
  for (auto& res : j["results"]) {
    auto& l = res["latency_ms"];
    EXPECT_GT(l["min"].get<double>(), 0.0);
    EXPECT_LE(l["min"].get<double>(), l["median"].get<double>());
    EXPECT_LE(l["median"].get<double>(), l["p95"].get<double>());
    EXPECT_EQ(res["runs"].get<int>(), 5);
    // two backends: the runs alternate in 5 blocks (one run each here), each block's median recorded
    ASSERT_EQ(res["block_medians_ms"].size(), 5u) << res.dump();
    for (auto& b : res["block_medians_ms"]) EXPECT_GE(b.get<double>(), l["min"].get<double>());
  }
  // the paired ratio: the median over the blocks of opencv's block median / native's in the same block
  std::vector<double> per;
  for (size_t k = 0; k < 5; ++k)
    per.push_back(j["results"][1]["block_medians_ms"][k].get<double>() / j["results"][0]["block_medians_ms"][k].get<double>());
  std::sort(per.begin(), per.end());
  EXPECT_NEAR(j["results"][1]["paired_ratio_vs_native"].get<double>(), per[2], 1e-9 * per[2]);
  EXPECT_EQ(j["results"][0]["paired_ratio_vs_native"].get<double>(), 1.0);
  EXPECT_GT(j["results"][0]["activation_bytes"].get<int64_t>(), 0);
  ASSERT_EQ(j["compare"].size(), 4u);
  for (auto& c : j["compare"]) EXPECT_LE(c["max_diff_over_range"].get<double>(), 1e-4) << c.dump();
}

// One engine at two thread counts in the same run (NAME@N): each named as given, the runs alternating in blocks,
// the same outputs; the second's paired ratio against the first is the 2-thread speedup bench/models.sh reports.
TEST(Cli, BenchRunsOneEngineAtTwoThreadCounts) {
  CliResult r = run_cli("bench --model '" + kModel + "' --backend native@1,native@2 --runs 6 --warmup 1 --compare-outputs --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][0]["backend"], "native@1");
  EXPECT_EQ(j["results"][1]["backend"], "native@2");
  for (auto& res : j["results"]) EXPECT_EQ(res["block_medians_ms"].size(), 5u);
  EXPECT_GT(j["results"][1]["paired_ratio_vs_native@1"].get<double>(), 0.0);
  EXPECT_EQ(j["results"][0]["threads"], 1);
  EXPECT_EQ(j["results"][1]["threads"], 2);
  // where layers have a choice of kernels (not with XNNPACK 2020), it is kept per thread count: each engine made its own
  if (j["results"][0].contains("kernels") && j["results"][1].contains("kernels")) {
    EXPECT_NE(j["results"][0]["kernels"]["cache_file"], j["results"][1]["kernels"]["cache_file"]);
  }
  ASSERT_FALSE(j["compare"].empty());
  for (auto& c : j["compare"]) EXPECT_LE(c["max_diff_over_range"].get<double>(), 1e-4) << c.dump();
}

TEST(Cli, BadInputsGiveOneLineErrors) {
  const std::string dir = testing::TempDir();
  std::ifstream src(kModel, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(src)), std::istreambuf_iterator<char>());
  {
    std::ofstream f(dir + "/half.onnx", std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    std::ofstream g(dir + "/notes.onnx");
    g << "not a model";
  }
  expect_one_line_error(run_cli("inspect '" + dir + "/half.onnx'"), "half.onnx");
  expect_one_line_error(run_cli("bench --model '" + dir + "/notes.onnx'"), "not a valid ONNX model");
  expect_one_line_error(run_cli("inspect '" + dir + "/nope.onnx'"), "nope.onnx: cannot open");

  Model m = load_onnx(kModel);
  Model bad_op = m;
  bad_op.graph.nodes[3].op_type = "FancyConv";
  write_model_bytes(bad_op, dir + "/badop.onnx");
  expect_one_line_error(run_cli("bench --model '" + dir + "/badop.onnx'"), "(FancyConv): operator is not supported");

  Model new_opset = m;
  new_opset.opsets[""] = 21;
  write_model_bytes(new_opset, dir + "/opset21.onnx");
  expect_one_line_error(run_cli("inspect '" + dir + "/opset21.onnx'"), "opset 21 is newer than the newest supported");

  expect_one_line_error(run_cli("bench --model '" + kModel + "' --shape 1,3,128,128"), "does not match the model's [1,128,128,3]");
  expect_one_line_error(run_cli("bench --model '" + kModel + "' --shape 1,x,3"), "'x' is not a positive integer");
  expect_one_line_error(run_cli("bench --model '" + kModel + "' --backend tensorrt"), "backend 'tensorrt' is not known");
  expect_one_line_error(run_cli("bench --model '" + kModel + "' --runs 0"), "--runs 0");
  expect_one_line_error(run_cli("bench --model '" + kModel + "' --runs 3 --blocks 4"), "--blocks 4: more blocks than --runs 3");
  expect_one_line_error(run_cli("bench --model '" + kModel + "' --backend native@0"), "the thread count after '@' must be a positive integer, not '0'");
  expect_one_line_error(run_cli("bench --model '" + kModel + "' --backend native@two"), "not 'two'");
}

// `--version` says what this build has and which engine paths this CPU takes, one line each; usage errors
// are one line naming the option and the value, with exit status 2; --help lists the options.
TEST(Cli, VersionNamesTheBuildsFeaturesAndUsageErrorsAreOneLine) {
  CliResult v = run_cli("--version");
  ASSERT_EQ(v.rc, 0) << v.err;
  EXPECT_EQ(v.out.rfind("edgecompress ", 0), 0u) << v.out;
  for (const char* line : {"\n  cpu: ", "\n  engine fp32/int8 kernels: ", "\n  onnx checker: ", "\n  monitoring: ", "\n  training: ",
                           "\n  opencv: ", "\n  gstreamer: "})
    EXPECT_NE(v.out.find(line), std::string::npos) << "no '" << line + 3 << "' in:\n" << v.out;
#ifdef EC_HAVE_HTTP
  EXPECT_NE(v.out.find("monitoring: libmicrohttpd"), std::string::npos) << v.out;
#else
  EXPECT_NE(v.out.find("monitoring: off"), std::string::npos) << v.out;
#endif

  CliResult bad = run_cli("bench --model '" + kModel + "' --threads two");
  EXPECT_EQ(bad.rc, 2) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  EXPECT_NE(bad.err.find("two"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("threads"), std::string::npos) << bad.err;

  CliResult missing = run_cli("bench --threads 2");
  EXPECT_EQ(missing.rc, 2);
  EXPECT_NE(missing.err.find("--model is required"), std::string::npos) << missing.err;

  CliResult unknown = run_cli("bench --model '" + kModel + "' --no-such-option");
  EXPECT_EQ(unknown.rc, 2);
  EXPECT_NE(unknown.err.find("no-such-option"), std::string::npos) << unknown.err;

  CliResult layout = run_cli("run -c x.yaml --layout diagonal");
  EXPECT_EQ(layout.rc, 2);
  EXPECT_NE(layout.err.find("--layout 'diagonal' is not one of: side-by-side, grid, overlay"), std::string::npos) << layout.err;

  CliResult sub = run_cli("frobnicate");
  EXPECT_EQ(sub.rc, 2);
  EXPECT_NE(sub.err.find("unknown subcommand 'frobnicate'"), std::string::npos) << sub.err;

  CliResult help = run_cli("bench --help");
  EXPECT_EQ(help.rc, 0);
  EXPECT_NE(help.out.find("--model"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--threads"), std::string::npos) << help.out;
  EXPECT_EQ(help.out.find("--memory-child"), std::string::npos) << "internal options stay out of --help";
}

// A backend that cannot load the model is reported as failed with its reason and the others are measured;
// with only that backend, bench is a one-line error.
TEST(Cli, BenchReportsAFailingBackendAndMeasuresTheRest) {
  CliResult r = run_cli("bench --model '" + kModel + "' --backend no-such-backend,native --runs 2 --warmup 0 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 1u);
  EXPECT_EQ(j["results"][0]["backend"], "native");
  EXPECT_GT(j["results"][0]["latency_ms"]["median"].get<double>(), 0.0);
  ASSERT_EQ(j["failed"].size(), 1u);
  EXPECT_EQ(j["failed"][0]["backend"], "no-such-backend");
  EXPECT_NE(j["failed"][0]["error"].get<std::string>().find("no-such-backend"), std::string::npos) << j["failed"].dump();
  EXPECT_NE(r.err.find("backend no-such-backend failed"), std::string::npos) << r.err;

  expect_one_line_error(run_cli("bench --model '" + kModel + "' --backend no-such-backend --runs 2"), "no-such-backend");
}
