// `inspect`'s counts for BlazeFace-128 against a count made by hand from the architecture
// (MediaPipe BlazeFace front: 5x5 stem, 16 blocks of 3x3 depthwise + 1x1 pointwise, two detection heads).
#include <gtest/gtest.h>

#include "analysis.h"
#include "helpers.h"
#include "onnx_io.h"

using namespace ec;
using namespace ec::test;

TEST(Analysis, BlazeFace128CountsMatchHandCount) {
  // {channels in, channels out, output side} of each depthwise(3x3, no bias) + pointwise(1x1, bias) block.
  struct Block { int64_t cin, cout, side; };
  const Block blocks[] = {{24, 24, 64}, {24, 28, 64}, {28, 32, 32}, {32, 36, 32}, {36, 42, 32}, {42, 48, 16},
                          {48, 56, 16}, {56, 64, 16}, {64, 72, 16}, {72, 80, 16}, {80, 88, 16}, {88, 96, 8},
                          {96, 96, 8},  {96, 96, 8},  {96, 96, 8},  {96, 96, 8}};
  int64_t params = 24 * 3 * 5 * 5 + 24;  // stem conv 5x5, 3 -> 24, with bias
  int64_t macs = 64 * 64 * 24 * (3 * 5 * 5);
  for (const Block& b : blocks) {
    params += b.cin * 9;                    // depthwise weights
    params += b.cin * b.cout + b.cout;      // pointwise weights + bias
    macs += b.side * b.side * b.cin * 9;    // depthwise
    macs += b.side * b.side * b.cin * b.cout;
  }
  // heads: 16x16 grid from the 88-channel map (2 anchors), 8x8 grid from the 96-channel map (6 anchors)
  const int64_t heads[][3] = {{88, 2, 16}, {88, 32, 16}, {96, 6, 8}, {96, 96, 8}};  // cin, cout, side
  for (auto& h : heads) {
    params += h[0] * h[1] + h[1];
    macs += h[2] * h[2] * h[0] * h[1];
  }
  Model m = load_onnx(models_dir() + "/blazeface128.onnx");
  ModelStats st = analyze_model(m, {});
  ASSERT_TRUE(st.shapes_known) << st.shape_error;
  EXPECT_EQ(st.params, params);
  EXPECT_EQ(st.macs, macs);
  EXPECT_EQ(st.op_histogram["Conv"], 1 + 2 * 16 + 4);
  EXPECT_EQ(st.zero_params, 0);
  EXPECT_EQ(st.weight_bytes["float32"], static_cast<size_t>(4 * params));
  EXPECT_EQ(shape_str(st.output_shapes["Identity_2:0"]), "[1,512,16]");
}

TEST(Analysis, SparsityAndMacsOfASmallModel) {
  Tensor w = random_tensor({4, 2, 3, 3}, 1);
  for (int i = 0; i < 18; ++i) w.ptr<float>()[i * 4] = 0.f;  // 18 of 72 zero
  Model m = single_node_model("Conv", {in(random_tensor({1, 2, 10, 10}, 2)), cst(w)}, {});
  ModelStats st = analyze_model(m, {});
  EXPECT_EQ(st.params, 72);
  EXPECT_EQ(st.zero_params, 18);
  EXPECT_DOUBLE_EQ(st.sparsity(), 0.25);
  EXPECT_EQ(st.macs, 4 * 8 * 8 * 2 * 9);
}
