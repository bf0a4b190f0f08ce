// Exports with symbolic batch/height/width and shape subgraphs (Shape -> Gather/Slice -> Div -> Concat ->
// Reshape/Resize) run once input sizes are fixed; the same engine re-prepares for a new size.
#include <gtest/gtest.h>

#include "helpers.h"
#include "onnx_io.h"

using namespace ec;
using namespace ec::test;

namespace {

ValueInfo symbolic(const std::string& name, std::vector<Dim> dims) {
  ValueInfo v;
  v.name = name;
  v.has_shape = true;
  v.dims = std::move(dims);
  return v;
}

// x[N,3,H,W] -> Conv(3->8, 3x3, pad 1) -> Relu = r
// Resize(r, sizes = concat(shape(r)[0:2], shape(x)[2:4] / 2))      -> half  [N,8,H/2,W/2]
// Reshape(half, concat(unsqueeze(shape(x)[0]), [-1]))              -> flat  [N, 8*H/2*W/2]
Model dynamic_model() {
  Model m;
  m.opsets[""] = 13;
  m.path = "dynamic.onnx";
  m.graph.inputs.push_back(symbolic("x", {{-1, "N"}, {3, ""}, {-1, "H"}, {-1, "W"}}));
  m.graph.initializers["w"] = random_tensor({8, 3, 3, 3}, 1);
  m.graph.initializers["b"] = random_tensor({8}, 2);
  m.graph.initializers["i0"] = Tensor::from_i64({1}, {0});
  m.graph.initializers["two"] = Tensor::from_i64({}, {2});
  m.graph.initializers["i2"] = Tensor::from_i64({1}, {2});
  m.graph.initializers["i4"] = Tensor::from_i64({1}, {4});
  m.graph.initializers["minus1"] = Tensor::from_i64({1}, {-1});
  auto& n = m.graph.nodes;
  n.push_back({"conv", "Conv", "", {"x", "w", "b"}, {"c"}, {{"pads", attr_ints({1, 1, 1, 1})}}});
  n.push_back({"relu", "Relu", "", {"c"}, {"r"}, {}});
  n.push_back({"shape_x", "Shape", "", {"x"}, {"sx"}, {}});
  n.push_back({"shape_r", "Shape", "", {"r"}, {"sr"}, {}});
  n.push_back({"nc", "Slice", "", {"sr", "i0", "i2"}, {"nc_"}, {}});
  n.push_back({"hw", "Slice", "", {"sx", "i2", "i4"}, {"hw_"}, {}});
  n.push_back({"half_hw", "Div", "", {"hw_", "two"}, {"hw2"}, {}});
  n.push_back({"sizes", "Concat", "", {"nc_", "hw2"}, {"sz"}, {{"axis", attr_i(0)}}});
  n.push_back({"resize", "Resize", "", {"r", "", "", "sz"}, {"half"}, {{"mode", attr_s("nearest")}}});
  n.push_back({"batch", "Gather", "", {"sx", "i0"}, {"nb"}, {{"axis", attr_i(0)}}});
  n.push_back({"flat_shape", "Concat", "", {"nb", "minus1"}, {"fs"}, {{"axis", attr_i(0)}}});
  n.push_back({"flatten", "Reshape", "", {"half", "fs"}, {"flat"}, {}});
  m.graph.outputs.push_back(symbolic("flat", {{-1, "N"}, {-1, "F"}}));
  m.graph.outputs.push_back(symbolic("r", {{-1, "N"}, {8, ""}, {-1, "H"}, {-1, "W"}}));
  return m;
}

}  // namespace

TEST(Dynamic, SymbolicDimsNeedAShapeAndThenRun) {
  Model m = dynamic_model();
  ASSERT_EQ(check_onnx(m), "");  // a valid ONNX model as written
  const std::string path = testing::TempDir() + "/dynamic.onnx";
  save_onnx(m, path);
  Model loaded = load_onnx(path);
  auto eng = create_engine("native", loaded);
  try {
    eng->prepare({});
    FAIL() << "prepare without shapes must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dynamic shape [N,3,H,W]"), std::string::npos) << e.what();
  }
  for (Shape s : {Shape{1, 3, 16, 12}, Shape{2, 3, 10, 22}}) {
    eng->prepare({{"x", s}});
    Tensor x = random_tensor(s, 7);
    std::memcpy(eng->input(0).data(), x.data(), x.size_bytes());
    eng->run();
    const Tensor& flat = eng->output(0);
    const Tensor& r = eng->output(1);
    EXPECT_EQ(shape_str(flat.shape()), shape_str({s[0], 8 * (s[2] / 2) * (s[3] / 2)}));
    // r equals the Conv+Relu of x computed by a single-op model
    auto conv = run_single("Conv", {in(x), cst(loaded.graph.initializers["w"]), cst(loaded.graph.initializers["b"])},
                           {{"pads", attr_ints({1, 1, 1, 1})}});
    for (int64_t i = 0; i < conv[0].numel(); ++i) conv[0].ptr<float>()[i] = std::max(0.f, conv[0].ptr<float>()[i]);
    EXPECT_LT(max_abs_diff(conv[0], r), 1e-6);
    // flat[n, c*(H/2)*(W/2) + y*(W/2) + x] == r[n, c, 2y, 2x] (nearest, half_pixel, scale 1/2)
    const int64_t h2 = s[2] / 2, w2 = s[3] / 2;
    for (int64_t nb = 0; nb < s[0]; ++nb)
      for (int64_t c = 0; c < 8; ++c)
        for (int64_t y = 0; y < h2; ++y)
          for (int64_t xx = 0; xx < w2; ++xx) {
            float got = flat.ptr<float>()[nb * 8 * h2 * w2 + (c * h2 + y) * w2 + xx];
            float want = r.ptr<float>()[((nb * 8 + c) * s[2] + 2 * y) * s[3] + 2 * xx];
            ASSERT_EQ(got, want);
          }
  }
}

TEST(Dynamic, BlazeFaceWithSymbolicBatchRunsOnceShapeIsGiven) {
  Model m = load_onnx(models_dir() + "/blazeface128.onnx");
  Model dyn = m;
  dyn.graph.inputs[0].dims[0] = Dim{-1, "batch"};
  auto eng = create_engine("native", dyn);
  EXPECT_THROW(eng->prepare({}), Error);
  eng->prepare({{"input:0", {1, 128, 128, 3}}});
  Tensor x = random_tensor({1, 128, 128, 3}, 9);
  std::memcpy(eng->input(0).data(), x.data(), x.size_bytes());
  eng->run();
  auto ref = run_model(m, {x});
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(max_abs_diff(ref[i], eng->output(i)), 0.0);
}

// The activation arena is planned so that a large block can use the hole a dead block left: p (3 KiB) dies when r
// (4 KiB) is made, q (3 KiB) lives on. First fit in definition order puts r above p's hole (17472 bytes); the
// plan reaches the most bytes ever alive at once, 14400 (at the Concat: X 64 + q 3072 + r 4096 + y 7168).
TEST(Arena, PlanReachesThePeakOfLiveBytesWhenFirstFitLeavesAHole) {
  Model m;
  m.opsets[""] = 13;
  m.path = "arena-test";
  m.graph.inputs.push_back(value("X", DType::f32, {16}));
  auto reps = [](int64_t k) {
    Tensor t(DType::i64, {1});
    t.ptr<int64_t>()[0] = k;
    return t;
  };
  m.graph.initializers["r48"] = reps(48);
  m.graph.initializers["r1"] = reps(1);
  m.graph.initializers["r64"] = reps(64);
  auto node = [&](const std::string& op, std::vector<std::string> ins, const std::string& out, std::map<std::string, Attribute> a = {}) {
    Node n;
    n.name = out + "_node";
    n.op_type = op;
    n.inputs = std::move(ins);
    n.outputs = {out};
    n.attrs = std::move(a);
    m.graph.nodes.push_back(n);
  };
  node("Tile", {"X", "r48"}, "p");  // 768 floats, last read by q
  node("Tile", {"p", "r1"}, "q");   // 768, read by the Concat
  node("Tile", {"X", "r64"}, "r");  // 1024, made after p died
  node("Concat", {"q", "r"}, "y", {{"axis", attr_i(0)}});
  ValueInfo yv;
  yv.name = "y";
  m.graph.outputs.push_back(yv);
  EngineOptions o;
  o.optimize = false;
  o.xnnpack = false;
  auto e = create_engine("native", m, o);
  e->prepare({{"X", {16}}});
  EXPECT_EQ(e->activation_bytes(), 14400u);
  Tensor x = random_tensor({16}, 5);
  std::memcpy(e->input(0).data(), x.data(), x.size_bytes());
  e->run();
  const Tensor& y = e->output(0);
  ASSERT_EQ(y.numel(), 1792);
  int64_t bad = 0;
  for (int64_t i = 0; i < 1792; ++i) bad += y.ptr<float>()[i] != x.ptr<float>()[(i < 768 ? i : i - 768) % 16];
  EXPECT_EQ(bad, 0);
}

// A Reshape or Flatten whose input dies at it takes its input's buffer (nothing copied): in X (16 floats) ->
// Tile (a, 4 KiB) -> Reshape [32, 32] -> Flatten -> Slice of the first row (y, 128 bytes), a and its reshapes are
// one block, so the arena holds 4 KiB and y (a copy per reshape would need 8 KiB at once).
TEST(Arena, ReshapeOfADyingInputSharesItsBuffer) {
  Model m;
  m.opsets[""] = 13;
  m.path = "arena-reshape";
  m.graph.inputs.push_back(value("X", DType::f32, {16}));
  m.graph.initializers["r64"] = Tensor::from_i64({1}, {64});
  m.graph.initializers["s"] = Tensor::from_i64({2}, {32, 32});
  m.graph.initializers["zero"] = Tensor::from_i64({1}, {0});
  m.graph.initializers["one"] = Tensor::from_i64({1}, {1});
  auto node = [&](const std::string& op, std::vector<std::string> ins, const std::string& out) {
    Node n;
    n.name = out + "_node";
    n.op_type = op;
    n.inputs = std::move(ins);
    n.outputs = {out};
    m.graph.nodes.push_back(n);
  };
  node("Tile", {"X", "r64"}, "a");  // 1024 floats
  node("Reshape", {"a", "s"}, "b");  // [32, 32]
  node("Flatten", {"b"}, "c");        // [32, 32] (axis 1)
  node("Slice", {"c", "zero", "one", "zero"}, "y");  // [1, 32]
  ValueInfo yv;
  yv.name = "y";
  m.graph.outputs.push_back(yv);
  EngineOptions o;
  o.optimize = false;
  o.xnnpack = false;
  auto e = create_engine("native", m, o);
  e->prepare({{"X", {16}}});
  EXPECT_LT(e->activation_bytes(), 8192u);
  EXPECT_GE(e->activation_bytes(), 4096u + 128u);
  Tensor x = random_tensor({16}, 6);
  std::memcpy(e->input(0).data(), x.data(), x.size_bytes());
  e->run();
  const Tensor& y = e->output(0);
  ASSERT_EQ(y.numel(), 32);
  int64_t bad = 0;
  for (int64_t i = 0; i < 32; ++i) bad += y.ptr<float>()[i] != x.ptr<float>()[i % 16];
  EXPECT_EQ(bad, 0);
}
