// The NHWC layout pass and the XNNPACK-backed kernels against the reference NCHW kernels (the same graph
// with EngineOptions::xnnpack off) over swept shapes, at 1 and 2 threads. Conv itself is swept by
// test_engine_kernels (which runs on XNNPACK) and test_engine_kernels_reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include <unistd.h>

#include "helpers.h"
#include "kernel_switches.h"
#include "layout.h"
#include "op.h"
#include "onnx_io.h"
#include "passes.h"
#include "pointwise.h"
#include "resize_kernels.h"
#include "qgemm.h"
#include "convgemm.h"
#include "deconv_kernels.h"
#include "stem.h"
#include "winograd.h"
#include "naive.h"
#include "xnn.h"

using namespace ec;
using namespace ec::test;

// The "no_vnni." run of these tests (tests/CMakeLists.txt) sets EC_NO_VNNI and EC_NO_POINTWISE: like app/, the
// test reads its environment and hands the engine its switches before any model is prepared.
static const bool kSwitchesFromEnvironment = [] {
  auto on = [](const char* n) {
    const char* v = std::getenv(n);
    return v && *v && std::string(v) != "0";
  };
  set_kernel_switches({!on("EC_NO_VNNI"), !on("EC_NO_POINTWISE")});
  return true;
}();

namespace {

// Builds models node by node; every named value that is not an initializer or a node output is an input.
struct GraphBuilder {
  Model m;
  int next = 0;
  GraphBuilder() {
    m.opsets[""] = 13;
    m.path = "xnnpack-test";
  }
  std::string input(const std::string& name, const Shape& s) {
    m.graph.inputs.push_back(value(name, DType::f32, s));
    return name;
  }
  std::string constant(Tensor t) {
    std::string name = "c" + std::to_string(next++);
    m.graph.initializers[name] = std::move(t);
    return name;
  }
  std::string node(const std::string& op, std::vector<std::string> ins, std::map<std::string, Attribute> attrs = {}) {
    std::string out = "v" + std::to_string(next++);
    m.graph.nodes.push_back(Node{op + "_" + out, op, "", std::move(ins), {out}, std::move(attrs)});
    return out;
  }
  // A 1x1 convolution with identity weights: puts `x` (C channels) into NHWC without changing values.
  std::string identity_conv(const std::string& x, int64_t c) {
    Tensor w(DType::f32, {c, c, 1, 1});
    for (int64_t i = 0; i < c; ++i) w.ptr<float>()[i * c + i] = 1.f;
    return node("Conv", {x, constant(w)});
  }
  void output(const std::string& v) {
    ValueInfo o;
    o.name = v;
    m.graph.outputs.push_back(o);
  }
};

// Runs `m` with XNNPACK and with the reference kernels on the same inputs; expects the same shapes and every
// output within sum_tolerance() of the reference for sums of `terms` products (the longest chain of additions
// an output goes through, summed over the layers), or bit-equal when `terms` is 0 (pure data movement).
void expect_same(const Model& m, const std::vector<Tensor>& inputs, int64_t terms, const std::string& what) {
  for (int threads : {1, 2}) {
    auto fast = run_model(m, inputs, "native", threads, true, true);
    auto ref = run_model(m, inputs, "native", threads, true, false);
    ASSERT_EQ(fast.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      const double tol = terms == 0 ? 0.0 : sum_tolerance(ref[i], terms);
      EXPECT_LE(max_abs_diff(ref[i], fast[i]), tol) << what << " output " << i << " threads " << threads << " (" << terms << " terms)";
    }
  }
}

// While alive, the measured kernel choice (native.cpp) picks the candidate whose name starts with `name`:
// the timing hook makes it look a million times faster than the others.
struct ForceKernel {
  explicit ForceKernel(const std::string& name) {
    set_kernel_timing_hook([name](const std::string&, const std::string& cand, double ms, bool) { return cand.rfind(name, 0) == 0 ? ms * 1e-6 : ms; });
  }
  ~ForceKernel() { set_kernel_timing_hook(nullptr); }
};

// Runs `m` (one input, one layer with a choice of kernels) with the candidate named `pick` forced and no
// cache: a copy of output 0 and the kernel that layer got ("N tunable layers" when it is not one).
std::pair<Tensor, std::string> run_forced(const Model& m, const Tensor& x, const std::string& pick, int threads) {
  ForceKernel force(pick);
  EngineOptions o;
  o.threads = threads;
  o.kernel_cache = "-";
  auto e = create_engine("native", m, o);
  e->prepare({});
  std::memcpy(e->input(0).data(), x.data(), x.size_bytes());
  e->run();
  const KernelTuning t = e->kernel_tuning();
  std::string got = t.layers.size() == 1 ? t.layers[0].candidates[t.layers[0].chosen] : std::to_string(t.layers.size()) + " tunable layers";
  return {e->output(0).clone(), got};  // the engine owns its output buffer
}

int count_op(const Graph& g, const std::string& op, const std::string& domain = "") {
  int n = 0;
  for (auto& node : g.nodes) n += node.op_type == op && node.domain == domain;
  return n;
}

}  // namespace

class Xnnpack : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!xnnpack_available()) GTEST_SKIP() << xnnpack_status();
  }
};

TEST_F(Xnnpack, PoolsMatchReferenceOverSweptShapes) {
  struct Case { int64_t h, w, kh, kw, s, p, d; bool ceil, count_pad; };
  const std::vector<Case> cases = {
      {8, 8, 2, 2, 2, 0, 1, false, false},  {9, 7, 3, 3, 2, 1, 1, false, false}, {9, 7, 3, 3, 2, 1, 1, true, false},
      {10, 10, 3, 3, 1, 1, 1, false, true}, {11, 13, 2, 2, 3, 0, 1, true, true}, {12, 12, 3, 3, 2, 0, 2, false, false},
      {7, 9, 1, 1, 2, 0, 1, false, false},  {16, 16, 3, 2, 2, 0, 1, false, false}, {6, 6, 6, 6, 1, 0, 1, false, false},
      {10, 8, 3, 3, 2, 0, 1, true, false}};  // the last: ceil_mode adds a row and a column
  int i = 0;
  for (const Case& k : cases) {
    for (bool is_max : {true, false}) {
      if (!is_max && k.d != 1) continue;
      GraphBuilder b;
      const int64_t c = 5 + i % 3 * 8;  // 5, 13, 21 channels: XNNPACK channel tiles with remainders
      std::string x = b.identity_conv(b.input("x", {2, c, k.h, k.w}), c);
      std::map<std::string, Attribute> a = {{"kernel_shape", attr_ints({k.kh, k.kw})}, {"strides", attr_ints({k.s, k.s})},
                                            {"pads", attr_ints({k.p, k.p, k.p, k.p})}, {"ceil_mode", attr_i(k.ceil)}};
      if (is_max) a["dilations"] = attr_ints({k.d, k.d});
      else a["count_include_pad"] = attr_i(k.count_pad);
      b.output(b.node(is_max ? "MaxPool" : "AveragePool", {x}, a));
      Model conv = b.m;
      EXPECT_EQ(count_op([&] { convert_to_nhwc(conv.graph); return conv.graph; }(), is_max ? "MaxPool" : "AveragePool", kEcDomain), 1);
      Tensor in0 = random_tensor({2, c, k.h, k.w}, 300 + i);
      expect_same(b.m, {in0}, c + k.kh * k.kw, std::string(is_max ? "max" : "avg") + " case " + std::to_string(i));
      // and against the naive loops, so both paths are checked independently
      auto fast = run_model(b.m, {in0}, "native", 2, true, true);
      Tensor ref = naive::pool2d(in0, is_max, {k.kh, k.kw}, {k.s, k.s}, {k.p, k.p, k.p, k.p}, {k.d, k.d}, fast[0].dim(2), fast[0].dim(3),
                                 k.count_pad);
      EXPECT_LE(max_abs_diff(ref, fast[0]), sum_tolerance(ref, c + k.kh * k.kw)) << (is_max ? "max" : "avg") << " vs naive, case " << i;
    }
    ++i;
  }
  for (Shape s : {Shape{1, 24, 8, 8}, Shape{3, 7, 5, 3}}) {
    GraphBuilder b;
    b.output(b.node("GlobalAveragePool", {b.identity_conv(b.input("x", s), s[1])}));
    expect_same(b.m, {random_tensor(s, 7)}, s[1] + s[2] * s[3], "global average " + shape_str(s));
  }
}

TEST_F(Xnnpack, BinaryOpsBroadcastAgainstNhwcConstantsAndRuntimeValues) {
  const Shape xs{2, 6, 5, 7};
  const std::vector<Shape> const_shapes = {{1}, {6, 1, 1}, {1, 6, 1, 1}, {7}, {5, 7}, {1, 6, 5, 7}};
  int i = 0;
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min"}) {
    for (const Shape& cs : const_shapes) {
      GraphBuilder b;
      std::string x = b.identity_conv(b.input("x", xs), 6);
      std::string c = b.constant(random_tensor(cs, 400 + i, 0.5f, 2.f));
      b.output(b.node(op, i % 2 ? std::vector<std::string>{x, c} : std::vector<std::string>{c, x}));
      expect_same(b.m, {random_tensor(xs, 500 + i, 0.5f, 2.f)}, 6 + 1, std::string(op) + " with constant " + shape_str(cs));
      ++i;
    }
    // two NHWC operands, and an NHWC operand with an NCHW runtime input (falls back to NCHW)
    GraphBuilder b;
    std::string x = b.identity_conv(b.input("x", xs), 6);
    std::string y = b.identity_conv(b.input("y", xs), 6);
    b.output(b.node(op, {x, y}));
    b.output(b.node(op, {x, b.input("z", {1, 6, 1, 7})}));
    expect_same(b.m, {random_tensor(xs, 600 + i, 0.5f, 2.f), random_tensor(xs, 700 + i, 0.5f, 2.f), random_tensor({1, 6, 1, 7}, 9, 0.5f, 2.f)},
                6 + 1, std::string(op) + " two NHWC / mixed");
  }
  // Add + Relu fused (XNNPACK clamps), Add + Sigmoid (applied after)
  for (const char* act : {"Relu", "Sigmoid"}) {
    GraphBuilder b;
    std::string x = b.identity_conv(b.input("x", xs), 6);
    std::string y = b.identity_conv(b.input("y", xs), 6);
    b.output(b.node(act, {b.node("Add", {x, y})}));
    expect_same(b.m, {random_tensor(xs, 11), random_tensor(xs, 12)}, 6 + 1, std::string("Add + ") + act);
  }
}

// A BlazeFace-like block: TF-style NHWC input transposed to NCHW, conv stem, depthwise + pointwise with a
// channel-padded residual (Concat with ConstantOfShape zeros), max pooling, an explicit Pad, a head whose
// output is transposed back to NHWC and reshaped, and a Softmax branch that needs NCHW.
TEST_F(Xnnpack, LayoutPassKeepsBlazeFaceStyleGraphsExactAndAddsNoTransposesInside) {
  GraphBuilder b;
  std::string x = b.node("Transpose", {b.input("x", {1, 16, 16, 3})}, {{"perm", attr_ints({0, 3, 1, 2})}});
  std::string s = b.node("Conv", {x, b.constant(random_tensor({8, 3, 3, 3}, 1)), b.constant(random_tensor({8}, 2))},
                         {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({0, 0, 1, 1})}});
  s = b.node("Relu", {s});
  std::string dw = b.node("Conv", {s, b.constant(random_tensor({8, 1, 3, 3}, 3))}, {{"group", attr_i(8)}, {"pads", attr_ints({1, 1, 1, 1})}});
  std::string pw = b.node("Conv", {dw, b.constant(random_tensor({12, 8, 1, 1}, 4)), b.constant(random_tensor({12}, 5))});
  std::string zeros = b.node("ConstantOfShape", {b.constant(Tensor::from_i64({4}, {1, 4, 8, 8}))});
  std::string padded = b.node("Concat", {s, zeros}, {{"axis", attr_i(1)}});
  std::string r = b.node("Relu", {b.node("Add", {pw, padded})});
  std::string mp = b.node("MaxPool", {r}, {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}});
  std::string pd = b.node("Pad", {mp, b.constant(Tensor::from_i64({8}, {0, 0, 1, 0, 0, 2, 0, 1}))});
  std::string head = b.node("Conv", {pd, b.constant(random_tensor({4, 14, 1, 1}, 6)), b.constant(random_tensor({4}, 7))});
  std::string t = b.node("Transpose", {head}, {{"perm", attr_ints({0, 2, 3, 1})}});
  b.output(b.node("Reshape", {t, b.constant(Tensor::from_i64({3}, {1, -1, 2}))}));
  b.output(b.node("Softmax", {head}, {{"axis", attr_i(1)}}));
  b.output(r);  // an intermediate value as a graph output: must come back in NCHW

  Model conv = b.m;
  LayoutStats st = convert_to_nhwc(conv.graph);
  // with the fused kernel the pointwise conv, the Add and the zero padding of the residual become one node
  const int fused = pointwise_available() ? 1 : 0;
  // and the depthwise convolution before it too (DwPointwiseAdd)
  EXPECT_EQ(st.pointwise_add, fused);
  EXPECT_EQ(st.dw_pointwise, fused);
  EXPECT_EQ(count_op(conv.graph, "Conv", kEcDomain), 4 - 2 * fused);
  EXPECT_EQ(count_op(conv.graph, "PointwiseAdd", kEcDomain), 0);
  EXPECT_EQ(count_op(conv.graph, "DwPointwiseAdd", kEcDomain), fused);
  // without the fused kernel (aarch64), the general convolution + residual fusion takes the Add into the 1x1 Conv
  EXPECT_EQ(st.conv_add, 1 - fused);
  EXPECT_EQ(count_op(conv.graph, "Add", kEcDomain), 0);
  EXPECT_EQ(count_op(conv.graph, "MaxPool", kEcDomain), 1);
  EXPECT_EQ(count_op(conv.graph, "Pad", kEcDomain), 1);
  EXPECT_EQ(count_op(conv.graph, "ConstantOfShape"), 1 - fused);  // the NHWC one (unless fused); the NCHW one is dropped
  // only the Softmax input and the intermediate graph output go back to NCHW; the input transpose and the
  // head's NCHW->NHWC transpose are folded away
  EXPECT_EQ(st.transposes, 2) << to_string(st);
  EXPECT_EQ(st.folded, 2) << to_string(st);
  EXPECT_EQ(count_op(conv.graph, "Transpose"), 2);
  // stem 27 + depthwise 9 + pointwise 8 + residual 1 + head 14 terms along the longest chain
  expect_same(b.m, {random_tensor({1, 16, 16, 3}, 42)}, 27 + 9 + 8 + 1 + 14, "blazeface-style block");
}

// The fused pointwise kernel (1x1 conv + residual Add + Relu/Clip in one pass) against the reference kernels:
// input and output channels around the register blocks (8-wide vectors, 1-4 per block; up to 32 outputs are
// fused), pixel counts around the row blocks, residuals of the output's shape, channel-zero-padded (Concat
// with zeros, read unpadded), broadcast constants, and one read twice (not fused).
TEST_F(Xnnpack, PointwiseConvWithResidualAddMatchesReference) {
  if (!pointwise_available()) GTEST_SKIP() << "no fused pointwise kernel on this CPU (needs AVX-512 F/VL) or EC_NO_POINTWISE set";
  int seed = 900, fused_total = 0;
  for (int64_t k : {3, 8, 24, 28, 40})
    for (int64_t n : {8, 12, 24, 28, 32, 48})
      for (Shape hw : {Shape{1, 1}, Shape{5, 7}, Shape{16, 17}})
        for (int kind = 0; kind < 4; ++kind) {
          GraphBuilder b;
          const Shape xs{2, k, hw[0], hw[1]};
          std::string x = b.identity_conv(b.input("x", xs), k);
          std::string pw = b.node("Conv", {x, b.constant(random_tensor({n, k, 1, 1}, seed++)), b.constant(random_tensor({n}, seed++))});
          std::string res;
          if (kind == 0) {  // a residual of the output's shape, from another convolution
            res = b.node("Conv", {x, b.constant(random_tensor({n, k, 1, 1}, seed++)), b.constant(random_tensor({n}, seed++))},
                         {{"kernel_shape", attr_ints({1, 1})}});
            res = b.node("Relu", {res});
          } else if (kind == 1) {  // channel-padded: the first half of the channels, zeros after
            const int64_t cr = std::max<int64_t>(1, n / 2);
            std::string part = b.node("Conv", {x, b.constant(random_tensor({cr, k, 3, 3}, seed++))}, {{"pads", attr_ints({1, 1, 1, 1})}});
            std::string zeros = b.node("ConstantOfShape", {b.constant(Tensor::from_i64({4}, {2, n - cr, hw[0], hw[1]}))});
            res = b.node("Concat", {part, zeros}, {{"axis", attr_i(1)}});
          } else if (kind == 2) {  // a broadcast constant
            res = b.constant(random_tensor({1, n, 1, 1}, seed++));
          } else {  // the pointwise output read twice: not fused
            res = pw;
          }
          std::string sum = b.node("Add", {pw, res});
          b.output(kind % 2 ? b.node("Relu", {sum}) : b.node("Clip", {sum, b.constant(Tensor::from_f32({}, {-0.5f})), b.constant(Tensor::from_f32({}, {0.75f}))}));
          Model conv = b.m;
          optimize_for_native(conv.graph);
          const LayoutStats st = convert_to_nhwc(conv.graph);
          const bool expect_fused = n <= 32 && kind != 3;
          EXPECT_EQ(st.pointwise_add > 0, expect_fused) << "k " << k << " n " << n << " kind " << kind << ": " << to_string(st);
          fused_total += st.pointwise_add;
          // identity conv k, the 3x3 residual conv 9k, the pointwise conv k, bias and residual 2; the fused layer's
          // two kernels (ours, and XNNPACK's convolution with the residual added after; the latter on the largest
          // size only, to keep the test's time)
          const Tensor xin = random_tensor(xs, seed++);
          for (const char* kernel : {"ec-pointwise", "xnnpack"}) {
            if (std::string(kernel) == "xnnpack" && hw[0] != 16) continue;
            ForceKernel force(kernel);
            expect_same(b.m, {xin}, 11 * k + 2,
                        std::string(kernel) + " pointwise k " + std::to_string(k) + " n " + std::to_string(n) + " " + shape_str(hw) + " kind " +
                            std::to_string(kind));
          }
        }
  EXPECT_GT(fused_total, 100);
}

// Any other float convolution read only by an Add takes the Add in (a 4th input): each kernel adds the residual
// and applies both activations to the blocks of outputs it writes (the blocked GEMM to its tasks' pixel and
// channel ranges, Winograd to its tiles, the direct kernel to its rows, XNNPACK's after the operator). Against the
// reference kernels, every candidate forced, at 1 and 2 threads: 3x3 layers at stride 1 and 2 with and without
// SiLU, residuals of the output's shape (another convolution) and broadcast ones (a pooled [N,1,1,C] value,
// added after the convolution from the workspace), the Add with Relu or nothing.
TEST_F(Xnnpack, ConvWithResidualAddMatchesReference) {
  int seed = 1300, fused = 0;
  for (const auto& [c, m] : std::vector<std::pair<int64_t, int64_t>>{{16, 16}, {24, 40}})
    for (int64_t stride : {1, 2})
      for (int kind = 0; kind < 2; ++kind) {
        GraphBuilder b;
        const Shape xs{2, c, 14, 13};
        std::string x = b.identity_conv(b.input("x", xs), c);
        std::string y = b.node("Conv", {x, b.constant(random_tensor({m, c, 3, 3}, seed++)), b.constant(random_tensor({m}, seed++))},
                               {{"pads", attr_ints({1, 1, 1, 1})}, {"strides", attr_ints({stride, stride})}});
        const bool silu = (c + m + stride) % 2 == 1;
        if (silu) y = b.node("Mul", {y, b.node("Sigmoid", {y})});
        std::string res = b.node("Conv", {x, b.constant(random_tensor({m, c, 1, 1}, seed++))}, {{"strides", attr_ints({stride, stride})}});
        res = b.node("Relu", {res});
        if (kind == 1) res = b.node("GlobalAveragePool", {res});  // [2, m, 1, 1]: broadcast over the output
        std::string sum = b.node("Add", {y, res});
        b.output(kind == 0 ? b.node("Relu", {sum}) : sum);
        Model g = b.m;
        optimize_for_native(g.graph);
        const LayoutStats st = convert_to_nhwc(g.graph);
        EXPECT_EQ(st.conv_add, 1) << "c " << c << " m " << m << " stride " << stride << " kind " << kind << ": " << to_string(st);
        fused += st.conv_add;
        const Tensor xin = random_tensor(xs, seed++);
        for (const char* kernel : {"xnnpack", "winograd-f2", "winograd-f4", "xnnpack-split", "ec-direct", "ec-gemm", "ec-winograd-f2", "ec-winograd-f4"}) {
          ForceKernel force(kernel);
          // identity c, the 3x3 layer 9c, bias, residual (c, pooled) and the sum
          expect_same(b.m, {xin}, 11 * c + 3,
                      std::string(kernel) + " c " + std::to_string(c) + " m " + std::to_string(m) + " stride " + std::to_string(stride) + " kind " +
                          std::to_string(kind) + (silu ? " silu" : ""));
        }
      }
  EXPECT_EQ(fused, 8);
}

// A depthwise convolution read only by a fused pointwise + residual Add (DwPointwiseAdd) against the reference
// kernels, with each of its two kernels forced: the band kernel (depthwise rows into a thread's buffer, the
// pointwise GEMM from there) and XNNPACK's depthwise convolution over the whole map, then the GEMM. Windows 3x3 and 5x5,
// strides 1 and 2, padded and not, the depthwise's own Relu / Clip / none, channels around the vector widths,
// maps of one band and of many (bands are ~8192 floats), residuals of the output's shape, channel-padded and
// broadcast, batch 2; and a depthwise read twice (not fused).
TEST_F(Xnnpack, DepthwiseFusedIntoPointwiseAddMatchesReference) {
  if (!pointwise_available()) GTEST_SKIP() << "no fused pointwise kernel on this CPU (needs AVX-512 F/VL) or EC_NO_POINTWISE set";
  struct Case {
    int64_t c, n, h, w, k, s, p;
    int dw_act, res;  // dw_act: 0 none, 1 Relu, 2 Clip; res: 0 output-shaped, 1 channel-padded, 2 broadcast, 3 dw read twice
  };
  const std::vector<Case> cases = {
      {24, 24, 40, 40, 5, 1, 2, 0, 0}, {24, 28, 33, 37, 5, 1, 2, 1, 1}, {8, 8, 9, 5, 3, 1, 1, 2, 0},   {28, 32, 40, 40, 3, 2, 1, 0, 1},
      {32, 32, 17, 23, 5, 2, 0, 1, 2}, {12, 20, 64, 64, 3, 1, 1, 0, 0}, {16, 16, 6, 6, 3, 1, 1, 0, 3}, {3, 8, 11, 13, 5, 2, 2, 2, 0},
  };
  int seed = 1300, fused_total = 0;
  for (const Case& k : cases) {
    GraphBuilder b;
    const Shape xs{2, k.c, k.h, k.w};
    std::string x = b.identity_conv(b.input("x", xs), k.c);
    std::string d = b.node("Conv", {x, b.constant(random_tensor({k.c, 1, k.k, k.k}, seed++)), b.constant(random_tensor({k.c}, seed++))},
                           {{"group", attr_i(k.c)}, {"strides", attr_ints({k.s, k.s})}, {"pads", attr_ints({k.p, k.p, k.p, k.p})}});
    if (k.dw_act == 1) d = b.node("Relu", {d});
    if (k.dw_act == 2) d = b.node("Clip", {d, b.constant(Tensor::from_f32({}, {-0.25f})), b.constant(Tensor::from_f32({}, {0.5f}))});
    const int64_t oh = (k.h + 2 * k.p - k.k) / k.s + 1, ow = (k.w + 2 * k.p - k.k) / k.s + 1;
    std::string pw = b.node("Conv", {d, b.constant(random_tensor({k.n, k.c, 1, 1}, seed++)), b.constant(random_tensor({k.n}, seed++))});
    std::string res;
    if (k.res == 0 || k.res == 1) {  // from the input, pooled to the output's size where the stride is 2
      ASSERT_EQ(2 * k.p + 1, k.k) << "a residual from the input needs the depthwise's 'same' padding";
      std::string src = k.s == 1 ? x : b.node("AveragePool", {x}, {{"kernel_shape", attr_ints({1, 1})}, {"strides", attr_ints({k.s, k.s})}});
      const int64_t cr = k.res == 0 ? k.n : std::min(k.c, k.n - 1);
      res = b.node("Conv", {src, b.constant(random_tensor({cr, k.c, 1, 1}, seed++))});
      if (k.res == 1) res = b.node("Concat", {res, b.node("ConstantOfShape", {b.constant(Tensor::from_i64({4}, {2, k.n - cr, oh, ow}))})}, {{"axis", attr_i(1)}});
    } else if (k.res == 2) {
      res = b.constant(random_tensor({1, k.n, 1, 1}, seed++));
    } else {
      res = b.node("Conv", {d, b.constant(random_tensor({k.n, k.c, 1, 1}, seed++))});
    }
    b.output(b.node("Relu", {b.node("Add", {pw, res})}));
    Model conv = b.m;
    optimize_for_native(conv.graph);
    const LayoutStats st = convert_to_nhwc(conv.graph);
    const std::string what = "c " + std::to_string(k.c) + " n " + std::to_string(k.n) + " " + std::to_string(k.h) + "x" + std::to_string(k.w) + " k " +
                             std::to_string(k.k) + " s " + std::to_string(k.s) + " p " + std::to_string(k.p) + " act " + std::to_string(k.dw_act) +
                             " res " + std::to_string(k.res);
    if (k.res == 3) {
      EXPECT_EQ(st.dw_pointwise, 0) << what << ": " << to_string(st);
    }
    fused_total += st.dw_pointwise;
    // identity k.c, depthwise k*k, pointwise k.c, the residual's conv k.c, bias and residual 2
    const Tensor xin = random_tensor(xs, seed++);
    for (const char* kernel : {"ec-dw-pw", "xnnpack-dw"}) {
      ForceKernel force(kernel);
      expect_same(b.m, {xin}, 3 * k.c + k.k * k.k + 2, std::string(kernel) + " " + what);
    }
  }
  EXPECT_GE(fused_total, 6);
}

TEST_F(Xnnpack, GraphsWithoutConvolutionsAreLeftAlone) {
  GraphBuilder b;
  b.output(b.node("Relu", {b.node("Add", {b.input("x", {1, 3, 4, 4}), b.input("y", {1, 3, 4, 4})})}));
  Model m = b.m;
  LayoutStats st = convert_to_nhwc(m.graph);
  EXPECT_EQ(st.nhwc_nodes, 0);
  EXPECT_EQ(m.graph.nodes.size(), 2u);
}

TEST_F(Xnnpack, BlazeFaceMatchesReferenceKernels) {
  for (const char* name : {"blazeface128.onnx", "blazeface256.onnx"}) {
    const std::string path = models_dir() + "/" + name;
    Model m = load_onnx(path);
    const Shape s = m.graph.inputs[0].shape_or(1);
    Tensor x = random_tensor(s, 5);
    auto fast = run_model(m, {x}, "native", 2, true, true);
    auto ref = run_model(m, {x}, "native", 2, true, false);
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_LT(diff_over_range(ref[i], fast[i]), 1e-5) << name << " output " << i;
  }
}

namespace {

// QDQ graph pieces as the quantizer writes them: per-tensor int8 activations, per-channel int8 weights.
struct QdqBuilder : GraphBuilder {
  // Q -> DQ of float value `v` with scale s and zero point z; returns the DQ output.
  std::string qdq(const std::string& v, float s, int8_t z) {
    Tensor zt(DType::i8, {});
    zt.ptr<int8_t>()[0] = z;
    std::string sc = constant(Tensor::from_f32({}, {s})), zp = constant(zt);
    return node("DequantizeLinear", {node("QuantizeLinear", {v, sc, zp}), sc, zp});
  }
  // DequantizeLinear of symmetric per-output-channel int8 weights drawn at random.
  std::string qweight(const Shape& s, uint32_t seed) {
    Tensor q(DType::i8, s);
    std::mt19937 rng(seed);
    for (int64_t i = 0; i < q.numel(); ++i) q.ptr<int8_t>()[i] = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    std::vector<float> sc(static_cast<size_t>(s[0]));
    for (auto& v : sc) v = 0.002f + 0.004f * static_cast<float>(rng() % 100) / 100.f;
    Node& n = m.graph.nodes.emplace_back();
    n.op_type = "DequantizeLinear";
    n.inputs = {constant(q), constant(Tensor::from_f32({s[0]}, sc))};
    n.outputs = {"v" + std::to_string(next++)};
    n.name = "DQw_" + n.outputs[0];
    n.attrs["axis"] = attr_i(0);
    return n.outputs[0];
  }
};

// Largest |difference| in units of `scale` (one quantization step of the compared output).
double diff_in_steps(const Tensor& a, const Tensor& b, float scale) { return max_abs_diff(a, b) / scale; }

int count_domain(const Graph& g, const std::string& op) { return count_op(g, op, kEcDomain); }

}  // namespace

// An int8 convolution's pre-activation output -> a non-linear activation -> QuantizeLinear becomes a QLut (one
// lookup table; the convolution then runs in int8): SiLU, HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyRelu and
// a chain of arithmetic with constants and a Clip. The graph also outputs the pre-activation values, so each
// output can be checked against QDQ semantics computed here in double: quantize(f(dequantize(q))), which the
// table reproduces exactly. A region with a non-elementwise op (GlobalAveragePool) or an intermediate graph
// output stays as it was. XNNPACK and reference kernels, 1 and 2 threads.
TEST_F(Xnnpack, Int8ActivationsBecomeLookupTablesWithQdqResults) {
  struct Case {
    const char* name;
    std::function<std::string(QdqBuilder&, const std::string&)> build;
    std::function<double(double)> f;
    bool fused;
  };
  auto c = [](QdqBuilder& b, float v) { return b.constant(Tensor::from_f32({}, {v})); };
  const std::vector<Case> cases = {
      {"SiLU", [](QdqBuilder& b, const std::string& x) { return b.node("Mul", {x, b.node("Sigmoid", {x})}); },
       [](double v) { return v / (1 + std::exp(-v)); }, true},
      {"HardSwish", [](QdqBuilder& b, const std::string& x) { return b.node("HardSwish", {x}); },
       [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); }, true},
      {"HardSigmoid", [](QdqBuilder& b, const std::string& x) { return b.node("HardSigmoid", {x}, {{"alpha", attr_f(0.25f)}, {"beta", attr_f(0.4f)}}); },
       [](double v) { return std::clamp(0.25 * v + static_cast<double>(0.4f), 0.0, 1.0); }, true},  // attributes are float
      {"Sigmoid", [](QdqBuilder& b, const std::string& x) { return b.node("Sigmoid", {x}); }, [](double v) { return 1 / (1 + std::exp(-v)); }, true},
      {"Tanh", [](QdqBuilder& b, const std::string& x) { return b.node("Tanh", {x}); }, [](double v) { return std::tanh(v); }, true},
      {"LeakyRelu", [](QdqBuilder& b, const std::string& x) { return b.node("LeakyRelu", {x}, {{"alpha", attr_f(0.1f)}}); },
       [](double v) { return v >= 0 ? v : 0.1 * v; }, true},
      {"arithmetic+Clip",
       [c](QdqBuilder& b, const std::string& x) {
         return b.node("Clip", {b.node("Add", {b.node("Mul", {x, c(b, 0.5f)}), c(b, 1.f)}), c(b, 0.f), c(b, 1.5f)});
       },
       [](double v) { return std::clamp(v * 0.5 + 1.0, 0.0, 1.5); }, true},
      {"GlobalAveragePool (not elementwise)", [](QdqBuilder& b, const std::string& x) { return b.node("Sigmoid", {b.node("GlobalAveragePool", {x})}); },
       nullptr, false},
  };
  const float xs = 0.02f, ps = 0.05f, ys = 0.011f;
  const int8_t pz = -2, yz = -100;
  int i = 0;
  for (const Case& k : cases) {
    QdqBuilder b;
    std::string x = b.qdq(b.input("x", {1, 8, 9, 11}), xs, 3);
    std::string conv = b.node("Conv", {x, b.qweight({16, 8, 3, 3}, 1700 + i), b.constant(random_tensor({16}, 1750 + i, -0.3f, 0.3f))},
                              {{"pads", attr_ints({1, 1, 1, 1})}});
    std::string pre = b.qdq(conv, ps, pz);
    std::string y = b.qdq(k.build(b, pre), ys, yz);
    b.output(pre);
    b.output(y);
    Model g = b.m;
    optimize_for_native(g.graph);
    EXPECT_EQ(count_domain(g.graph, "QLut"), k.fused ? 1 : 0) << k.name;
    convert_to_nhwc(g.graph);
    EXPECT_EQ(count_domain(g.graph, "QConv"), 1) << k.name;
    Tensor in0 = random_tensor({1, 8, 9, 11}, 1800 + i, -2.f, 2.f);
    for (bool xnn : {true, false})
      for (int threads : {1, 2}) {
        auto out = run_model(b.m, {in0}, "native", threads, true, xnn);
        ASSERT_EQ(out.size(), 2u);
        if (!k.f) continue;
        int64_t off = 0;
        for (int64_t e = 0; e < out[0].numel(); ++e) {
          const double q = std::nearbyint(out[0].ptr<float>()[e] / ps) + pz;  // the pre-activation int8 value
          const double v = (q - pz) * static_cast<double>(ps);
          const double r = std::clamp(std::nearbyint(k.f(v) / static_cast<double>(ys)) + yz, -128.0, 127.0);
          const float expect = static_cast<float>((r - yz) * static_cast<double>(ys));
          off += out[1].ptr<float>()[e] != static_cast<float>(static_cast<float>(r - yz) * ys) && out[1].ptr<float>()[e] != expect;
        }
        EXPECT_EQ(off, 0) << k.name << " xnnpack " << xnn << " threads " << threads;
      }
    ++i;
  }
  // an intermediate value that is also a graph output keeps the region in float
  QdqBuilder b;
  std::string pre = b.qdq(b.input("x", {1, 8, 4, 4}), ps, pz);
  std::string sg = b.node("Sigmoid", {pre});
  b.output(b.qdq(b.node("Mul", {pre, sg}), ys, yz));
  b.output(sg);
  Model g = b.m;
  optimize_for_native(g.graph);
  EXPECT_EQ(count_domain(g.graph, "QLut"), 0);
}

// A Concat of int8 branches at three scales, quantized once after it (YOLOv8's C2f): the inputs at another scale
// get a requantizing table and the Concat runs on int8 NHWC data. Every output value must be what the QDQ
// operators give in float from the branches' dequantized values (bit-exact), on XNNPACK and the reference, 1 and 2
// threads.
TEST_F(Xnnpack, Int8ConcatRequantizesItsInputsAsQdqDoes) {
  QdqBuilder b;
  std::string x = b.qdq(b.input("x", {1, 8, 9, 11}), 0.02f, 3);
  auto conv = [&](int64_t m, int seed) {
    return b.node("Conv", {x, b.qweight({m, 8, 3, 3}, seed), b.constant(random_tensor({m}, seed + 50, -0.3f, 0.3f))}, {{"pads", attr_ints({1, 1, 1, 1})}});
  };
  const float sa = 0.05f, sb = 0.013f, ys = 0.04f;
  const int8_t za = -2, zb = 5, yz = -10;
  std::string a = b.qdq(conv(16, 2100), sa, za), bb = b.qdq(conv(8, 2200), sb, zb), c = b.qdq(conv(4, 2300), ys, yz);
  std::string y = b.qdq(b.node("Concat", {a, bb, c}, {{"axis", attr_i(1)}}), ys, yz);
  b.output(a);
  b.output(bb);
  b.output(c);
  b.output(y);
  Model g = b.m;
  optimize_for_native(g.graph);
  EXPECT_EQ(count_domain(g.graph, "QLut"), 2);  // a and b requantized, c already at the output's scale
  EXPECT_EQ(convert_to_nhwc(g.graph).int8_concats, 1);
  Tensor in0 = random_tensor({1, 8, 9, 11}, 2400, -2.f, 2.f);
  for (bool xnn : {true, false})
    for (int threads : {1, 2}) {
      auto out = run_model(b.m, {in0}, "native", threads, true, xnn);
      ASSERT_EQ(out.size(), 4u);
      ASSERT_EQ(shape_str(out[3].shape()), "[1,28,9,11]");
      int64_t off = 0;
      for (int64_t ch = 0; ch < 28; ++ch)
        for (int64_t p = 0; p < 99; ++p) {
          const Tensor& src = ch < 16 ? out[0] : ch < 24 ? out[1] : out[2];
          const int64_t sc = ch < 16 ? ch : ch < 24 ? ch - 16 : ch - 24;
          const float v = src.ptr<float>()[sc * 99 + p];  // the branch's dequantized value
          const float r = std::clamp(std::nearbyint(v / ys) + static_cast<float>(yz), -128.f, 127.f);  // QuantizeLinear
          off += out[3].ptr<float>()[ch * 99 + p] != (r - static_cast<float>(yz)) * ys;                  // DequantizeLinear
        }
      EXPECT_EQ(off, 0) << "xnnpack " << xnn << " threads " << threads;
    }
}

// A Split of int8 data whose halves are quantized again at the input's scale (C2f) runs on the int8 data: each
// output equals its channels of the input's dequantized values exactly; with one half at another scale the Split
// stays float and that half is requantized as the QDQ operators do.
TEST_F(Xnnpack, Int8SplitRunsOnInt8DataAtTheInputsScale) {
  for (bool same : {true, false}) {
    QdqBuilder b;
    std::string x = b.qdq(b.input("x", {1, 8, 9, 11}), 0.02f, 3);
    std::string c = b.node("Conv", {x, b.qweight({12, 8, 3, 3}, 2500), b.constant(random_tensor({12}, 2550, -0.3f, 0.3f))}, {{"pads", attr_ints({1, 1, 1, 1})}});
    const float s = 0.05f, s1 = same ? s : 0.03f;
    const int8_t z = -4;
    std::string cq = b.qdq(c, s, z);
    Node sp{"split", "Split", "", {cq, b.constant(Tensor::from_i64({2}, {4, 8}))}, {"h0", "h1"}, {{"axis", attr_i(1)}}};
    b.m.graph.nodes.push_back(sp);
    b.output(cq);
    b.output(b.qdq("h0", s, z));
    b.output(b.qdq("h1", s1, z));
    Model g = b.m;
    optimize_for_native(g.graph);
    EXPECT_EQ(convert_to_nhwc(g.graph).int8_splits, same ? 1 : 0);
    Tensor in0 = random_tensor({1, 8, 9, 11}, 2600, -2.f, 2.f);
    for (bool xnn : {true, false})
      for (int threads : {1, 2}) {
        auto out = run_model(b.m, {in0}, "native", threads, true, xnn);
        ASSERT_EQ(out.size(), 3u);
        int64_t off = 0;
        for (int64_t ch = 0; ch < 12; ++ch)
          for (int64_t p = 0; p < 99; ++p) {
            const float v = out[0].ptr<float>()[ch * 99 + p];
            const float sc = ch < 4 ? s : s1;
            const float r = std::clamp(std::nearbyint(v / sc) + static_cast<float>(z), -128.f, 127.f);
            const float want = (r - static_cast<float>(z)) * sc;
            off += (ch < 4 ? out[1].ptr<float>()[ch * 99 + p] : out[2].ptr<float>()[(ch - 4) * 99 + p]) != want;
          }
        EXPECT_EQ(off, 0) << "same scale " << same << " xnnpack " << xnn << " threads " << threads;
      }
  }
}

// int8 Conv (depthwise, grouped, strided, padded, 1x1, with Relu/Clip) and Add, MaxPool and channel zero
// padding on int8 data against the reference: the same QDQ graph computed in float by the reference kernels.
// Integer accumulation and float rescaling may round a tie the other way: at most one step apart.
TEST_F(Xnnpack, Int8ConvolutionsMatchTheQdqReferenceWithinOneStep) {
  struct Case { int64_t c, h, w, m, k, s, p, group; const char* act; };
  const std::vector<Case> cases = {{8, 9, 11, 16, 3, 1, 1, 1, ""},   {24, 16, 16, 24, 3, 1, 1, 24, "Relu"}, {24, 17, 15, 24, 3, 2, 1, 24, ""},
                                   {16, 8, 8, 32, 1, 1, 0, 1, "Relu"}, {12, 10, 10, 12, 5, 2, 2, 4, ""},  {32, 7, 7, 8, 1, 1, 0, 1, "Clip"},
                                   {24, 64, 64, 24, 1, 1, 0, 1, ""}, {24, 64, 64, 24, 3, 1, 1, 24, ""},
                                   // 1x1 with channel counts off the GEMM kernel's blocks (k % 4, n % 16, > 6 blocks)
                                   {13, 9, 9, 21, 1, 1, 0, 1, "Relu"}, {40, 5, 7, 100, 1, 1, 0, 1, ""},
                                   {3, 12, 12, 8, 3, 2, 1, 1, "Relu"},  // 3 input channels: float, or patches on VNNI
                                   {3, 17, 15, 24, 5, 2, 2, 1, ""}};    // a BlazeFace-like 5x5 stride-2 stem
  int i = 0;
  for (const Case& k : cases) {
    QdqBuilder b;
    const float xs = 0.02f, ys = 0.05f;
    std::string x = b.qdq(b.input("x", {1, k.c, k.h, k.w}), xs, 3);
    std::map<std::string, Attribute> a = {{"strides", attr_ints({k.s, k.s})}, {"pads", attr_ints({k.p, k.p, k.p, k.p})}, {"group", attr_i(k.group)}};
    std::string y = b.node("Conv", {x, b.qweight({k.m, k.c / k.group, k.k, k.k}, 800 + i), b.constant(random_tensor({k.m}, 900 + i, -0.3f, 0.3f))}, a);
    if (std::string(k.act) == "Relu") y = b.node("Relu", {y});
    if (std::string(k.act) == "Clip") y = b.node("Clip", {y, b.constant(Tensor::from_f32({}, {-1.f})), b.constant(Tensor::from_f32({}, {2.f}))});
    b.output(b.qdq(y, ys, -5));
    Model conv = b.m;
    optimize_for_native(conv.graph);
    convert_to_nhwc(conv.graph);
    // few input channels per group stay float, unless the VNNI GEMM takes the stem as patches
    const bool int8 = k.c / k.group >= 8 || k.c == k.group || (k.group == 1 && qgemm_vnni_available());
    EXPECT_EQ(count_domain(conv.graph, "QConv"), int8 ? 1 : 0) << "case " << i;
    Tensor in0 = random_tensor({1, k.c, k.h, k.w}, 1000 + i, -2.f, 2.f);
    for (int threads : {1, 2}) {
      auto fast = run_model(b.m, {in0}, "native", threads, true, true);
      auto ref = run_model(b.m, {in0}, "native", threads, true, false);
      EXPECT_LE(diff_in_steps(ref[0], fast[0], ys), 1.0001) << "case " << i << " threads " << threads;
    }
    ++i;
  }
}

TEST_F(Xnnpack, Int8AddPoolAndChannelPaddingMatchTheQdqReference) {
  // a BlazeFace residual: y = Relu(conv(x) + pad_channels(maxpool(x))), all activations int8
  QdqBuilder b;
  const float s = 0.03f;
  std::string x = b.qdq(b.input("x", {1, 16, 12, 12}), s, 0);
  std::string conv = b.node("Conv", {x, b.qweight({24, 16, 3, 3}, 5), b.constant(random_tensor({24}, 6, -0.2f, 0.2f))},
                            {{"strides", attr_ints({2, 2})}, {"pads", attr_ints({0, 0, 1, 1})}});
  std::string cq = b.qdq(conv, 0.04f, 2);
  std::string mp = b.qdq(b.node("MaxPool", {x}, {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}}), s, 0);
  std::string zeros = b.node("ConstantOfShape", {b.constant(Tensor::from_i64({4}, {1, 8, 6, 6}))});
  std::string padded = b.qdq(b.node("Concat", {mp, zeros}, {{"axis", attr_i(1)}}), s, 0);
  std::string sum = b.node("Relu", {b.node("Add", {cq, padded})});
  b.output(b.qdq(sum, 0.05f, -10));
  // the same Add without padding, with the operands swapped, and unfused from any Relu
  b.output(b.qdq(b.node("Add", {padded, cq}), 0.06f, 7));
  Model conv_g = b.m;
  optimize_for_native(conv_g.graph);
  convert_to_nhwc(conv_g.graph);
  EXPECT_EQ(count_domain(conv_g.graph, "QAdd"), 2);
  EXPECT_EQ(count_domain(conv_g.graph, "MaxPool"), 1);
  Tensor in0 = random_tensor({1, 16, 12, 12}, 77, -3.f, 3.f);
  for (int threads : {1, 2}) {
    auto fast = run_model(b.m, {in0}, "native", threads, true, true);
    auto ref = run_model(b.m, {in0}, "native", threads, true, false);
    EXPECT_LE(diff_in_steps(ref[0], fast[0], 0.05f), 1.0001) << "threads " << threads;
    EXPECT_LE(diff_in_steps(ref[1], fast[1], 0.06f), 1.0001) << "threads " << threads;
  }
  // with the padded value read by the first Add only, that Add reads the unpadded int8 data directly
  b.m.graph.outputs.pop_back();
  b.m.graph.nodes.erase(b.m.graph.nodes.end() - 3, b.m.graph.nodes.end());  // the second Add and its Q/DQ
  Model single = b.m;
  optimize_for_native(single.graph);
  convert_to_nhwc(single.graph);
  int extended = 0;
  for (auto& n : single.graph.nodes) extended += n.op_type == "QAdd" && n.attr_i("zero_extend_b", 0) == 1;
  EXPECT_EQ(extended, 1);
  EXPECT_EQ(count_domain(single.graph, "Pad"), 0);
  for (int threads : {1, 2}) {
    auto fast = run_model(b.m, {in0}, "native", threads, true, true);
    auto ref = run_model(b.m, {in0}, "native", threads, true, false);
    EXPECT_LE(diff_in_steps(ref[0], fast[0], 0.05f), 1.0001) << "unpadded, threads " << threads;
  }
}

// An int8 1x1 convolution whose output only an int8 Add reads runs as one QConvAdd on the VNNI GEMM (the
// Add in its epilogue): residuals of the full width and channel-padded ones (read unpadded), either
// operand order, with and without Relu, channel counts off the kernel's blocks; within one quantization
// step of the QDQ reference. Where the convolution's output is read twice, nothing is fused.
TEST_F(Xnnpack, Int8PointwiseConvWithResidualAddMatchesTheQdqReference) {
  if (!qgemm_vnni_available()) GTEST_SKIP() << "no VNNI GEMM on this CPU (or EC_NO_VNNI set): QConvAdd is not made";
  int i = 0;
  for (int64_t c : {8, 24, 40})
    for (int64_t m : {16, 24, 36, 96})
      for (int kind = 0; kind < 4; ++kind) {
        QdqBuilder b;
        const float s = 0.03f;
        std::string x = b.qdq(b.input("x", {1, c, 9, 11}), s, 20);  // a zero point far from 0: padded channels hold it
        std::string pw = b.qdq(b.node("Conv", {x, b.qweight({m, c, 1, 1}, 300 + i), b.constant(random_tensor({m}, 400 + i, -0.2f, 0.2f))}), 0.04f, 3);
        std::string res;
        if (kind == 1) {  // channel-padded: the input's first channels, zeros after (m > c or the pad is negative: skip)
          if (m <= c) continue;
          std::string zeros = b.node("ConstantOfShape", {b.constant(Tensor::from_i64({4}, {1, m - c, 9, 11}))});
          res = b.qdq(b.node("Concat", {x, zeros}, {{"axis", attr_i(1)}}), s, 20);
        } else {
          res = b.qdq(b.node("Conv", {x, b.qweight({m, c, 3, 3}, 500 + i)}, {{"pads", attr_ints({1, 1, 1, 1})}}), 0.05f, -2);
        }
        std::string sum = kind == 2 ? b.node("Add", {res, pw}) : b.node("Add", {pw, res});
        if (kind != 3) sum = b.node("Relu", {sum});
        b.output(b.qdq(sum, 0.06f, -4));
        if (kind == 3) b.output(pw);  // read twice: not fused
        Model g = b.m;
        optimize_for_native(g.graph);
        const LayoutStats st = convert_to_nhwc(g.graph);
        EXPECT_EQ(count_domain(g.graph, "QConvAdd"), kind == 3 ? 0 : 1) << "c " << c << " m " << m << " kind " << kind << ": " << to_string(st);
        Tensor in0 = random_tensor({1, c, 9, 11}, 600 + i, -2.f, 2.f);
        for (int threads : {1, 2}) {
          auto fast = run_model(b.m, {in0}, "native", threads, true, true);
          auto ref = run_model(b.m, {in0}, "native", threads, true, false);
          EXPECT_LE(diff_in_steps(ref[0], fast[0], 0.06f), 1.0001) << "c " << c << " m " << m << " kind " << kind << " threads " << threads;
        }
        ++i;
      }
}

// An int8 1x1 convolution whose output is read as float (no QuantizeLinear after it: detection heads) runs as
// one QConvF32 on the VNNI GEMM, with its activation applied in float, and matches the float convolution of the
// dequantized input and weights within the float sums' worst-case rounding (k products of at most |x| |w|; the
// bias is added in float, as the graph adds it: CompressCli.BlazeFaceInt8PtqFidelitySizeAndOnnxRuntime holds the
// whole model to ONNX Runtime within 1e-3 of each output's range, which a bias rounded to int32 did not). Channel
// counts of one block, two, several, a partial quad (42). A 3x3 convolution or a strided 1x1 stays a float
// convolution. Without VNNI (or EC_NO_VNNI) nothing is made.
TEST_F(Xnnpack, Int8PointwiseConvWithFloatOutputMatchesTheDequantizedFloatConv) {
  struct Case {
    int64_t c, m, k, stride;
    const char* act;
  };
  const Case cases[] = {{40, 63, 1, 1, ""}, {128, 12, 1, 1, ""}, {24, 24, 1, 1, "Relu"}, {16, 5, 1, 1, "Sigmoid"}, {16, 8, 3, 1, ""}, {16, 8, 1, 2, ""}, {42, 88, 1, 1, ""}, {88, 96, 1, 1, "Relu"}, {96, 32, 1, 1, ""}, {24, 28, 1, 1, ""}};
  int i = 0;
  for (const Case& k : cases) {
    QdqBuilder b;
    const float xs = 0.03f;
    const Shape shape{1, k.c, 16, 20};
    std::string x = b.qdq(b.input("x", shape), xs, 20);
    const int64_t pad = k.k / 2;
    std::string y = b.node("Conv", {x, b.qweight({k.m, k.c, k.k, k.k}, 700 + i), b.constant(random_tensor({k.m}, 720 + i, -0.5f, 0.5f))},
                           {{"pads", attr_ints({pad, pad, pad, pad})}, {"strides", attr_ints({k.stride, k.stride})}});
    if (std::string(k.act) == "Relu") y = b.node("Relu", {y});
    if (std::string(k.act) == "Sigmoid") y = b.node("Sigmoid", {y});
    b.output(y);
    Model g = b.m;
    optimize_for_native(g.graph);
    const LayoutStats st = convert_to_nhwc(g.graph);
    const bool made = qgemm_vnni_available() && k.k == 1 && k.stride == 1;
    EXPECT_EQ(count_domain(g.graph, "QConvF32"), made ? 1 : 0) << "case " << i << ": " << to_string(st);
    EXPECT_EQ(st.int8_float_out, made ? 1 : 0) << "case " << i;
    const Tensor in = random_tensor(shape, 740 + i, -2.f, 2.f);
    const auto ref = run_model(b.m, {in}, "native", 1, true, false);
    // |x| <= 128 xs (int8), |w| <= 127 * 0.006 (QdqBuilder::qweight); k * c products
    const double terms = static_cast<double>(k.c * k.k * k.k), bound = 128 * xs * 127 * 0.006;
    const double tol = 2 * terms * std::numeric_limits<float>::epsilon() * terms * bound;
    for (int threads : {1, 2}) {
      const auto fast = run_model(b.m, {in}, "native", threads, true, true);
      EXPECT_LE(max_abs_diff(ref[0], fast[0]), tol) << "case " << i << " threads " << threads;
      if (std::string(k.act) == "Sigmoid") {
        for (int64_t j = 0; j < fast[0].numel(); ++j) ASSERT_TRUE(fast[0].ptr<float>()[j] > 0.f && fast[0].ptr<float>()[j] < 1.f) << j;
      }
      if (std::string(k.act) == "Relu") {
        for (int64_t j = 0; j < fast[0].numel(); ++j) ASSERT_GE(fast[0].ptr<float>()[j], 0.f) << j;
      }
    }
    ++i;
  }
}

// The int8 depthwise kernel on VNNI ("vnni-depthwise", qgemm.h), forced by the kernel choice, against the
// QDQ reference within one output step and bit-equal to XNNPACK's int8 depthwise convolution forced the same
// way (both requantize in float and round half to even): 3x3 and 5x5 windows (the unrolled forms), 7x7 and
// 1x3 (the general one), strides 1 and 2, padding on all sides or one, rows shorter than a tile, last channel
// blocks of at most 8 channels (taken two pixels at a time), channel
// counts of one 16-channel block, a partial one, and many, reached through each of the three ways quads are
// built (c = 16, c % 4 == 0 and small, the rest), a zero point far from 0 (padding holds it), fused Relu
// and Clip, a batch of 2, 1 and 2 threads.
TEST_F(Xnnpack, Int8DepthwiseOnVnniMatchesXnnpackAndTheQdqReference) {
  if (!qgemm_vnni_available()) GTEST_SKIP() << "no VNNI on this CPU (or EC_NO_VNNI set): the kernel is not offered";
  struct Case { int64_t n, c, h, w, kh, kw, s, pt, pl, pb, pr; const char* act; };
  const std::vector<Case> cases = {
      {1, 24, 16, 16, 3, 3, 1, 1, 1, 1, 1, ""},     {1, 24, 17, 15, 3, 3, 2, 1, 1, 1, 1, "Relu"}, {1, 240, 14, 14, 5, 5, 1, 2, 2, 2, 2, ""},
      {2, 96, 15, 13, 5, 5, 2, 2, 2, 2, 2, "Clip"}, {1, 16, 9, 9, 3, 3, 1, 1, 1, 1, 1, ""},      {1, 8, 5, 7, 3, 3, 1, 1, 1, 1, 1, "Relu"},
      {1, 40, 6, 6, 5, 5, 2, 2, 2, 2, 2, ""},       {1, 32, 12, 12, 3, 3, 2, 0, 0, 1, 1, ""},     {1, 20, 11, 30, 7, 7, 1, 3, 3, 3, 3, ""},
      {1, 6, 8, 9, 1, 3, 1, 0, 1, 0, 1, "Relu"},    {1, 100, 10, 19, 3, 3, 1, 1, 1, 1, 1, ""},    {1, 36, 30, 29, 3, 3, 1, 1, 1, 1, 1, "Clip"},
      // last blocks of at most 8 channels, two pixels per multiply-add: rows 1, 2 and 3 pixels wide, odd rows
      // longer than a tile, a 5x5 window
      {1, 8, 4, 1, 3, 3, 1, 1, 1, 1, 1, ""},        {1, 24, 6, 2, 5, 5, 1, 2, 2, 2, 2, ""},       {1, 24, 9, 5, 3, 3, 2, 1, 1, 1, 1, "Relu"},
      {1, 56, 7, 27, 5, 5, 1, 2, 2, 2, 2, "Relu"},  {1, 24, 5, 31, 3, 3, 1, 1, 1, 1, 1, ""}};
  int i = 0;
  for (const Case& k : cases) {
    QdqBuilder b;
    const float ys = 0.05f;
    const Shape xs{k.n, k.c, k.h, k.w};
    std::string x = b.qdq(b.input("x", xs), 0.02f, 37);
    std::map<std::string, Attribute> a = {{"strides", attr_ints({k.s, k.s})}, {"pads", attr_ints({k.pt, k.pl, k.pb, k.pr})}, {"group", attr_i(k.c)}};
    std::string y = b.node("Conv", {x, b.qweight({k.c, 1, k.kh, k.kw}, 2500 + i), b.constant(random_tensor({k.c}, 2550 + i, -0.3f, 0.3f))}, a);
    const std::string act = k.act;
    if (act == "Relu") y = b.node("Relu", {y});
    if (act == "Clip") y = b.node("Clip", {y, b.constant(Tensor::from_f32({}, {-1.f})), b.constant(Tensor::from_f32({}, {2.f}))});
    b.output(b.qdq(y, ys, -5));
    const Tensor in = random_tensor(xs, 2600 + i, -2.f, 2.f);
    const auto ref = run_model(b.m, {in}, "native", 1, true, false);
    for (int threads : {1, 2}) {
      std::vector<Tensor> outs;
      for (const char* pick : {"vnni-depthwise", "xnnpack"}) {
        auto [y, got] = run_forced(b.m, in, pick, threads);
        EXPECT_EQ(got, pick) << "case " << i;
        EXPECT_LE(diff_in_steps(ref[0], y, ys), 1.0001) << "case " << i << " " << pick << " threads " << threads;
        outs.push_back(std::move(y));
      }
      EXPECT_EQ(max_abs_diff(outs[0], outs[1]), 0.0) << "case " << i << " threads " << threads << ": VNNI and XNNPACK differ";
    }
    ++i;
  }
}

// A Gemm (transB = 1) whose weights are DequantizeLinear of int8 values (a classifier after int8-full) becomes
// one WGemm that keeps them int8: none of the weights is folded to float. Its outputs match the Gemm on the
// folded float weights within float rounding, scaled by each output's sum of |x * w| and the length K of the
// dot product: one row and several, K a multiple of the kernel's 32 and not, with and without C, alpha, beta,
// a fused Relu, 1 and 2 threads (the 1000-row case is large enough to split over them).
TEST_F(Xnnpack, Int8WeightGemmKeepsItsWeightsInt8AndMatchesTheFloatGemm) {
  struct Case { int64_t m, k, n; bool c, relu; float alpha, beta; };
  const std::vector<Case> cases = {{1, 1280, 1000, true, false, 1.f, 1.f}, {3, 77, 45, false, true, 1.f, 1.f}, {2, 300, 130, true, false, 0.5f, 2.f}};
  int i = 0;
  for (const Case& k : cases) {
    QdqBuilder b;
    std::string x = b.input("x", {k.m, k.k});
    std::string w = b.qweight({k.n, k.k}, 3100 + i);
    std::vector<std::string> ins = {x, w};
    if (k.c) ins.push_back(b.constant(random_tensor({k.n}, 3150 + i)));
    std::string y = b.node("Gemm", ins, {{"transB", attr_i(1)}, {"alpha", attr_f(k.alpha)}, {"beta", attr_f(k.beta)}});
    if (k.relu) y = b.node("Relu", {y});
    b.output(y);
    Model g = b.m;
    optimize_for_native(g.graph);
    EXPECT_EQ(count_domain(g.graph, "WGemm"), 1) << "case " << i;
    EXPECT_EQ(count_op(g.graph, "DequantizeLinear", ""), 0) << "case " << i << ": the weights were dequantized";
    // |x| . |w| per output, from the int8 weights and scales of the model
    const Node& dq = b.m.graph.nodes[0];
    ASSERT_EQ(dq.op_type, "DequantizeLinear");
    const Tensor& q = b.m.graph.initializers.at(dq.inputs[0]);
    const Tensor& sc = b.m.graph.initializers.at(dq.inputs[1]);
    const Tensor in = random_tensor({k.m, k.k}, 3200 + i, -3.f, 3.f);
    const auto ref = run_model(b.m, {in}, "native", 1, false, false);
    for (int threads : {1, 2}) {
      const auto got = run_model(b.m, {in}, "native", threads, true, true);
      ASSERT_EQ(shape_str(got[0].shape()), shape_str(ref[0].shape()));
      int64_t bad = 0;
      for (int64_t r = 0; r < k.m; ++r)
        for (int64_t j = 0; j < k.n; ++j) {
          double mag = 0;
          for (int64_t t = 0; t < k.k; ++t)
            mag += std::fabs(in.ptr<float>()[r * k.k + t] * q.ptr<int8_t>()[j * k.k + t] * sc.ptr<float>()[j]);
          const double tol = 2.0 * static_cast<double>(k.k) * std::ldexp(1.0, -24) * std::max(1.f, std::fabs(k.alpha)) * mag + 1e-30;
          bad += std::fabs(got[0].ptr<float>()[r * k.n + j] - ref[0].ptr<float>()[r * k.n + j]) > tol;
        }
      EXPECT_EQ(bad, 0) << "case " << i << " threads " << threads;
    }
    ++i;
  }
}

// The int8 dense convolution read in place from padded input rows ("vnni-direct", qgemm.h), forced by the kernel
// choice, against the QDQ reference within one output step and bit-equal to the same layer on im2col patches
// ("vnni-im2col": the same sums and requantization): stems (c = 3, 3x3 stride 2 and 7x7 stride 2), 3x3, 5x5,
// 1x3 and 3x1 windows, strides 1 and 2, padding on all sides, on one side or none, rows shorter than a tile,
// output channels in one block, two, a partial one and more than six (the wide tiles), a zero point far from 0
// (padding holds it), fused Relu and Clip, a batch of 2, 1 and 2 threads.
TEST_F(Xnnpack, Int8DenseConvReadInPlaceOnVnniMatchesIm2colAndTheQdqReference) {
  if (!qgemm_vnni_available()) GTEST_SKIP() << "no VNNI on this CPU (or EC_NO_VNNI set): the kernel is not offered";
  struct Case { int64_t n, c, m, h, w, kh, kw, s, pt, pl, pb, pr; const char* act; };
  const std::vector<Case> cases = {
      {1, 3, 16, 33, 31, 3, 3, 2, 1, 1, 1, 1, "Relu"}, {2, 3, 24, 20, 22, 7, 7, 2, 3, 3, 3, 3, ""},   {1, 16, 32, 12, 13, 3, 3, 1, 1, 1, 1, 1, "Clip"},
      {1, 24, 36, 9, 10, 5, 5, 1, 2, 2, 2, 2, ""},      {1, 8, 100, 7, 9, 3, 3, 2, 0, 0, 1, 1, "Relu"}, {1, 40, 16, 6, 5, 1, 3, 1, 0, 1, 0, 1, ""},
      {1, 12, 20, 8, 6, 3, 1, 1, 1, 0, 1, 0, ""},      {1, 5, 7, 4, 3, 3, 3, 1, 0, 0, 0, 0, "Relu"},  {1, 64, 120, 10, 10, 3, 3, 2, 1, 1, 1, 1, ""}};
  int i = 0;
  for (const Case& k : cases) {
    QdqBuilder b;
    const float ys = 0.08f;
    const Shape xs{k.n, k.c, k.h, k.w};
    std::string x = b.qdq(b.input("x", xs), 0.02f, 37);
    std::map<std::string, Attribute> a = {{"strides", attr_ints({k.s, k.s})}, {"pads", attr_ints({k.pt, k.pl, k.pb, k.pr})}};
    std::string y = b.node("Conv", {x, b.qweight({k.m, k.c, k.kh, k.kw}, 2700 + i), b.constant(random_tensor({k.m}, 2750 + i, -0.3f, 0.3f))}, a);
    const std::string act = k.act;
    if (act == "Relu") y = b.node("Relu", {y});
    if (act == "Clip") y = b.node("Clip", {y, b.constant(Tensor::from_f32({}, {-1.f})), b.constant(Tensor::from_f32({}, {2.f}))});
    b.output(b.qdq(y, ys, -5));
    const Tensor in = random_tensor(xs, 2800 + i, -2.f, 2.f);
    const auto ref = run_model(b.m, {in}, "native", 1, true, false);
    for (int threads : {1, 2}) {
      std::vector<Tensor> outs;
      for (const char* pick : {"vnni-direct", "vnni-im2col"}) {
        auto [y, got] = run_forced(b.m, in, pick, threads);
        EXPECT_EQ(got, pick) << "case " << i;
        EXPECT_LE(diff_in_steps(ref[0], y, ys), 1.0001) << "case " << i << " " << pick << " threads " << threads;
        outs.push_back(std::move(y));
      }
      EXPECT_EQ(max_abs_diff(outs[0], outs[1]), 0.0) << "case " << i << " threads " << threads << ": read in place and im2col differ";
    }
    ++i;
  }
}

// Nearest-neighbour Resize runs on NHWC data with its scales or sizes permuted (no Transposes around it);
// linear Resize goes back to NCHW. Exact against the reference kernels.
// Nearest and linear Resize run on NHWC data (only the graph's input and output are transposed): nearest
// bit-equal to the reference, linear within the rounding of its three blends. The last two nearest cases are
// large enough (16 Ki outputs) to run in blocks of rows on the threads: 2x (each odd row a copy of the row
// before) and sizes 1.5x / 2.6x over a batch of 2. Linear runs both its row kernels, the AVX-512 one (16
// channels a register, the last step masked) where the CPU has it and the portable loop, also on the
// segmentation head's shapes (12 and 48 channels, 2x: 32 Ki outputs and more, in rows on the threads).
TEST_F(Xnnpack, ResizeRunsInNhwc) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f") && !resize_avx512_available()) ADD_FAILURE() << "the CPU has AVX-512 F but bilinear Resize does not use its kernel";
#endif
  struct Case { const char* mode; std::vector<float> scales; std::vector<int64_t> sizes; const char* coord; const char* nearest; Shape xs = {2, 6, 7, 5}; };
  const std::vector<Case> cases = {{"nearest", {1, 1, 2, 2}, {}, "asymmetric", "floor"},
                                   {"nearest", {}, {2, 6, 11, 4}, "half_pixel", "round_prefer_floor"},
                                   {"nearest", {1, 1, 0.5f, 1.5f}, {}, "align_corners", "ceil"},
                                   {"linear", {1, 1, 2, 2}, {}, "half_pixel", "round_prefer_floor"},
                                   {"linear", {}, {2, 6, 11, 4}, "align_corners", "round_prefer_floor"},
                                   {"linear", {1, 1, 0.5f, 1.5f}, {}, "asymmetric", "round_prefer_floor"},
                                   {"linear", {1, 1, 4, 1}, {}, "pytorch_half_pixel", "round_prefer_floor"},
                                   {"nearest", {1, 1, 2, 2}, {}, "asymmetric", "floor", {1, 24, 20, 17}},
                                   {"nearest", {}, {2, 24, 30, 44}, "half_pixel", "round_prefer_floor", {2, 24, 20, 17}},
                                   {"linear", {1, 1, 2, 2}, {}, "half_pixel", "round_prefer_floor", {1, 12, 32, 40}},
                                   {"linear", {1, 1, 2, 2}, {}, "half_pixel", "round_prefer_floor", {1, 48, 16, 23}}};
  int i = 0;
  for (const Case& k : cases) {
    GraphBuilder b;
    const Shape xs = k.xs;
    std::string x = b.identity_conv(b.input("x", xs), xs[1]);
    std::map<std::string, Attribute> a = {{"mode", attr_s(k.mode)}, {"coordinate_transformation_mode", attr_s(k.coord)}, {"nearest_mode", attr_s(k.nearest)}};
    std::string scales = k.scales.empty() ? "" : b.constant(Tensor::from_f32({4}, k.scales));
    std::string sizes = k.sizes.empty() ? "" : b.constant(Tensor::from_i64({4}, k.sizes));
    std::vector<std::string> ins = {x, "", scales};
    if (!sizes.empty()) ins.push_back(sizes);
    std::string y = b.node("Resize", ins, a);
    b.output(b.identity_conv(y, xs[1]));
    Model g = b.m;
    optimize_for_native(g.graph);
    const LayoutStats st = convert_to_nhwc(g.graph);
    EXPECT_EQ(st.transposes, 1) << "case " << i << ": " << to_string(st);  // the graph's input only
    EXPECT_EQ(st.nchw_outputs, 1) << "case " << i << ": " << to_string(st);  // the last convolution writes NCHW
    const bool linear = std::string(k.mode) == "linear";
    for (bool vector : {true, false}) {
      set_resize_vector_kernel(vector);
      expect_same(b.m, {random_tensor(xs, 1300 + i)}, linear ? 4 : 0, std::string("resize case ") + std::to_string(i) + (vector ? "" : " (portable)"));
    }
    set_resize_vector_kernel(true);
    ++i;
  }
}

// YOLOv8's C2f splits channels: Split along axis 1 (and -3) runs on NHWC data, exactly.
TEST_F(Xnnpack, ChannelSplitRunsInNhwc) {
  for (int64_t axis : {1, -3}) {
    GraphBuilder b;
    const Shape xs{1, 6, 5, 7};
    std::string x = b.identity_conv(b.input("x", xs), 6);
    b.m.graph.nodes.push_back(Node{"split", "Split", "", {x, b.constant(Tensor::from_i64({2}, {2, 4}))}, {"s0", "s1"}, {{"axis", attr_i(axis)}}});
    b.output(b.identity_conv("s0", 2));
    b.output(b.identity_conv("s1", 4));
    Model g = b.m;
    optimize_for_native(g.graph);
    const LayoutStats st = convert_to_nhwc(g.graph);
    EXPECT_EQ(st.transposes, 1) << to_string(st);    // the input: the two outputs' convolutions write NCHW
    EXPECT_EQ(st.nchw_outputs, 2) << to_string(st);
    expect_same(b.m, {random_tensor(xs, 1600)}, 0, "split axis " + std::to_string(axis));
  }
}

// Dense 3x3 stride-1 float convolutions have Winograd kernels, F(2x2, 3x3) and, on maps of 128 or more output
// pixels, F(4x4, 3x3), each with its GEMMs on XNNPACK and, where our blocked GEMM runs (AVX-512 F, aarch64), on
// it ("ec-winograd-*": at 2 threads whole blocks per thread, or a range of the weight panels per thread when the
// output channels are many next to the tiles, case 8 at F(4,3)): forced on every such layer
// it matches the reference kernels over odd output sizes (edge tiles), padding or none, bias or none, fused
// Relu / Clip / SiLU, channels off the vector widths, a batch of 2 and more tiles than one block holds, at 1 and
// 2 threads (2 threads: each thread takes whole blocks of a map of 8 or more tiles per thread, one block or
// several, or, with 128 or more output channels, its share of the output channels of every block; smaller maps
// split each block's steps). The transforms add and halve values of the inputs' magnitude: the bound is
// that of a sum 4x longer. Both forms of the per-tile transforms are checked: the AVX-512 ones (16 channels a
// register, the last step masked: 13, 70, 21 and 9 channels leave tails) where the CPU has them, and the
// portable ones every CPU can run.
TEST_F(Xnnpack, WinogradConvolutionsMatchReference) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f") && std::string(winograd_transform_kernel()) != "avx512")
    ADD_FAILURE() << "the CPU has AVX-512 F but the Winograd transforms are " << winograd_transform_kernel();
#endif
  struct Case { int64_t n, c, h, w, m, pad; bool bias; const char* act; };
  const std::vector<Case> cases = {{1, 8, 9, 11, 16, 1, true, ""},     {2, 13, 7, 6, 21, 0, false, "Relu"}, {1, 64, 14, 14, 64, 1, true, "Clip"},
                                   {1, 16, 45, 47, 8, 1, true, "SiLU"}, {1, 70, 5, 5, 9, 1, true, ""},       {1, 8, 3, 3, 8, 1, true, ""},
                                   {2, 13, 15, 14, 21, 0, false, "Relu"}, {1, 70, 13, 11, 9, 1, true, ""},
                                   // 128 or more output channels: at 2 threads each thread takes its share of them
                                   {1, 96, 12, 13, 128, 1, true, "SiLU"}, {2, 128, 9, 9, 160, 1, false, "Relu"}};
  int i = 0;
  for (const Case& k : cases) {
    GraphBuilder b;
    const Shape xs{k.n, k.c, k.h, k.w};
    std::vector<std::string> ins = {b.input("x", xs), b.constant(random_tensor({k.m, k.c, 3, 3}, 1900 + i))};
    if (k.bias) ins.push_back(b.constant(random_tensor({k.m}, 1950 + i)));
    std::string y = b.node("Conv", ins, {{"pads", attr_ints({k.pad, k.pad, k.pad, k.pad})}});
    const std::string act = k.act;
    if (act == "Relu") y = b.node("Relu", {y});
    if (act == "Clip") y = b.node("Clip", {y, b.constant(Tensor::from_f32({}, {-0.5f})), b.constant(Tensor::from_f32({}, {0.5f}))});
    if (act == "SiLU") y = b.node("Mul", {y, b.node("Sigmoid", {y})});
    b.output(y);
    const Tensor x = random_tensor(xs, 2000 + i);
    auto ref = run_model(b.m, {x}, "native", 1, true, false);
    for (bool vector : {true, false})
    for (int threads : {1, 2})
      for (const std::string pick : {"winograd-f2", "winograd-f4", "ec-winograd-f2", "ec-winograd-f4"}) {
      if (pick.rfind("ec-", 0) == 0 && !conv_gemm_available()) continue;  // our blocked GEMM: AVX-512 F or aarch64
      set_winograd_vector_transforms(vector);
      const std::string transforms = winograd_transform_kernel();
      ForceKernel force(pick);
      EngineOptions o;
      o.threads = threads;
      o.kernel_cache = "-";
      auto e = create_engine("native", b.m, o);
      e->prepare({});
      std::memcpy(e->input(0).data(), x.data(), x.size_bytes());
      e->run();
      const KernelTuning t = e->kernel_tuning();
      ASSERT_EQ(t.layers.size(), 1u) << "case " << i;
      const auto& cands = t.layers[0].candidates;
      const int64_t pixels = (k.h + 2 * k.pad - 2) * (k.w + 2 * k.pad - 2);
      const bool f4 = pick.find("f4") != std::string::npos;
      if (f4 && pixels < 128) {  // F(4,3) only on maps of 128 or more output pixels
        EXPECT_EQ(std::find(cands.begin(), cands.end(), pick), cands.end()) << "case " << i;
        continue;
      }
      EXPECT_EQ(cands[t.layers[0].chosen], pick) << "case " << i;
      const double err = max_abs_diff(ref[0], e->output(0));
      EXPECT_LE(err, sum_tolerance(ref[0], (f4 ? 64 : 4) * 9 * k.c)) << pick << " case " << i << " threads " << threads << " transforms " << transforms;
    }
    set_winograd_vector_transforms(true);
    ++i;
  }
  // strided, dilated, grouped and 5x5 convolutions have no Winograd candidate
  for (auto attrs : std::vector<std::map<std::string, Attribute>>{{{"strides", attr_ints({2, 2})}}, {{"dilations", attr_ints({2, 2})}}, {{"group", attr_i(2)}}}) {
    GraphBuilder b;
    b.output(b.node("Conv", {b.input("x", {1, 8, 12, 12}), b.constant(random_tensor({8, attrs.count("group") ? 4 : 8, 3, 3}, 3))}, attrs));
    ForceKernel force("winograd");
    EngineOptions o;
    o.kernel_cache = "-";
    auto e = create_engine("native", b.m, o);
    e->prepare({});
    for (const KernelChoice& c : e->kernel_tuning().layers)
      for (const std::string& k : c.candidates) EXPECT_NE(k.rfind("winograd", 0), 0u) << attrs.begin()->first;
  }
}

// A float convolution of a small window of few channels (kh * kw * c <= 256: a CNN's first layer on 3 colour
// channels, a 3x3 on 16) has our direct kernel beside XNNPACK's on CPUs with AVX-512: forced, it matches the
// reference kernels for 7x7 / 3x3 / 5x1 / 1x1 windows, strides 1 and 2, padding or none (a 1x1 window on a
// padded input: border pixels whose window misses the input get the bias only), output channel counts that
// fill 1 to 4 vectors or leave a tail (24, 100), output widths off the pixel blocks, Relu / Clip / SiLU /
// HardSwish (the last two applied to the accumulators with the direct kernel), a batch of 2, at 1 and 2 threads; 3x3 stride-2 windows onto one vector of channels (16, and 13: a tail) run the
// kernel's own path for them over output rows of 31 and 28 pixels (blocks of 16, 8 and 4, then one at a time).
// Layers of up to 4 input channels read the model's NCHW input directly (XNNPACK's and the GEMM's kernels, forced,
// from an NHWC copy).
TEST_F(Xnnpack, DirectConvolutionsOfFewChannelsMatchReference) {
  if (!stem_conv_available()) GTEST_SKIP() << "no direct few-channel kernel on this CPU (it needs AVX-512 F)";
  struct Case { int64_t n, c, h, w, m, kh, kw, s, pad; const char* act; };
  const std::vector<Case> cases = {{1, 3, 38, 41, 64, 7, 7, 2, 3, "Relu"}, {2, 3, 17, 23, 32, 3, 3, 2, 1, "Clip"}, {1, 1, 9, 30, 24, 3, 3, 1, 0, ""},
                                   {1, 4, 12, 13, 100, 5, 1, 1, 2, "SiLU"}, {1, 2, 10, 10, 16, 3, 3, 1, 1, ""}, {1, 3, 16, 16, 8, 3, 3, 2, 1, ""},
                                   {1, 16, 20, 19, 32, 3, 3, 2, 1, "SiLU"}, {1, 28, 7, 9, 48, 3, 3, 1, 1, "Relu"}, {1, 8, 5, 6, 16, 1, 1, 1, 1, ""},
                                   {2, 3, 30, 61, 16, 3, 3, 2, 1, "Relu"}, {1, 3, 21, 58, 13, 3, 3, 2, 0, ""},
                                   {1, 16, 14, 29, 16, 3, 3, 1, 1, "SiLU"},  // 16 channels at stride 1: a step of 16 known at compile time
                                   {1, 3, 20, 70, 16, 3, 3, 2, 1, "SiLU"}, {1, 3, 15, 33, 40, 3, 3, 1, 1, "HardSwish"}};
  int i = 0;
  for (const Case& k : cases) {
    GraphBuilder b;
    const Shape xs{k.n, k.c, k.h, k.w};
    std::string y = b.node("Conv", {b.input("x", xs), b.constant(random_tensor({k.m, k.c, k.kh, k.kw}, 2300 + i)), b.constant(random_tensor({k.m}, 2350 + i))},
                           {{"pads", attr_ints({k.pad, k.pad, k.pad, k.pad})}, {"strides", attr_ints({k.s, k.s})}});
    const std::string act = k.act;
    if (act == "Relu") y = b.node("Relu", {y});
    if (act == "Clip") y = b.node("Clip", {y, b.constant(Tensor::from_f32({}, {-0.5f})), b.constant(Tensor::from_f32({}, {0.5f}))});
    if (act == "SiLU") y = b.node("Mul", {y, b.node("Sigmoid", {y})});
    if (act == "HardSwish") y = b.node("HardSwish", {y});
    b.output(y);
    const Tensor x = random_tensor(xs, 2400 + i);
    const auto ref = run_model(b.m, {x}, "native", 1, true, false);
    // a stem (c <= 4) on the model's input reads it in NCHW (no Transpose before it); the other kernels then get
    // an NHWC copy of it in the workspace, checked here too
    Model g = b.m;
    optimize_for_native(g.graph);
    const LayoutStats st = convert_to_nhwc(g.graph);
    EXPECT_EQ(st.nchw_inputs, k.c <= 4 ? 1 : 0) << "case " << i << ": " << to_string(st);
    EXPECT_EQ(st.transposes, k.c <= 4 ? 0 : 1) << "case " << i << ": " << to_string(st);
    for (int threads : {1, 2})
      for (const char* pick : {"ec-direct", "xnnpack", "ec-gemm"}) {
        if (std::string(pick) != "ec-direct" && k.c > 4) continue;
        const auto [y, got] = run_forced(b.m, x, pick, threads);
        EXPECT_EQ(got, pick) << "case " << i;
        EXPECT_LE(max_abs_diff(ref[0], y), sum_tolerance(ref[0], k.kh * k.kw * k.c)) << "case " << i << " " << pick << " threads " << threads;
      }
    ++i;
  }
}

// A dense float convolution has the blocked GEMM (convgemm.h) beside XNNPACK's on CPUs with AVX-512 and on
// AArch64 (NEON): forced, it matches the reference kernels for a 3x3 window over 512 channels (reduction 4608,
// cut into blocks of 512), one over 200 channels (blocks that end inside a window position), strides 1 and 2
// with padding, 1x1 layers read in place and 1x1 stride 2 (gathered), output channels that leave a tail in the
// last panel of 32 (AVX-512) or 16 (NEON) channels (8, 40, 100, 130, 255),
// more pixels than one block holds (40x40), Relu / Clip / SiLU / HardSwish (the last two applied in the kernel's
// registers with AVX-512, after the last of several reduction blocks for the 600-channel 3x3 layer), a batch of 2,
// at 1 and 2 threads (2 threads cut a small map's pixels into 2 blocks per thread, or, where the weights are more
// than 16x the input image as in the 96 -> 130 3x3 layer on 6 x 5, the panels into ranges).
TEST_F(Xnnpack, BlockedGemmConvolutionsMatchReference) {
  if (!conv_gemm_available()) GTEST_SKIP() << "no blocked GEMM convolution on this CPU (it needs AVX-512 F on x86-64)";
  struct Case { int64_t n, c, h, w, m, k, s, pad; const char* act; };
  const std::vector<Case> cases = {{1, 512, 7, 7, 64, 3, 1, 1, "Relu"},  {2, 200, 9, 8, 100, 3, 2, 1, "Clip"}, {1, 64, 10, 10, 255, 1, 1, 0, ""},
                                   {1, 48, 13, 11, 8, 1, 2, 0, "SiLU"},   {1, 16, 40, 40, 32, 3, 1, 1, "Relu"}, {1, 96, 6, 5, 130, 3, 1, 0, ""},
                                   {2, 1100, 3, 3, 40, 1, 1, 0, "Relu"}, {1, 600, 5, 5, 40, 3, 1, 1, "SiLU"},  {1, 24, 20, 21, 72, 3, 2, 1, "HardSwish"}};
  int i = 0;
  for (const Case& k : cases) {
    GraphBuilder b, bare;  // bare: the convolution alone, whose outputs give the magnitude of the sums
    const Shape xs{k.n, k.c, k.h, k.w};
    const Tensor wt = random_tensor({k.m, k.c, k.k, k.k}, 2500 + i), bias = random_tensor({k.m}, 2550 + i);
    const std::map<std::string, Attribute> attrs = {{"pads", attr_ints({k.pad, k.pad, k.pad, k.pad})}, {"strides", attr_ints({k.s, k.s})}};
    std::string y = b.node("Conv", {b.input("x", xs), b.constant(wt), b.constant(bias)}, attrs);
    bare.output(bare.node("Conv", {bare.input("x", xs), bare.constant(wt), bare.constant(bias)}, attrs));
    const std::string act = k.act;
    if (act == "Relu") y = b.node("Relu", {y});
    if (act == "Clip") y = b.node("Clip", {y, b.constant(Tensor::from_f32({}, {-0.5f})), b.constant(Tensor::from_f32({}, {0.5f}))});
    if (act == "SiLU") y = b.node("Mul", {y, b.node("Sigmoid", {y})});
    if (act == "HardSwish") y = b.node("HardSwish", {y});
    // odd cases: a 1x1 MaxPool (the identity) after it, so that the GEMM stores NHWC pixels; even cases: the
    // convolution is the graph's output and stores NCHW rows
    if (i % 2) y = b.node("MaxPool", {y}, {{"kernel_shape", attr_ints({1, 1})}});
    b.output(y);
    const Tensor x = random_tensor(xs, 2600 + i);
    const auto ref = run_model(b.m, {x}, "native", 1, true, false);
    const double tol = sum_tolerance(run_model(bare.m, {x}, "native", 1, true, false)[0], k.k * k.k * k.c);
    for (int threads : {1, 2}) {
      const auto [y, got] = run_forced(b.m, x, "ec-gemm", threads);
      EXPECT_EQ(got, "ec-gemm") << "case " << i;
      ASSERT_EQ(y.shape(), ref[0].shape()) << "case " << i;
      EXPECT_LE(max_abs_diff(ref[0], y), tol) << "case " << i << " threads " << threads;
    }
    ++i;
  }
}

// A 1x1 stride-1 float convolution writing NCHW (a detector's head on the graph's output) has "ec-rowgemm" (Y = W
// X^T, convgemm.h) on CPUs with AVX-512: forced, it matches the reference kernels for 255 channels on 40 x 40 (50
// blocks of 32 pixels) and on 10 x 10 over 256 input channels, channel counts off its groups of 8 (13, 255),
// pixel counts off its blocks (63, 25), Relu / Clip / SiLU, a batch of 2, an input of 3 channels that the layer
// also reads in NCHW (copied to NHWC first), at 1 and 2 threads.
TEST_F(Xnnpack, NchwOneByOneConvolutionsOnRowGemmMatchReference) {
  if (!row_gemm_available()) GTEST_SKIP() << "no row GEMM on this CPU (it needs AVX-512 F on x86-64)";
  struct Case { int64_t n, c, h, w, m; const char* act; };
  const std::vector<Case> cases = {{1, 64, 40, 40, 255, ""}, {2, 13, 7, 9, 13, "Relu"}, {1, 130, 5, 5, 24, "SiLU"}, {1, 256, 10, 10, 255, "Clip"},
                                   {1, 3, 6, 6, 8, ""}};
  int i = 0;
  for (const Case& k : cases) {
    GraphBuilder b, bare;  // bare: the convolution alone, whose outputs give the magnitude of the sums
    const Shape xs{k.n, k.c, k.h, k.w};
    const Tensor wt = random_tensor({k.m, k.c, 1, 1}, 3300 + i), bias = random_tensor({k.m}, 3350 + i);
    std::string y = b.node("Conv", {b.input("x", xs), b.constant(wt), b.constant(bias)});
    bare.output(bare.node("Conv", {bare.input("x", xs), bare.constant(wt), bare.constant(bias)}));
    const std::string act = k.act;
    if (act == "Relu") y = b.node("Relu", {y});
    if (act == "Clip") y = b.node("Clip", {y, b.constant(Tensor::from_f32({}, {-0.5f})), b.constant(Tensor::from_f32({}, {0.5f}))});
    if (act == "SiLU") y = b.node("Mul", {y, b.node("Sigmoid", {y})});
    b.output(y);
    const Tensor x = random_tensor(xs, 3400 + i);
    const auto ref = run_model(b.m, {x}, "native", 1, true, false);
    const double tol = sum_tolerance(run_model(bare.m, {x}, "native", 1, true, false)[0], k.c);
    for (int threads : {1, 2}) {
      const auto [y, got] = run_forced(b.m, x, "ec-rowgemm", threads);
      EXPECT_EQ(got, "ec-rowgemm") << "case " << i;
      ASSERT_EQ(y.shape(), ref[0].shape()) << "case " << i;
      EXPECT_LE(max_abs_diff(ref[0], y), tol) << "case " << i << " threads " << threads;
    }
    ++i;
  }
}

// A float convolution whose weights exceed half of L2 and that has 16 or more output pixels gets the candidate
// "xnnpack-split": XNNPACK's convolution in output-channel slices, each writing its channels of the output. Each
// slice runs the same GEMM on the same data, so forced it gives exactly XNNPACK's outputs, with fused Relu and
// SiLU, stride 2 and a batch of 2, at 1 and 2 threads (the slices then shared out among the threads); a layer
// with too few pixels for a second GEMM tile, or small weights, has no such candidate.
TEST_F(Xnnpack, SlicedConvolutionsGiveXnnpacksOutputs) {
  struct Case { int64_t n, c, h, w, m, k, stride; const char* act; };
  const std::vector<Case> cases = {{1, 256, 7, 7, 512, 3, 1, ""}, {2, 192, 9, 9, 512, 3, 2, "Relu"}, {1, 1024, 6, 5, 384, 1, 1, "SiLU"}};
  int i = 0;
  for (const Case& k : cases) {
    GraphBuilder b;
    const Shape xs{k.n, k.c, k.h, k.w};
    const int64_t p = k.k / 2;
    std::string y = b.node("Conv", {b.input("x", xs), b.constant(random_tensor({k.m, k.c, k.k, k.k}, 2100 + i)), b.constant(random_tensor({k.m}, 2150 + i))},
                           {{"pads", attr_ints({p, p, p, p})}, {"strides", attr_ints({k.stride, k.stride})}});
    const std::string act = k.act;
    if (act == "Relu") y = b.node("Relu", {y});
    if (act == "SiLU") y = b.node("Mul", {y, b.node("Sigmoid", {y})});
    b.output(y);
    const Tensor x = random_tensor(xs, 2200 + i);
    for (int threads : {1, 2}) {
      std::vector<Tensor> outs;
      for (const std::string pick : {"xnnpack-split", "xnnpack"}) {
        // ForceKernel matches a prefix, which "xnnpack" is of both
        set_kernel_timing_hook([pick](const std::string&, const std::string& cand, double ms, bool) { return cand == pick ? ms * 1e-6 : ms; });
        EngineOptions o;
        o.threads = threads;
        o.kernel_cache = "-";
        auto e = create_engine("native", b.m, o);
        e->prepare({});
        std::memcpy(e->input(0).data(), x.data(), x.size_bytes());
        e->run();
        const KernelTuning t = e->kernel_tuning();
        ASSERT_EQ(t.layers.size(), 1u) << "case " << i;
        const auto& cands = t.layers[0].candidates;
        ASSERT_NE(std::find(cands.begin(), cands.end(), "xnnpack-split"), cands.end()) << "case " << i;
        EXPECT_EQ(cands[t.layers[0].chosen], pick) << "case " << i;
        outs.push_back(e->output(0).clone());
        set_kernel_timing_hook(nullptr);
      }
      EXPECT_EQ(max_abs_diff(outs[0], outs[1]), 0.0) << "case " << i << " threads " << threads;
      const auto ref = run_model(b.m, {x}, "native", 1, true, false);
      EXPECT_LE(max_abs_diff(ref[0], outs[0]), sum_tolerance(ref[0], k.k * k.k * k.c)) << "case " << i << " threads " << threads;
    }
    ++i;
  }
  for (const Shape& xs : {Shape{1, 256, 3, 3}, Shape{1, 8, 16, 16}}) {  // 9 output pixels; 8x8x3x3 weights
    GraphBuilder b;
    const int64_t m = xs[1] == 8 ? 8 : 512;
    b.output(b.node("Conv", {b.input("x", xs), b.constant(random_tensor({m, xs[1], 3, 3}, 5))}, {{"pads", attr_ints({1, 1, 1, 1})}}));
    EngineOptions o;
    o.kernel_cache = "-";
    auto e = create_engine("native", b.m, o);
    e->prepare({});
    for (const auto& l : e->kernel_tuning().layers)
      EXPECT_EQ(std::find(l.candidates.begin(), l.candidates.end(), "xnnpack-split"), l.candidates.end()) << shape_str(xs);
  }
}

// Depthwise 3x3 and 5x5 float convolutions, stride 1 and 2, have our own kernel beside XNNPACK's: forced, it
// matches the reference kernels over channel counts on and off the 8-lane vectors, output widths off the
// 4-pixel blocks, padding or none, Relu / Clip / HardSwish, and a batch of 2.
TEST_F(Xnnpack, DepthwiseConvolutionsMatchReference) {
  struct Case { int64_t n, c, h, w, k, s, pad; const char* act; };
  const std::vector<Case> cases = {{1, 24, 17, 19, 3, 1, 1, ""}, {2, 13, 9, 10, 5, 1, 2, "Relu"}, {1, 48, 16, 16, 5, 2, 2, "Clip"},
                                   {1, 8, 7, 5, 3, 2, 0, "HardSwish"}, {1, 32, 6, 13, 5, 1, 0, ""}};
  int i = 0;
  for (const Case& k : cases) {
    GraphBuilder b;
    const Shape xs{k.n, k.c, k.h, k.w};
    std::string x = b.identity_conv(b.input("x", xs), k.c);  // NHWC from here
    std::string y = b.node("Conv", {x, b.constant(random_tensor({k.c, 1, k.k, k.k}, 2100 + i)), b.constant(random_tensor({k.c}, 2150 + i))},
                           {{"group", attr_i(k.c)}, {"strides", attr_ints({k.s, k.s})}, {"pads", attr_ints({k.pad, k.pad, k.pad, k.pad})}});
    const std::string act = k.act;
    if (act == "Relu") y = b.node("Relu", {y});
    if (act == "Clip") y = b.node("Clip", {y, b.constant(Tensor::from_f32({}, {-0.5f})), b.constant(Tensor::from_f32({}, {0.5f}))});
    if (act == "HardSwish") y = b.node("HardSwish", {y});
    b.output(y);
    b.m.opsets[""] = 14;
    const Tensor x0 = random_tensor(xs, 2200 + i);
    auto ref = run_model(b.m, {x0}, "native", 1, true, false);
    for (int threads : {1, 2}) {
      ForceKernel force("ec-depthwise");
      EngineOptions o;
      o.threads = threads;
      o.kernel_cache = "-";
      auto e = create_engine("native", b.m, o);
      e->prepare({});
      std::memcpy(e->input(0).data(), x0.data(), x0.size_bytes());
      e->run();
      const KernelTuning t = e->kernel_tuning();
      int dw = 0;
      for (const KernelChoice& c : t.layers)
        if (std::find(c.candidates.begin(), c.candidates.end(), "ec-depthwise") != c.candidates.end()) {
          ++dw;
          EXPECT_EQ(c.candidates[c.chosen], "ec-depthwise") << "case " << i;
        }
      EXPECT_EQ(dw, 1) << "case " << i;
      EXPECT_LE(max_abs_diff(ref[0], e->output(0)), sum_tolerance(ref[0], 2 * k.k * k.k + k.c)) << "case " << i << " threads " << threads;
    }
    ++i;
  }
}

// On 2 threads an NHWC ConvTranspose has XNNPACK's deconvolution on the threads or on the calling thread alone
// (its sub-convolutions interleave output pixels: with one output channel the threads share cache lines);
// forced, each gives the same outputs bit for bit, with bias and a fused Relu. On 1 thread XNNPACK's runs on
// the calling thread anyway, so "xnnpack-1-thread" is not offered.
TEST_F(Xnnpack, ConvTransposeOnOneThreadOrTwoGivesTheSameOutputs) {
  GraphBuilder b;
  const Shape xs{1, 16, 20, 18};
  std::string x = b.identity_conv(b.input("x", xs), 16);
  std::string y = b.node("ConvTranspose", {x, b.constant(random_tensor({16, 1, 2, 2}, 1490)), b.constant(random_tensor({1}, 1491))},
                         {{"strides", attr_ints({2, 2})}});
  b.output(b.node("Relu", {y}));
  const Tensor in = random_tensor(xs, 1492);
  std::vector<Tensor> outs;
  for (const std::string pick : {"xnnpack", "xnnpack-1-thread"}) {
    set_kernel_timing_hook([pick](const std::string&, const std::string& cand, double ms, bool) { return cand == pick ? ms * 1e-6 : ms; });
    EngineOptions o;
    o.threads = 2;
    o.kernel_cache = "-";
    auto e = create_engine("native", b.m, o);
    e->prepare({});
    std::memcpy(e->input(0).data(), in.data(), in.size_bytes());
    e->run();
    set_kernel_timing_hook(nullptr);
    const KernelTuning t = e->kernel_tuning();
    std::string chosen;
    for (const KernelChoice& c : t.layers)
      if (std::find(c.candidates.begin(), c.candidates.end(), "xnnpack-1-thread") != c.candidates.end()) chosen = c.candidates[c.chosen];
    EXPECT_EQ(chosen, pick);
    outs.push_back(e->output(0).clone());
  }
  EXPECT_EQ(max_abs_diff(outs[0], outs[1]), 0.0);
  const auto ref = run_model(b.m, {in}, "native", 1, true, false);
  EXPECT_LE(max_abs_diff(ref[0], outs[1]), sum_tolerance(ref[0], 16 * 4 + 1));
  EngineOptions one;
  one.kernel_cache = "-";
  auto e = create_engine("native", b.m, one);
  e->prepare({});
  for (const KernelChoice& c : e->kernel_tuning().layers)
    EXPECT_EQ(std::find(c.candidates.begin(), c.candidates.end(), "xnnpack-1-thread"), c.candidates.end()) << c.node;
}

// A ConvTranspose whose kernel equals its stride (the 2x2 stride-2 upsampling of segmentation heads) also has our
// kernel, "ec-deconv": each input pixel writes its own kh x kw block. Forced at 1 and 2 threads it matches the
// reference kernels over one and several output channels, a 3x3 stride-3 kernel (27 outputs per pixel, not a
// multiple of the vector), widths that are not a multiple of its 8-pixel groups, two images, without bias, with
// a fused Relu and with a Sigmoid after it; with its multiply-adds on AVX-512 registers (16 outputs a register,
// the last step masked: 4, 8 and 24 outputs per pixel leave tails) where the CPU has them and on the portable
// 8-float loop. With pads, or a kernel larger than the stride, it is not offered.
TEST_F(Xnnpack, ConvTransposeWithKernelEqualToStrideOnOurKernelMatchesReference) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f") && !deconv_avx512_available()) ADD_FAILURE() << "the CPU has AVX-512 F but ec-deconv does not use its kernel";
#endif
  struct Case { int64_t cin, cout, k, n, h, w; bool bias; const char* act; };
  const std::vector<Case> cases = {{16, 1, 2, 1, 20, 19, true, ""},  {16, 16, 2, 1, 9, 8, true, "Relu"}, {5, 3, 3, 2, 6, 13, true, ""},
                                   {8, 4, 2, 2, 7, 5, false, "Sigmoid"}, {24, 40, 2, 1, 4, 17, true, ""},
                                   // 8 and 24 outputs per pixel: the last register's 8 lanes all outputs
                                   {6, 2, 2, 1, 5, 11, true, ""}, {7, 6, 2, 1, 3, 9, true, "Relu"}};
  int i = 0;
  for (const Case& k : cases) {
    GraphBuilder b;
    const Shape xs{k.n, k.cin, k.h, k.w};
    std::string x = b.identity_conv(b.input("x", xs), k.cin);
    std::vector<std::string> ins = {x, b.constant(random_tensor({k.cin, k.cout, k.k, k.k}, 1600 + i))};
    if (k.bias) ins.push_back(b.constant(random_tensor({k.cout}, 1650 + i)));
    std::string y = b.node("ConvTranspose", ins, {{"strides", attr_ints({k.k, k.k})}});
    if (*k.act) y = b.node(k.act, {y});
    b.output(y);
    const Tensor in = random_tensor(xs, 1700 + i);
    const auto ref = run_model(b.m, {in}, "native", 1, true, false);
    for (bool vector : {true, false})
    for (int threads : {1, 2}) {
      set_deconv_vector_kernel(vector);
      ForceKernel force("ec-deconv");
      EngineOptions o;
      o.threads = threads;
      o.kernel_cache = "-";
      auto e = create_engine("native", b.m, o);
      e->prepare({});
      std::memcpy(e->input(0).data(), in.data(), in.size_bytes());
      e->run();
      int found = 0;
      for (const KernelChoice& c : e->kernel_tuning().layers)
        if (std::find(c.candidates.begin(), c.candidates.end(), "ec-deconv") != c.candidates.end()) {
          ++found;
          EXPECT_EQ(c.candidates[c.chosen], "ec-deconv") << "case " << i;
        }
      EXPECT_EQ(found, 1) << "case " << i << " threads " << threads;
      ASSERT_EQ(e->output(0).shape(), ref[0].shape()) << "case " << i;
      EXPECT_LE(max_abs_diff(ref[0], e->output(0)), sum_tolerance(ref[0], k.cin + 1)) << "case " << i << " threads " << threads << (vector ? "" : " (portable)");
    }
    set_deconv_vector_kernel(true);
    ++i;
  }
  for (const auto& a : std::vector<std::map<std::string, Attribute>>{{{"strides", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}},
                                                                      {{"strides", attr_ints({1, 1})}}}) {
    GraphBuilder b;
    std::string x = b.identity_conv(b.input("x", {1, 8, 6, 6}), 8);
    b.output(b.node("ConvTranspose", {x, b.constant(random_tensor({8, 4, 2, 2}, 1800))}, a));
    EngineOptions o;
    o.threads = 2;
    o.kernel_cache = "-";
    auto e = create_engine("native", b.m, o);
    e->prepare({});
    for (const KernelChoice& c : e->kernel_tuning().layers)
      EXPECT_EQ(std::find(c.candidates.begin(), c.candidates.end(), "ec-deconv"), c.candidates.end()) << c.node;
  }
}

// ConvTranspose runs on NHWC data (XNNPACK deconvolution) over strides, pads, output_padding, dilations and
// groups, with bias and a fused Relu; one with output_shape stays NCHW (transposed around it).
TEST_F(Xnnpack, ConvTransposeRunsInNhwc) {
  struct Case { int64_t cin, cout, group, k, stride, pad, adj, dil; bool bias, relu, output_shape; };
  const std::vector<Case> cases = {{8, 4, 1, 2, 2, 0, 0, 1, true, false, false}, {6, 5, 1, 3, 2, 1, 1, 1, true, true, false},
                                   {8, 8, 2, 4, 2, 1, 0, 1, false, false, false}, {4, 3, 1, 3, 1, 1, 0, 2, true, false, false},
                                   {16, 16, 16, 3, 2, 1, 1, 1, true, true, false},  {5, 7, 1, 3, 3, 0, 2, 1, true, false, false},
                                   {8, 4, 1, 2, 2, 0, 0, 1, true, false, true}};
  int i = 0;
  for (const Case& k : cases) {
    GraphBuilder b;
    const Shape xs{2, k.cin, 6, 5};
    std::string x = b.identity_conv(b.input("x", xs), k.cin);
    Tensor w = random_tensor({k.cin, k.cout / k.group, k.k, k.k}, 1400 + i);
    std::vector<std::string> ins = {x, b.constant(w)};
    if (k.bias) ins.push_back(b.constant(random_tensor({k.cout}, 1450 + i)));
    std::map<std::string, Attribute> a = {{"strides", attr_ints({k.stride, k.stride})}, {"pads", attr_ints({k.pad, k.pad, k.pad, k.pad})},
                                          {"output_padding", attr_ints({k.adj, k.adj})}, {"dilations", attr_ints({k.dil, k.dil})},
                                          {"group", attr_i(k.group)}};
    if (k.output_shape) a = {{"strides", attr_ints({k.stride, k.stride})}, {"output_shape", attr_ints({13, 11})}};
    std::string y = b.node("ConvTranspose", ins, a);
    if (k.relu) y = b.node("Relu", {y});
    b.output(b.identity_conv(y, k.cout));
    Model g = b.m;
    optimize_for_native(g.graph);
    const LayoutStats st = convert_to_nhwc(g.graph);
    // the output's convolution writes NCHW, and so does the one before an NCHW ConvTranspose (output_shape); the
    // input's identity convolution of few channels reads it in NCHW where the direct kernel runs
    EXPECT_EQ(st.transposes + st.nchw_inputs, k.output_shape ? 2 : 1) << "case " << i << ": " << to_string(st);
    EXPECT_EQ(st.nchw_outputs, k.output_shape ? 2 : 1) << "case " << i << ": " << to_string(st);
    EXPECT_EQ(count_op(g.graph, "ConvTranspose", kEcDomain), k.output_shape ? 0 : 1) << "case " << i;
    expect_same(b.m, {random_tensor(xs, 1500 + i)}, (k.cin / k.group) * k.k * k.k + 1, std::string("conv transpose case ") + std::to_string(i));
    ++i;
  }
}

// Layers with more than one kernel on this CPU get the one measured fastest on their shapes: a test makes
// either candidate look faster (the timing hook) and checks it is picked for every such layer, with the same
// outputs. Without the hook the choice is measured once and cached per CPU, threads and layers; a cache
// that names an unknown kernel is measured again; "default" keeps the built-in rule without timing.
// Layers of the same problem (operator, candidates, input and output shapes) get one kernel: the fastest by the
// minimum over all their measurements. Here the timing hook makes the blocked GEMM look fast on the first of two
// identical 3x3 convolutions only, and Winograd F(2,3) on a third convolution of another width: the second takes
// the first's kernel, the third keeps its own.
TEST_F(Xnnpack, LayersOfTheSameProblemGetTheSameKernel) {
  GraphBuilder b;
  std::string v = b.input("x", {1, 16, 20, 20});
  const std::map<std::string, Attribute> pad1 = {{"pads", attr_ints({1, 1, 1, 1})}};
  v = b.node("Conv", {v, b.constant(random_tensor({16, 16, 3, 3}, 1)), b.constant(random_tensor({16}, 2))}, pad1);
  v = b.node("Conv", {v, b.constant(random_tensor({16, 16, 3, 3}, 3)), b.constant(random_tensor({16}, 4))}, pad1);
  v = b.node("Conv", {v, b.constant(random_tensor({24, 16, 3, 3}, 5)), b.constant(random_tensor({24}, 6))}, pad1);
  b.output(v);
  const std::string first = b.m.graph.nodes[0].name, second = b.m.graph.nodes[1].name, third = b.m.graph.nodes[2].name;
  set_kernel_timing_hook([&](const std::string& node, const std::string& cand, double ms, bool) {
    return (node == first && cand == "ec-gemm") || (node == third && cand == "winograd-f2") ? ms * 1e-6 : ms;
  });
  EngineOptions o;
  o.kernel_cache = "-";
  auto e = create_engine("native", b.m, o);
  e->prepare({});
  set_kernel_timing_hook(nullptr);
  const KernelTuning t = e->kernel_tuning();
  std::map<std::string, const KernelChoice*> by;
  for (const KernelChoice& c : t.layers) by[c.node] = &c;
  if (!by.count(first) || !by.count(third)) GTEST_SKIP() << "these convolutions have one kernel on this CPU";
  auto has = [](const KernelChoice* c, const char* k) { return std::find(c->candidates.begin(), c->candidates.end(), k) != c->candidates.end(); };
  if (!has(by[first], "ec-gemm") || !has(by[third], "winograd-f2")) GTEST_SKIP() << "no blocked GEMM or Winograd candidate on this CPU";
  ASSERT_TRUE(by.count(second));
  EXPECT_EQ(by[first]->candidates[by[first]->chosen], "ec-gemm");
  EXPECT_EQ(by[second]->candidates[by[second]->chosen], "ec-gemm") << "the same problem as the first layer";
  EXPECT_EQ(by[third]->candidates[by[third]->chosen], "winograd-f2") << "another problem: its own measurement";
  // and the engine runs with those choices: the same outputs as the reference kernels
  const Tensor x = random_tensor({1, 16, 20, 20}, 7);
  std::memcpy(e->input(0).data(), x.data(), x.size_bytes());
  e->run();
  const auto ref = run_model(b.m, {x}, "native", 1, true, false);
  EXPECT_LE(max_abs_diff(ref[0], e->output(0)), sum_tolerance(ref[0], 3 * 144));
}

// The second stage of the choice times the close candidates inside runs of the whole model (a layer's speed there
// depends on where the layers before it left its input). Here the hook says, alone, XNNPACK 1.0 ms and Winograd
// F(2,3) 1.1 ms (within 25 %: retried in the model; every other candidate 10 ms: not retried), and in the model
// the reverse: both identical layers (one problem, one choice) move to Winograd, and the third layer, whose model
// times agree with its alone times, keeps XNNPACK. Without the model's verdict the first stage keeps XNNPACK
// everywhere (checked with model times equal to the alone times).
TEST_F(Xnnpack, CloseCandidatesAreRetimedInsideTheModel) {
  GraphBuilder b;
  std::string v = b.input("x", {1, 16, 20, 20});
  const std::map<std::string, Attribute> pad1 = {{"pads", attr_ints({1, 1, 1, 1})}};
  v = b.node("Conv", {v, b.constant(random_tensor({16, 16, 3, 3}, 11)), b.constant(random_tensor({16}, 12))}, pad1);
  v = b.node("Conv", {v, b.constant(random_tensor({16, 16, 3, 3}, 13)), b.constant(random_tensor({16}, 14))}, pad1);
  v = b.node("Conv", {v, b.constant(random_tensor({24, 16, 3, 3}, 15)), b.constant(random_tensor({24}, 16))}, pad1);
  b.output(v);
  const std::string third = b.m.graph.nodes[2].name;
  auto prepare = [&](bool model_verdict) {
    set_kernel_timing_hook([&, model_verdict](const std::string& node, const std::string& cand, double, bool in_model) {
      const bool flip = in_model && model_verdict && node != third;
      return cand == "xnnpack" ? (flip ? 2.0 : 1.0) : cand == "winograd-f2" ? 1.1 : 10.0;
    });
    EngineOptions o;
    o.threads = 2;
    o.kernel_cache = "-";
    auto e = create_engine("native", b.m, o);
    e->prepare({});
    set_kernel_timing_hook(nullptr);
    return e;
  };
  auto e = prepare(true);
  const KernelTuning t = e->kernel_tuning();
  ASSERT_EQ(t.layers.size(), 3u) << "three convolutions with a choice";
  for (const KernelChoice& c : t.layers) {
    const auto has = [&](const char* k) { return std::find(c.candidates.begin(), c.candidates.end(), k) != c.candidates.end(); };
    ASSERT_TRUE(has("xnnpack") && has("winograd-f2")) << c.node;
    ASSERT_EQ(c.model_ms.size(), c.candidates.size()) << c.node;
    for (size_t k = 0; k < c.candidates.size(); ++k) {
      const bool close = c.candidates[k] == "xnnpack" || c.candidates[k] == "winograd-f2";
      EXPECT_EQ(c.model_ms[k] >= 0, close) << c.node << " " << c.candidates[k] << ": only the close candidates are retried";
    }
    EXPECT_EQ(c.candidates[c.chosen], c.node == third ? "xnnpack" : "winograd-f2") << c.node;
  }
  // and the engine runs with those choices: the same outputs as the reference kernels
  const Tensor x = random_tensor({1, 16, 20, 20}, 17);
  std::memcpy(e->input(0).data(), x.data(), x.size_bytes());
  e->run();
  const auto ref = run_model(b.m, {x}, "native", 1, true, false);
  EXPECT_LE(max_abs_diff(ref[0], e->output(0)), sum_tolerance(ref[0], 3 * 4 * 144));
  for (const KernelChoice& c : prepare(false)->kernel_tuning().layers) EXPECT_EQ(c.candidates[c.chosen], "xnnpack") << c.node;
}

TEST_F(Xnnpack, KernelsAreChosenByMeasurementAndCached) {
  if (!pointwise_available()) GTEST_SKIP() << "no second kernel for float 1x1 convolutions on this CPU (the fused pointwise kernel needs AVX-512 F/VL)";
  const Model m = load_onnx(models_dir() + "/blazeface128.onnx");
  const Tensor x = random_tensor({1, 128, 128, 3}, 7);
  auto prepare = [&](const EngineOptions& o) {
    auto e = create_engine("native", m, o);
    e->prepare({});
    std::memcpy(e->input(0).data(), x.data(), x.size_bytes());
    e->run();
    return e;
  };
  EngineOptions o;
  o.kernel_cache = "-";
  std::vector<Tensor> outs;
  // BlazeFace's blocks (depthwise, 1x1, residual Add) are DwPointwiseAdd layers: the band kernel or XNNPACK's depthwise
  for (const char* pick : {"xnnpack-dw", "ec-dw-pw"}) {
    ForceKernel force(pick);
    auto e = prepare(o);
    const KernelTuning t = e->kernel_tuning();
    EXPECT_EQ(t.how, "measured");
    size_t with_pick = 0;  // layers offering `pick`
    for (const KernelChoice& c : t.layers) {
      ASSERT_EQ(c.ms.size(), c.candidates.size()) << c.node;
      if (std::find(c.candidates.begin(), c.candidates.end(), pick) == c.candidates.end()) continue;
      ++with_pick;
      EXPECT_EQ(c.candidates[c.chosen], pick) << c.node;
    }
    EXPECT_GE(with_pick, 3u) << "BlazeFace-128 has three depthwise + 1x1 convolutions with their residual Add";
    outs.push_back(e->output(0).clone());
  }
  EXPECT_LE(max_abs_diff(outs[1], outs[0]), sum_tolerance(outs[1], 2000)) << "the two kernels compute the same layers";

  // measured once, then read back from the cache (same CPU, threads and layers)
  const std::string dir = ::testing::TempDir() + "/ec-kernel-cache-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  o.kernel_cache = dir;
  const KernelTuning first = prepare(o)->kernel_tuning();
  EXPECT_EQ(first.how, "measured");
  ASSERT_FALSE(first.cache_file.empty());
  ASSERT_TRUE(std::filesystem::exists(first.cache_file));
  const KernelTuning second = prepare(o)->kernel_tuning();
  EXPECT_EQ(second.how, "cached");
  EXPECT_EQ(second.cost_ms, 0.0);
  ASSERT_EQ(second.layers.size(), first.layers.size());
  for (size_t i = 0; i < first.layers.size(); ++i) EXPECT_EQ(second.layers[i].chosen, first.layers[i].chosen) << first.layers[i].node;
  // another thread count is another problem
  EngineOptions o2 = o;
  o2.threads = 2;
  EXPECT_EQ(prepare(o2)->kernel_tuning().how, "measured");
  // a damaged cache entry is measured again
  {
    std::ifstream in(first.cache_file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    text = text.substr(0, text.find("--\n") + 3) + "no-such-kernel\n";
    std::ofstream(first.cache_file) << text;
  }
  EXPECT_EQ(prepare(o)->kernel_tuning().how, "measured");
  EXPECT_EQ(prepare(o)->kernel_tuning().how, "cached");
  std::filesystem::remove_all(dir);

  // int8: the VNNI GEMM (here on the stem, as im2col patches) or XNNPACK's int8 convolution
  const std::string q8 = models_dir() + "/blazeface128-int8.onnx";
  if (qgemm_vnni_available() && std::filesystem::exists(q8)) {
    const Model mq = load_onnx(q8);
    std::vector<Tensor> qout;
    for (const char* pick : {"xnnpack", "vnni"}) {
      ForceKernel force(pick);
      EngineOptions oq;
      oq.kernel_cache = "-";
      auto e = create_engine("native", mq, oq);
      e->prepare({});
      std::memcpy(e->input(0).data(), x.data(), x.size_bytes());
      e->run();
      const KernelTuning t = e->kernel_tuning();
      ASSERT_FALSE(t.layers.empty()) << "the int8 BlazeFace's stem has two kernels";
      for (const KernelChoice& c : t.layers)  // the float layers' choices (XNNPACK or ec-direct) have no VNNI candidate
        if (std::any_of(c.candidates.begin(), c.candidates.end(), [&](const std::string& k) { return k.rfind(pick, 0) == 0; })) {
          EXPECT_EQ(c.candidates[c.chosen].rfind(pick, 0), 0u) << c.node << " " << c.candidates[c.chosen];
        }
      qout.push_back(e->output(0).clone());
    }
    // both requantize to the nearest int8 step (bit-equal outputs on AMD EPYC Zen 5); a step here and there may
    // differ elsewhere, carried on
    EXPECT_LE(diff_over_range(qout[1], qout[0]), 0.02);
  }

  EngineOptions d;
  d.kernels = "default";
  const KernelTuning def = prepare(d)->kernel_tuning();
  EXPECT_EQ(def.how, "default");
  for (const KernelChoice& c : def.layers) EXPECT_EQ(c.chosen, 0u) << c.node;
  EngineOptions bad;
  bad.kernels = "fastest";
  try {
    prepare(bad);
    ADD_FAILURE() << "kernels 'fastest' was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("kernels 'fastest' is not known"), std::string::npos) << e.what();
  }
}
