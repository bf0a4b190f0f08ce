// Structured channel pruning: the dependency groups of a residual block with channel padding, and pruning
// channels that are identically zero leaves the outputs unchanged while removing them everywhere.
#include <gtest/gtest.h>

#include "../engine/helpers.h"
#include "analysis.h"
#include "onnx_io.h"
#include "pass.h"
#include "structured.h"

using namespace ec;
using namespace ec::compress;
using namespace ec::test;

namespace {

// x[1,3,8,8] -> conv1 (3->8) -> relu = r ; dw (depthwise 3x3 on r) -> pw (8->10) = p
// pad = Concat(r, zeros[1,2,8,8]) ; add = p + pad -> relu2 -> head conv (10->4) -> y (graph output)
Model residual_block() {
  Model m;
  m.opsets[""] = 13;
  m.path = "block.onnx";
  m.graph.inputs.push_back(value("x", DType::f32, {1, 3, 8, 8}));
  m.graph.initializers["w1"] = random_tensor({8, 3, 3, 3}, 1);
  m.graph.initializers["b1"] = random_tensor({8}, 2);
  m.graph.initializers["wd"] = random_tensor({8, 1, 3, 3}, 3);
  m.graph.initializers["wp"] = random_tensor({10, 8, 1, 1}, 4);
  m.graph.initializers["bp"] = random_tensor({10}, 5);
  m.graph.initializers["wh"] = random_tensor({4, 10, 1, 1}, 6);
  m.graph.initializers["padshape"] = Tensor::from_i64({4}, {1, 2, 8, 8});
  auto& n = m.graph.nodes;
  n.push_back({"conv1", "Conv", "", {"x", "w1", "b1"}, {"c1"}, {{"pads", attr_ints({1, 1, 1, 1})}}});
  n.push_back({"relu1", "Relu", "", {"c1"}, {"r"}, {}});
  n.push_back({"dw", "Conv", "", {"r", "wd"}, {"d"}, {{"pads", attr_ints({1, 1, 1, 1})}, {"group", attr_i(8)}}});
  n.push_back({"pw", "Conv", "", {"d", "wp", "bp"}, {"p"}, {}});
  n.push_back({"zeros", "ConstantOfShape", "", {"padshape"}, {"z"}, {}});
  n.push_back({"pad", "Concat", "", {"r", "z"}, {"rp"}, {{"axis", attr_i(1)}}});
  n.push_back({"add", "Add", "", {"p", "rp"}, {"s"}, {}});
  n.push_back({"relu2", "Relu", "", {"s"}, {"t"}, {}});
  n.push_back({"head", "Conv", "", {"t", "wh"}, {"y"}, {}});
  m.graph.outputs.push_back(value("y", DType::f32, {1, 4, 8, 8}));
  return m;
}

}  // namespace

TEST(Structured, DependencyGroupsOfAResidualBlock) {
  Model m = residual_block();
  auto groups = channel_groups(m);
  int stream = 0;
  for (auto& g : groups) {
    bool has_p = false, has_r = false, has_z = false;
    for (auto& mc : g.members) {
      has_p = has_p || mc.first == "p";
      has_r = has_r || mc.first == "r";
      has_z = has_z || mc.first == "z";
    }
    if (!has_p) continue;
    ++stream;
    EXPECT_FALSE(g.blocked);
    // channels 0..7: conv1, relu, depthwise, pw, concat, add, relu2 together; 8..9: pw with the zero padding
    EXPECT_TRUE(has_r != has_z);
    const size_t want_producers = has_r ? 2 : 1;  // conv1 and pw, or pw alone
    EXPECT_EQ(g.producers.size(), want_producers);
    EXPECT_EQ(g.members.size(), has_r ? 7u : 5u);  // c1 r d p rp s t, or z p rp s t
  }
  EXPECT_EQ(stream, 10);
  for (auto& g : groups)
    for (auto& mc : g.members) {
      if (mc.first == "x" || mc.first == "y") {
        EXPECT_TRUE(g.blocked) << mc.first;
      }
    }
}

TEST(Structured, PruningDeadChannelsKeepsOutputsAndShrinksEverything) {
  Model m = residual_block();
  // make stream channel 5 (from conv1) and padded channel 9 (pw only) dead: zero filters and biases
  for (int64_t k = 0; k < 27; ++k) m.graph.initializers["w1"].ptr<float>()[5 * 27 + k] = 0;
  m.graph.initializers["b1"].ptr<float>()[5] = 0;
  for (int64_t k = 0; k < 8; ++k) {
    m.graph.initializers["wp"].ptr<float>()[5 * 8 + k] = 0;
    m.graph.initializers["wp"].ptr<float>()[9 * 8 + k] = 0;
  }
  m.graph.initializers["bp"].ptr<float>()[5] = 0;
  m.graph.initializers["bp"].ptr<float>()[9] = 0;
  Model pruned = m;
  PassContext ctx;
  StepParams p;
  p.where = "t";
  p.values["ratio"] = "0.2";  // 2 of the 10 prunable groups: the two dead ones score lowest
  const std::string line = run_pass("prune-channels", pruned, p, ctx);
  EXPECT_NE(line.find("2 removed"), std::string::npos) << line;
  EXPECT_EQ(check_onnx(pruned), "");
  EXPECT_EQ(shape_str(pruned.graph.initializers.at("w1").shape()), "[7,3,3,3]");
  EXPECT_EQ(shape_str(pruned.graph.initializers.at("wd").shape()), "[7,1,3,3]");
  EXPECT_EQ(shape_str(pruned.graph.initializers.at("wp").shape()), "[8,7,1,1]");
  EXPECT_EQ(shape_str(pruned.graph.initializers.at("wh").shape()), "[4,8,1,1]");
  EXPECT_EQ(pruned.graph.initializers.at("padshape").ptr<int64_t>()[1], 1);
  Tensor x = random_tensor({1, 3, 8, 8}, 9);
  auto a = run_model(m, {x}), b = run_model(pruned, {x});
  EXPECT_LT(max_abs_diff(a[0], b[0]), 1e-5);
  EXPECT_LT(analyze_model(pruned, {}).macs, analyze_model(m, {}).macs);
}

TEST(Structured, GemmChainOfAnMlp) {
  // x[2,12] -> Gemm(12->16, transB) -> Relu -> Add(per-feature const) -> Gemm(16->5) -> y
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(value("x", DType::f32, {2, 12}));
  m.graph.initializers["w1"] = random_tensor({16, 12}, 1);
  m.graph.initializers["b1"] = random_tensor({16}, 2);
  m.graph.initializers["k"] = random_tensor({16}, 3);
  m.graph.initializers["w2"] = random_tensor({16, 5}, 4);
  for (int64_t k = 0; k < 12; ++k) m.graph.initializers["w1"].ptr<float>()[3 * 12 + k] = 0;  // feature 3 is dead...
  m.graph.initializers["b1"].ptr<float>()[3] = -1;                                               // ...after the Relu
  m.graph.initializers["k"].ptr<float>()[3] = 0;
  auto& n = m.graph.nodes;
  n.push_back({"fc1", "Gemm", "", {"x", "w1", "b1"}, {"h"}, {{"transB", attr_i(1)}}});
  n.push_back({"relu", "Relu", "", {"h"}, {"r"}, {}});
  n.push_back({"shift", "Add", "", {"r", "k"}, {"s"}, {}});
  n.push_back({"fc2", "Gemm", "", {"s", "w2"}, {"y"}, {}});
  m.graph.outputs.push_back(value("y", DType::f32, {2, 5}));
  auto groups = channel_groups(m);
  int prunable = 0;
  for (auto& g : groups) prunable += !g.blocked && !g.producers.empty();
  EXPECT_EQ(prunable, 16);
  Model pruned = m;
  PassContext ctx;
  StepParams p;
  p.where = "t";
  p.values["ratio"] = "0.0625";  // one of 16: the dead feature scores lowest
  run_pass("prune-channels", pruned, p, ctx);
  EXPECT_EQ(shape_str(pruned.graph.initializers.at("w1").shape()), "[15,12]");
  EXPECT_EQ(shape_str(pruned.graph.initializers.at("k").shape()), "[15]");
  EXPECT_EQ(shape_str(pruned.graph.initializers.at("w2").shape()), "[15,5]");
  Tensor x = random_tensor({2, 12}, 5);
  auto a = run_model(m, {x}), b = run_model(pruned, {x});
  EXPECT_LT(max_abs_diff(a[0], b[0]), 1e-5);
}
