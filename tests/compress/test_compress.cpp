// Compression passes with known answers on small synthetic graphs: symmetric int8 scales and rounding,
// calibration thresholds, magnitude and 2:4 pruning, QDQ graphs that pass the checker and stay close to
// float, recipe errors; fidelity metrics with known answers.
#include <gtest/gtest.h>

#include <set>

#include "../engine/helpers.h"
#include "fidelity.h"
#include "onnx_io.h"
#include "passes.h"
#include "pass.h"
#include "prune.h"
#include "quantize.h"

using namespace ec;
using namespace ec::compress;
using namespace ec::test;

TEST(Quantize, SymmetricPerChannelScalesAndRounding) {
  Tensor w = Tensor::from_f32({2, 3}, {0.5f, -1.27f, 0.005f, 2.54f, 0.0f, -0.01f});
  QuantizedTensor q = quantize_symmetric(w, 0);
  EXPECT_FLOAT_EQ(q.scale.ptr<float>()[0], 1.27f / 127);
  EXPECT_FLOAT_EQ(q.scale.ptr<float>()[1], 2.54f / 127);
  const int8_t want[6] = {50, -127, 0 /* 0.5 rounds to even */, 127, 0, 0 /* -0.5 rounds to even */};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(q.q.ptr<int8_t>()[i], want[i]) << i;
  QuantizedTensor t = quantize_symmetric(w, -1);
  EXPECT_EQ(t.scale.numel(), 1);
  EXPECT_FLOAT_EQ(t.scale.ptr<float>()[0], 2.54f / 127);
  Tensor z(DType::f32, {1, 4});
  EXPECT_FLOAT_EQ(quantize_symmetric(z, 0).scale.ptr<float>()[0], 1.f);  // all-zero channel
}

TEST(Quantize, CalibrationThresholds) {
  AbsHistogram h;
  h.max = 10.0;
  h.counts.assign(1000, 0.0);
  for (size_t b = 0; b < 1000; ++b) h.counts[b] = 1000.0 * std::exp(-static_cast<double>(b) / 30.0);  // a long, thin tail
  double total = 0, below1 = 0;
  for (size_t b = 0; b < 1000; ++b) {
    total += h.counts[b];
    if (b < 100) below1 += h.counts[b];
  }
  ASSERT_GT(below1 / total, 0.96);
  EXPECT_DOUBLE_EQ(choose_amax(h, "minmax", 0), 10.0);
  EXPECT_LT(choose_amax(h, "percentile", 95.0), 1.0);  // 95% of the mass lies below 1
  EXPECT_GT(choose_amax(h, "percentile", 95.0), 0.8);
  const double e = choose_amax(h, "entropy", 0), m = choose_amax(h, "mse", 0);
  EXPECT_LT(e, 5.0) << "entropy clips the thin tail";
  EXPECT_GT(e, 0.5);
  EXPECT_LT(m, 5.0) << "mse clips the thin tail";
  EXPECT_GT(m, 0.5);
  // all mass below 1 and nothing above: mse has no reason to go past 1
  AbsHistogram u;
  u.max = 10.0;
  u.counts.assign(1000, 0.0);
  for (size_t b = 0; b < 100; ++b) u.counts[b] = 10;
  EXPECT_LE(choose_amax(u, "mse", 0), 1.1);
  EXPECT_THROW(choose_amax(h, "median", 0), Error);
}

TEST(Prune, MagnitudeAndTwoOfFour) {
  Tensor w = random_tensor({8, 16}, 3);
  Tensor a = w.clone();
  EXPECT_EQ(prune_magnitude(a, 0.25), 32);
  int zeros = 0;
  float kept_min = 1e9f, pruned_max = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (a.ptr<float>()[i] == 0) {
      ++zeros;
      pruned_max = std::max(pruned_max, std::fabs(w.ptr<float>()[i]));
    } else {
      kept_min = std::min(kept_min, std::fabs(a.ptr<float>()[i]));
    }
  }
  EXPECT_EQ(zeros, 32);
  EXPECT_LE(pruned_max, kept_min) << "the smallest magnitudes go first";
  Tensor b = w.clone();
  prune_2_4(b);
  for (int64_t g = 0; g < b.numel(); g += 4) {
    int z = 0;
    for (int k = 0; k < 4; ++k) z += b.ptr<float>()[g + k] == 0;
    EXPECT_EQ(z, 2) << "group " << g;
  }
}

namespace {
Model conv_relu_conv() {
  Model m;
  m.opsets[""] = 13;
  m.path = "small.onnx";
  m.graph.inputs.push_back(value("x", DType::f32, {1, 3, 16, 16}));
  m.graph.initializers["w1"] = random_tensor({8, 3, 3, 3}, 1);
  m.graph.initializers["b1"] = random_tensor({8}, 2);
  m.graph.initializers["w2"] = random_tensor({4, 8, 1, 1}, 3);
  m.graph.nodes.push_back(Node{"c1", "Conv", "", {"x", "w1", "b1"}, {"a"}, {{"pads", attr_ints({1, 1, 1, 1})}}});
  m.graph.nodes.push_back(Node{"r", "Relu", "", {"a"}, {"b"}, {}});
  m.graph.nodes.push_back(Node{"c2", "Conv", "", {"b", "w2"}, {"y"}, {}});
  m.graph.outputs.push_back(value("y", DType::f32, {1, 4, 16, 16}));
  return m;
}
}  // namespace

TEST(QuantizePass, QdqGraphPassesTheCheckerAndStaysCloseToFloat) {
  Model m = conv_relu_conv();
  PassContext ctx;
  for (int i = 0; i < 8; ++i) ctx.calibration.push_back({random_tensor({1, 3, 16, 16}, 100 + i)});
  StepParams p;
  p.where = "test";
  p.values["method"] = "minmax";
  Model q = m;
  std::string line = run_pass("quantize", q, p, ctx);
  EXPECT_NE(line.find("2 layers int8"), std::string::npos) << line;
  EXPECT_EQ(check_onnx(q), "");
  int qn = 0, dqn = 0;
  for (auto& n : q.graph.nodes) {
    qn += n.op_type == "QuantizeLinear";
    dqn += n.op_type == "DequantizeLinear";
  }
  EXPECT_EQ(qn, 2);   // x and relu output
  EXPECT_EQ(dqn, 4);  // two activations, two weights
  EXPECT_EQ(q.graph.initializers.count("w1"), 0u) << "float weights replaced by int8";
  Tensor x = random_tensor({1, 3, 16, 16}, 7);
  auto a = run_model(m, {x}), b = run_model(q, {x});
  EXPECT_LT(diff_over_range(a[0], b[0]), 0.05);
  EXPECT_GT(diff_over_range(a[0], b[0]), 0.0) << "quantization must change something";
  // per-axis DQ of an opset-12 model: upgraded to 13 when its ops allow
  Model old = conv_relu_conv();
  old.opsets[""] = 12;
  EXPECT_EQ(upgrade_to_opset13(old), "");
  EXPECT_EQ(old.opset(), 13);
}

// `activations: all` on a YOLOv8-style block: Conv -> SiLU -> Split -> (Conv -> HardSwish, and the other half)
// -> Concat -> Conv. The pre-activation outputs of the two convolutions followed by SiLU and HardSwish get their
// own Q/DQ (read by the activation), the Split reads one quantized value and its halves share its scale, so the
// engine turns both activations into int8 lookup tables and runs every convolution in int8; the model passes
// the checker and stays close to float.
TEST(QuantizePass, AllActivationsQuantizesPreActivationsForLookupTables) {
  Model m;
  m.opsets[""] = 14;  // HardSwish
  m.path = "c2f.onnx";
  m.graph.inputs.push_back(value("x", DType::f32, {1, 8, 12, 12}));
  m.graph.initializers["w1"] = random_tensor({16, 8, 3, 3}, 11, -0.3f, 0.3f);
  m.graph.initializers["w2"] = random_tensor({8, 8, 3, 3}, 12, -0.3f, 0.3f);
  m.graph.initializers["w3"] = random_tensor({8, 16, 1, 1}, 13, -0.3f, 0.3f);
  m.graph.initializers["split"] = Tensor::from_i64({2}, {8, 8});
  m.graph.nodes.push_back(Node{"c1", "Conv", "", {"x", "w1"}, {"a"}, {{"pads", attr_ints({1, 1, 1, 1})}}});
  m.graph.nodes.push_back(Node{"sg", "Sigmoid", "", {"a"}, {"s"}, {}});
  m.graph.nodes.push_back(Node{"silu", "Mul", "", {"a", "s"}, {"b"}, {}});
  m.graph.nodes.push_back(Node{"sp", "Split", "", {"b", "split"}, {"b0", "b1"}, {{"axis", attr_i(1)}}});
  m.graph.nodes.push_back(Node{"c2", "Conv", "", {"b1", "w2"}, {"c"}, {{"pads", attr_ints({1, 1, 1, 1})}}});
  m.graph.nodes.push_back(Node{"hs", "HardSwish", "", {"c"}, {"d"}, {}});
  m.graph.nodes.push_back(Node{"cat", "Concat", "", {"b0", "d"}, {"e"}, {{"axis", attr_i(1)}}});
  m.graph.nodes.push_back(Node{"c3", "Conv", "", {"e", "w3"}, {"y"}, {}});
  m.graph.outputs.push_back(value("y", DType::f32, {1, 8, 12, 12}));
  PassContext ctx;
  for (int i = 0; i < 8; ++i) ctx.calibration.push_back({random_tensor({1, 8, 12, 12}, 200 + i)});
  StepParams p;
  p.where = "test";
  p.values["method"] = "minmax";
  p.values["activations"] = "all";
  Model q = m;
  run_pass("quantize", q, p, ctx);
  EXPECT_EQ(check_onnx(q), "");
  std::map<std::string, const Node*> by_output;
  for (auto& n : q.graph.nodes)
    for (auto& o : n.outputs) by_output[o] = &n;
  std::set<std::string> quantized;  // float values read by a QuantizeLinear
  for (auto& n : q.graph.nodes)
    if (n.op_type == "QuantizeLinear") quantized.insert(n.in(0));
  for (const char* v : {"a", "c", "b", "x"}) EXPECT_TRUE(quantized.count(v)) << v << " has no QuantizeLinear";
  std::map<std::string, float> scale_of;  // float value -> its QuantizeLinear's scale
  for (auto& n : q.graph.nodes)
    if (n.op_type == "QuantizeLinear") scale_of[n.in(0)] = q.graph.initializers.at(n.in(1)).ptr<float>()[0];
  ASSERT_TRUE(scale_of.count("b0") && scale_of.count("b1"));
  EXPECT_EQ(scale_of["b0"], scale_of["b"]);
  EXPECT_EQ(scale_of["b1"], scale_of["b"]);
  for (auto& n : q.graph.nodes)
    if (n.name == "sg" || n.name == "hs") {
      const Node* src = by_output.at(n.in(0));
      EXPECT_EQ(src->op_type, "DequantizeLinear") << n.name << " reads " << n.in(0);
    }
  // the engine: both activations become tables, the Concat's inputs are requantized to its output's scale
  Model e = q;
  optimize_for_native(e.graph);
  int act_luts = 0, cat_luts = 0;  // tables for activations, and for requantizing the Concat's inputs (int8_concats)
  for (auto& n : e.graph.nodes)
    if (n.op_type == "QLut") ++(n.name.find("#in") != std::string::npos ? cat_luts : act_luts);
  EXPECT_EQ(act_luts, 2);
  EXPECT_GE(cat_luts, 1);  // b0 and d come at two scales, at most one of them the Concat output's
  Tensor x = random_tensor({1, 8, 12, 12}, 7);
  auto a = run_model(m, {x}), b = run_model(q, {x});
  EXPECT_LT(diff_over_range(a[0], b[0]), 0.05);
}

TEST(QuantizePass, ErrorsNameTheStep) {
  Model m = conv_relu_conv();
  PassContext none;
  StepParams p;
  p.where = "r.yaml:4";
  EXPECT_THROW(run_pass("quantize", m, p, none), Error);  // no calibration data
  try {
    run_pass("distill-magic", m, p, none);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("r.yaml:4: unknown recipe step 'distill-magic'"), std::string::npos) << e.what();
  }
  p.values["sparsity"] = "lots";
  try {
    run_pass("prune", m, p, none);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'sparsity' = 'lots' is not a number"), std::string::npos) << e.what();
  }
  p.values.clear();
  p.values["sparsty"] = "0.5";
  EXPECT_THROW(run_pass("prune", m, p, none), Error);
}

TEST(PrunePass, GlobalSparsityIsExact) {
  Model m = conv_relu_conv();
  PassContext ctx;
  StepParams p;
  p.where = "t";
  p.values["sparsity"] = "0.6";
  p.values["scope"] = "global";
  std::string line = run_pass("prune", m, p, ctx);
  const int64_t total = 8 * 27 + 4 * 8;
  int64_t zeros = 0;
  for (const char* w : {"w1", "w2"})
    for (int64_t i = 0; i < m.graph.initializers[w].numel(); ++i) zeros += m.graph.initializers[w].ptr<float>()[i] == 0;
  EXPECT_EQ(zeros, static_cast<int64_t>(0.6 * total)) << line;
}

TEST(Fidelity, MapIouSnrKnownAnswers) {
  FidelityAccumulator f;
  auto det = [](float x, float s) {
    Detection d;
    d.box = {x, 0, 10, 10};
    d.score = s;
    return d;
  };
  // frame 1: one GT, matched exactly (score .9) plus a false positive (score .8)
  f.add_detections({det(0, 1)}, {det(0, 0.9f), det(50, 0.8f)});
  // frame 2: one GT, missed (candidate at IoU 1/3), one more false positive
  f.add_detections({det(100, 1)}, {det(105, 0.7f)});
  // ranked: TP(.9) FP(.8) FP(.7): precision 1, .5, .33; recall .5 -> AP = 0.5 * 1
  EXPECT_NEAR(f.map50(), 0.5, 1e-9);
  EXPECT_NEAR(f.mean_iou(), 1.0, 1e-9);
  Tensor a = Tensor::from_f32({2}, {3, 4}), b = Tensor::from_f32({2}, {3, 3});
  f.add_outputs({&a}, {&b});
  EXPECT_NEAR(f.snr_db(), 10 * std::log10(25.0), 1e-9);
  f.add_classes(1, 1);
  f.add_classes(2, 3);
  EXPECT_DOUBLE_EQ(f.top1_agreement(), 0.5);
}

TEST(QuantizePass, DynamicInt8ForGemmAndMatMul) {
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(value("x", DType::f32, {3, 20}));
  m.graph.initializers["w1"] = random_tensor({16, 20}, 1);  // transB = 1
  m.graph.initializers["c1"] = random_tensor({16}, 2);
  m.graph.initializers["w2"] = random_tensor({16, 8}, 3);
  m.graph.nodes.push_back(Node{"g", "Gemm", "", {"x", "w1", "c1"}, {"h"}, {{"transB", attr_i(1)}, {"alpha", attr_f(0.5f)}, {"beta", attr_f(2.f)}}});
  m.graph.nodes.push_back(Node{"mm", "MatMul", "", {"h", "w2"}, {"y"}, {}});
  m.graph.outputs.push_back(value("y", DType::f32, {3, 8}));
  Model q = m;
  PassContext ctx;
  StepParams p;
  p.where = "t";
  EXPECT_NE(run_pass("quantize-dynamic", q, p, ctx).find("2 Gemm/MatMul layers int8"), std::string::npos);
  EXPECT_EQ(check_onnx(q), "");
  int mmi = 0;
  for (auto& n : q.graph.nodes) mmi += n.op_type == "MatMulInteger";
  EXPECT_EQ(mmi, 2);
  Tensor x = random_tensor({3, 20}, 4);
  auto a = run_model(m, {x}), b = run_model(q, {x});
  EXPECT_LT(diff_over_range(a[0], b[0]), 0.03);
}

// Short ids must not collide with the names kept as they are (graph inputs and outputs): an exporter (or our
// own bench_zoo) may already call its output "t1", and the checker refuses a value assigned twice.
TEST(CompactNames, ShortIdsSkipKeptInputAndOutputNames) {
  Model m = conv_relu_conv();
  // rename the graph's input and output to what the first short ids would be
  for (auto& n : m.graph.nodes) {
    for (auto& i : n.inputs) i = i == "x" ? "t0" : i;
    for (auto& o : n.outputs) o = o == "y" ? "t3" : o;
  }
  m.graph.inputs[0].name = "t0";
  m.graph.outputs[0].name = "t3";
  Model c = m;
  EXPECT_GT(compact_names(c), 0u);
  EXPECT_EQ(check_onnx(c), "");
  EXPECT_EQ(c.graph.inputs[0].name, "t0");
  EXPECT_EQ(c.graph.outputs[0].name, "t3");
  std::set<std::string> produced;
  for (auto& n : c.graph.nodes)
    for (auto& o : n.outputs) EXPECT_TRUE(produced.insert(o).second) << o << " assigned twice";
  for (auto& kv : c.graph.initializers) EXPECT_FALSE(produced.count(kv.first)) << kv.first;
  Tensor x = random_tensor({1, 3, 16, 16}, 5);
  auto a = run_model(m, {x}), b = run_model(c, {x});
  EXPECT_EQ(max_abs_diff(a[0], b[0]), 0.0) << "renaming changes no value";
}
