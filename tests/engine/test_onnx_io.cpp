// ONNX load/save: round trips keep outputs bit-identical and pass the checker; bad files, unsupported
// operators, too-new opsets and wrong input shapes are one clear error each.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "helpers.h"
#include "onnx_check.h"
#include "onnx_io.h"
#include "onnx_schema.pb.h"

using namespace ec;
using namespace ec::test;

namespace {

std::string read_bytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& p, const std::string& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(b.data(), static_cast<std::streamsize>(b.size()));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(OnnxIo, RoundTripKeepsOutputsAndPassesChecker) {
  for (const char* file : {"blazeface128.onnx", "blazeface256.onnx"}) {
    Model m = load_onnx(models_dir() + "/" + file);
    EXPECT_EQ(check_onnx(m), "") << file;
    std::string out = testing::TempDir() + "/rt_" + file;
    save_onnx(m, out);
    Model m2 = load_onnx(out);
    EXPECT_EQ(m2.graph.nodes.size(), m.graph.nodes.size());
    EXPECT_EQ(m2.graph.initializers.size(), m.graph.initializers.size());
    EXPECT_EQ(m2.opset(), m.opset());
    Tensor x = random_tensor(m.graph.inputs[0].shape_or(1), 3);
    auto a = run_model(m, {x});
    auto b = run_model(m2, {x});
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(std::memcmp(a[i].data(), b[i].data(), a[i].size_bytes()), 0) << file << " output " << i;
  }
}

TEST(OnnxIo, TruncatedOrForeignFilesFailClearly) {
  const std::string good = read_bytes(models_dir() + "/blazeface128.onnx");
  ASSERT_GT(good.size(), 1000u);
  const std::string dir = testing::TempDir();
  for (size_t cut : {good.size() / 2, good.size() - 7, size_t{100}}) {
    write_bytes(dir + "/trunc.onnx", good.substr(0, cut));
    std::string e = error_of([&] {
      Model m = load_onnx(dir + "/trunc.onnx");
      create_engine("native", m)->prepare({});
    });
    EXPECT_NE(e.find("trunc.onnx"), std::string::npos) << "cut at " << cut << ": '" << e << "'";
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  }
  write_bytes(dir + "/text.onnx", "this is not a model\n");
  EXPECT_NE(error_of([&] { load_onnx(dir + "/text.onnx"); }).find("not a valid ONNX model"), std::string::npos);
  write_bytes(dir + "/empty.onnx", "");
  EXPECT_NE(error_of([&] { load_onnx(dir + "/empty.onnx"); }).find("empty"), std::string::npos);
  EXPECT_NE(error_of([&] { load_onnx(dir + "/missing.onnx"); }).find("cannot open"), std::string::npos);
}

TEST(OnnxIo, UnsupportedOperatorNamesOpAndNode) {
  Model m = single_node_model("Relu", {in(random_tensor({1, 4}, 1))}, {});
  m.graph.nodes[0].op_type = "NonMaxSuppressionX";
  m.graph.nodes[0].name = "nms_7";
  std::string e = error_of([&] { create_engine("native", m); });
  EXPECT_NE(e.find("NonMaxSuppressionX"), std::string::npos) << e;
  EXPECT_NE(e.find("nms_7"), std::string::npos) << e;
  EXPECT_NE(e.find("not supported"), std::string::npos) << e;
}

TEST(OnnxIo, OpsetNewerThanSupportedIsRejected) {
  Model m = load_onnx(models_dir() + "/blazeface128.onnx");
  m.opsets[""] = kMaxOpset + 3;
  std::string e = error_of([&] { load_onnx_bytes(to_onnx_bytes(m), "new.onnx"); });
  EXPECT_NE(e.find("opset " + std::to_string(kMaxOpset + 3)), std::string::npos) << e;
  EXPECT_NE(e.find("newer"), std::string::npos) << e;
}

TEST(OnnxIo, WrongInputShapeIsRejected) {
  Model m = load_onnx(models_dir() + "/blazeface128.onnx");
  for (std::string backend : {"native", "opencv"}) {
    if (backend == "opencv" && !opencv_cannot_load(models_dir() + "/blazeface128.onnx").empty()) {
      std::printf("OpenCV DNN of this release cannot load BlazeFace: its shape checks are not tested\n");
      continue;
    }
    auto eng = create_engine(backend, m);
    std::string e = error_of([&] { eng->prepare({{"input:0", {1, 3, 128, 128}}}); });
    EXPECT_NE(e.find("[1,3,128,128]"), std::string::npos) << backend << ": " << e;
    EXPECT_NE(e.find("does not match"), std::string::npos) << backend << ": " << e;
    e = error_of([&] { eng->prepare({{"image", {1, 128, 128, 3}}}); });
    EXPECT_NE(e.find("no input named 'image'"), std::string::npos) << backend << ": " << e;
  }
}

TEST(OnnxIo, DataDependentShapeIsAClearError) {
  // Reshape whose target shape comes from a runtime input cannot be planned.
  Model m = single_node_model("Reshape", {in(random_tensor({2, 6}, 1)), in(Tensor::from_i64({2}, {3, 4}))}, {});
  std::string e = error_of([&] {
    auto eng = create_engine("native", m);
    eng->prepare({});
  });
  EXPECT_NE(e.find("not constant"), std::string::npos) << e;
  EXPECT_NE(e.find("Reshape"), std::string::npos) << e;
}

// The structural checks (what guards writes where libonnx is missing or too old, and runs before libonnx's
// checker everywhere): each broken model is refused with the reason naming the value; a real model passes,
// and the bytes our own schema writes parse back to the same graph.
TEST(OnnxIo, StructuralCheckerRefusesBrokenGraphsAndPassesRealOnes) {
  Model bf = load_onnx(models_dir() + "/blazeface128.onnx");
  const std::string bytes = to_onnx_bytes(bf);
  EXPECT_EQ(structural_check_onnx_bytes(bytes), "");
  EXPECT_EQ(check_onnx_bytes(bytes), "") << onnx_checker_name();
  Model again = load_onnx_bytes(bytes, "again.onnx");
  EXPECT_EQ(again.graph.nodes.size(), bf.graph.nodes.size());
  EXPECT_EQ(again.graph.initializers.size(), bf.graph.initializers.size());
  EXPECT_EQ(to_onnx_bytes(again), bytes) << "a second round trip changes the bytes";

  auto relu = [] {
    Model m = single_node_model("Relu", {in(random_tensor({1, 4}, 1))}, {});
    m.graph.outputs[0].dtype = DType::f32;
    return m;
  };
  EXPECT_EQ(structural_check_onnx_bytes(to_onnx_bytes(relu())), "");
  {
    Model m = relu();
    m.graph.nodes[0].inputs[0] = "nowhere";
    EXPECT_NE(structural_check_onnx_bytes(to_onnx_bytes(m)).find("input 'nowhere' is not produced"), std::string::npos);
  }
  {
    Model m = relu();
    m.graph.nodes.push_back(m.graph.nodes[0]);  // y0 assigned twice
    m.graph.nodes[1].name = "again";
    EXPECT_NE(structural_check_onnx_bytes(to_onnx_bytes(m)).find("output 'y0' is already defined"), std::string::npos);
  }
  {
    Model m = relu();
    m.graph.outputs[0].name = "missing";
    EXPECT_NE(structural_check_onnx_bytes(to_onnx_bytes(m)).find("graph output 'missing' is not produced"), std::string::npos);
  }
  {
    Model m = relu();
    m.opsets.clear();
    m.opsets["com.example"] = 1;
    EXPECT_NE(structural_check_onnx_bytes(to_onnx_bytes(m)).find("no opset_import for the default"), std::string::npos);
  }
  {
    // an initializer whose raw bytes do not fill its shape, and an attribute without a type
    Model m = single_node_model("Add", {in(random_tensor({2, 3}, 1)), cst(random_tensor({2, 3}, 2))}, {});
    ec::onnxpb::ModelProto mp;
    ASSERT_TRUE(mp.ParseFromString(to_onnx_bytes(m)));
    ASSERT_EQ(mp.graph().initializer_size(), 1);
    mp.mutable_graph()->mutable_initializer(0)->mutable_raw_data()->resize(20);
    std::string b;
    ASSERT_TRUE(mp.SerializeToString(&b));
    EXPECT_NE(structural_check_onnx_bytes(b).find("raw_data has 20 bytes, its shape needs 24"), std::string::npos) << structural_check_onnx_bytes(b);
    ASSERT_TRUE(mp.ParseFromString(to_onnx_bytes(m)));
    auto* a = mp.mutable_graph()->mutable_node(0)->add_attribute();
    a->set_name("alpha");
    a->set_f(0.5f);
    ASSERT_TRUE(mp.SerializeToString(&b));
    EXPECT_NE(structural_check_onnx_bytes(b).find("attribute 'alpha': field 'type' is required"), std::string::npos) << structural_check_onnx_bytes(b);
  }
  EXPECT_NE(structural_check_onnx_bytes("not a model at all"), "");
  EXPECT_NE(onnx_checker_name(), "");
}
