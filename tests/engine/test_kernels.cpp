// Every native kernel against a naive loop implementation over swept shapes (groups, strides, pads,
// dilations, odd sizes, broadcasting), at 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>

#include "act.h"
#include "denormals.h"
#include "large_alloc.h"
#include "helpers.h"
#include "lut.h"
#include "naive.h"
#include "op.h"
#include "qgemm.h"

using namespace ec;
using namespace ec::test;

namespace {

struct ConvCase {
  int64_t n, c, h, w, m, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, group;
  bool bias;
};

}  // namespace

TEST(Conv, MatchesNaiveOverSweptShapes) {
  std::vector<ConvCase> cases = {
      {1, 3, 17, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},    // plain 3x3 same
      {2, 4, 9, 11, 6, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1, false},    // stride 2, batch 2, no bias
      {1, 6, 10, 10, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6, true},    // depthwise
      {1, 8, 15, 15, 8, 5, 5, 2, 2, 1, 2, 2, 1, 1, 1, 8, true},    // depthwise 5x5 stride 2, asymmetric pads
      {1, 8, 12, 12, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true},   // pointwise
      {1, 8, 12, 12, 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2, true},   // grouped + dilation 2
      {1, 4, 7, 9, 4, 3, 2, 2, 1, 0, 1, 1, 0, 1, 3, 4, false},     // depthwise, non-square kernel, dilation
      {1, 3, 31, 29, 5, 7, 7, 3, 3, 3, 3, 3, 3, 1, 1, 1, true},    // big kernel, stride 3, odd sizes
      {1, 16, 20, 20, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true},  // > one column block per group
      {1, 6, 5, 5, 9, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, 3, true},      // grouped with channel multiplier
      {1, 4, 11, 10, 6, 3, 2, 2, 1, 1, 0, 2, 1, 2, 1, 1, true},    // im2col with unequal strides/dilations/pads
      {1, 3, 9, 14, 4, 2, 3, 1, 2, 0, 1, 0, 2, 1, 3, 1, false},    // the same, transposed roles
  };
  int idx = 0;
  for (const ConvCase& k : cases) {
    for (int threads : {1, 2}) {
      Tensor x = random_tensor({k.n, k.c, k.h, k.w}, 10 + idx);
      Tensor w = random_tensor({k.m, k.c / k.group, k.kh, k.kw}, 20 + idx);
      Tensor b = random_tensor({k.m}, 30 + idx);
      std::vector<Operand> ops = {in(x), cst(w)};
      if (k.bias) ops.push_back(cst(b));
      auto y = run_single("Conv", ops,
                          {{"strides", attr_ints({k.sh, k.sw})},
                           {"pads", attr_ints({k.pt, k.pl, k.pb, k.pr})},
                           {"dilations", attr_ints({k.dh, k.dw})},
                           {"group", attr_i(k.group)}},
                          1, 13, threads);
      Tensor ref = naive::conv2d(x, w, k.bias ? &b : nullptr, {k.sh, k.sw}, {k.pt, k.pl, k.pb, k.pr}, {k.dh, k.dw}, k.group);
      EXPECT_LE(max_abs_diff(ref, y[0]), sum_tolerance(ref, k.c / k.group * k.kh * k.kw + 1)) << "case " << idx << " threads " << threads;
    }
    ++idx;
  }
}

// Buffers of 2 MiB or more (packed weights, the arena) are mapped on their own at a 2 MiB boundary with the
// huge-page advice where the kernel has transparent huge pages; smaller ones come from the heap at the asked
// alignment. Both are writable over their whole length and freed (a mapped one unmapped).
TEST(LargeAlloc, BigBuffersAreHugePageAlignedAndSmallOnesFromTheHeap) {
  const size_t big = kLargeBytes + 12345, small = 100000;
  auto* b = static_cast<unsigned char*>(large_alloc(big, 64));
  auto* s = static_cast<unsigned char*>(large_alloc(small, 256));
  ASSERT_NE(b, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(s) % 256, 0u);
  EXPECT_FALSE(large_is_mapped(s));
  std::memset(b, 0xA5, big);
  std::memset(s, 0x5A, small);
  EXPECT_EQ(b[big - 1], 0xA5);
  EXPECT_EQ(s[small - 1], 0x5A);
#if defined(__linux__)
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % kLargeBytes, 0u);
  EXPECT_TRUE(large_is_mapped(b));
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes((std::istreambuf_iterator<char>(thp)), std::istreambuf_iterator<char>());
  if (!modes.empty() && modes.find("[never]") == std::string::npos) {
    EXPECT_TRUE(large_is_advised(b)) << "transparent huge pages are '" << modes << "' but madvise(MADV_HUGEPAGE) failed";
  }
#endif
  large_free(b);
  large_free(s);
  EXPECT_FALSE(large_is_mapped(b));
  large_free(nullptr);
  LargeVector<float> v(big / sizeof(float), 1.f);  // the vector allocator takes the same path
  EXPECT_EQ(v.back(), 1.f);
#if defined(__linux__)
  EXPECT_TRUE(large_is_mapped(v.data()));
#endif
}

// Subnormal activations (a flat frame's decaying values) are flushed to zero inside run() on every thread, as
// XNNPACK's and ONNX Runtime's kernels do, and the caller's floating-point mode is left as it was. Without the
// flush each output below would be the subnormal 9e-39 (or 72e-39), not 0: the control checks that this thread
// computes subnormals before and after.
TEST(Conv, SubnormalActivationsAreFlushedOnEveryThreadAndTheModeRestored) {
  if (!DenormalsAsZero::supported()) GTEST_SKIP() << "no flush-to-zero mode on this architecture";
  volatile float tiny = 1e-39f;  // below FLT_MIN = 1.18e-38
  ASSERT_FALSE(DenormalsAsZero::active());
  ASSERT_NE(tiny * 9.f, 0.f) << "this thread computes subnormals by default";
  Tensor x(DType::f32, {1, 8, 16, 16});
  for (int64_t i = 0; i < x.numel(); ++i) x.ptr<float>()[i] = tiny;
  Tensor ones_dw(DType::f32, {8, 1, 3, 3}), ones(DType::f32, {8, 8, 3, 3});
  for (Tensor* w : {&ones_dw, &ones})
    for (int64_t i = 0; i < w->numel(); ++i) w->ptr<float>()[i] = 1.f;
  for (int threads : {1, 2}) {
    for (int64_t group : {8, 1}) {
      auto y = run_single("Conv", {in(x), cst(group == 8 ? ones_dw : ones)},
                          {{"pads", attr_ints({1, 1, 1, 1})}, {"group", attr_i(group)}}, 1, 13, threads);
      int64_t nonzero = 0;
      for (int64_t i = 0; i < y[0].numel(); ++i) nonzero += y[0].ptr<float>()[i] != 0.f;
      EXPECT_EQ(nonzero, 0) << "group " << group << ", " << threads << " thread(s): subnormal outputs were computed";
    }
  }
  EXPECT_FALSE(DenormalsAsZero::active()) << "run() left the caller's thread flushing";
  EXPECT_NE(tiny * 9.f, 0.f);
  {
    const DenormalsAsZero flush;
    EXPECT_TRUE(DenormalsAsZero::active());
    EXPECT_EQ(tiny * 9.f, 0.f);
  }
  EXPECT_FALSE(DenormalsAsZero::active());
}

TEST(Conv, OneDimensionalAndAutoPad) {
  Tensor x = random_tensor({1, 4, 23}, 1);
  Tensor w = random_tensor({5, 4, 3}, 2);
  auto y = run_single("Conv", {in(x), cst(w)}, {{"auto_pad", attr_s("SAME_UPPER")}, {"strides", attr_ints({2})}});
  ASSERT_EQ(shape_str(y[0].shape()), "[1,5,12]");
  Tensor x4 = x.clone(), w4 = w.clone();
  x4.reshape({1, 4, 1, 23});
  w4.reshape({5, 4, 1, 3});
  // SAME_UPPER: total pad = (12-1)*2 + 3 - 23 = 2 -> 1 left, 1 right
  Tensor ref = naive::conv2d(x4, w4, nullptr, {1, 2}, {0, 1, 0, 1}, {1, 1}, 1);
  ref.reshape({1, 5, 12});
  EXPECT_LE(max_abs_diff(ref, y[0]), sum_tolerance(ref, 4 * 3));
}

TEST(Conv, FusedActivationsMatchUnfusedGraph) {
  // Conv -> BN -> activation: the optimized graph folds BN and fuses the activation.
  const std::vector<std::pair<std::string, std::map<std::string, Attribute>>> acts = {
      {"Relu", {}}, {"LeakyRelu", {{"alpha", attr_f(0.1f)}}}, {"Sigmoid", {}}, {"HardSigmoid", {}},
      {"HardSwish", {}}, {"Tanh", {}}, {"Clip", {}}, {"SiLU", {}}};
  int i = 0;
  for (auto& [act, attrs] : acts) {
    Model m;
    m.opsets[""] = 13;
    m.graph.inputs.push_back(value("x", DType::f32, {1, 8, 9, 9}));
    m.graph.initializers["w"] = random_tensor({12, 8, 3, 3}, 40 + i);
    m.graph.initializers["b"] = random_tensor({12}, 41 + i);
    m.graph.initializers["scale"] = random_tensor({12}, 42 + i, 0.5f, 1.5f);
    m.graph.initializers["shift"] = random_tensor({12}, 43 + i);
    m.graph.initializers["mean"] = random_tensor({12}, 44 + i);
    m.graph.initializers["var"] = random_tensor({12}, 45 + i, 0.1f, 2.f);
    Node conv{"conv", "Conv", "", {"x", "w", "b"}, {"c"}, {{"pads", attr_ints({1, 1, 1, 1})}}};
    Node bn{"bn", "BatchNormalization", "", {"c", "scale", "shift", "mean", "var"}, {"z"}, {}};
    m.graph.nodes = {conv, bn};
    if (act == "SiLU") {
      m.graph.nodes.push_back(Node{"sig", "Sigmoid", "", {"z"}, {"s"}, {}});
      m.graph.nodes.push_back(Node{"mul", "Mul", "", {"z", "s"}, {"y"}, {}});
    } else if (act == "Clip") {
      m.graph.initializers["lo"] = Tensor::from_f32({}, {0.f});
      m.graph.initializers["hi"] = Tensor::from_f32({}, {0.5f});
      m.graph.nodes.push_back(Node{"act", "Clip", "", {"z", "lo", "hi"}, {"y"}, {}});
    } else {
      m.graph.nodes.push_back(Node{"act", act, "", {"z"}, {"y"}, attrs});
    }
    m.graph.outputs.push_back(value("y", DType::f32, {1, 12, 9, 9}));
    Tensor x = random_tensor({1, 8, 9, 9}, 50 + i, -2, 2);
    auto fused = run_model(m, {x}, "native", 2, true);
    auto plain = run_model(m, {x}, "native", 1, false);
    // The rounding happens before the activation, at the magnitude of the normalised convolution: conv
    // 8*9 terms, bias, the folded BN scale and shift.
    Tensor z = naive::conv2d(x, m.graph.initializers["w"], &m.graph.initializers["b"], {1, 1}, {1, 1, 1, 1}, {1, 1}, 1);
    for (int64_t c = 0; c < 12; ++c) {
      const float k = m.graph.initializers["scale"].ptr<float>()[c] / std::sqrt(m.graph.initializers["var"].ptr<float>()[c] + 1e-5f);
      for (int64_t p = 0; p < 81; ++p) {
        float& v = z.ptr<float>()[c * 81 + p];
        v = (v - m.graph.initializers["mean"].ptr<float>()[c]) * k + m.graph.initializers["shift"].ptr<float>()[c];
      }
    }
    EXPECT_LE(max_abs_diff(plain[0], fused[0]), sum_tolerance(z, 8 * 9 + 3)) << act;
    ++i;
  }
}

TEST(ConvTranspose, MatchesNaive) {
  struct Case { int64_t c, h, w, m, k, s, p, d, op, g; };
  std::vector<Case> cases = {{4, 5, 6, 3, 3, 2, 1, 1, 1, 1}, {6, 4, 4, 6, 4, 2, 1, 1, 0, 2}, {2, 7, 3, 5, 2, 1, 0, 2, 0, 1},
                             {8, 3, 3, 8, 3, 3, 0, 1, 2, 8}, {16, 16, 16, 16, 3, 2, 1, 1, 1, 1}};  // the last: GEMM split
  int i = 0;
  for (auto& k : cases) {
    Tensor x = random_tensor({1, k.c, k.h, k.w}, 60 + i);
    Tensor w = random_tensor({k.c, k.m / k.g, k.k, k.k}, 61 + i);
    Tensor b = random_tensor({k.m}, 62 + i);
    auto y = run_single("ConvTranspose", {in(x), cst(w), cst(b)},
                        {{"strides", attr_ints({k.s, k.s})}, {"pads", attr_ints({k.p, k.p, k.p, k.p})},
                         {"dilations", attr_ints({k.d, k.d})}, {"output_padding", attr_ints({k.op, k.op})},
                         {"group", attr_i(k.g)}},
                        1, 13, 2);
    Tensor ref = naive::conv_transpose2d(x, w, &b, {k.s, k.s}, {k.p, k.p, k.p, k.p}, {k.d, k.d}, {k.op, k.op}, k.g);
    EXPECT_LE(max_abs_diff(ref, y[0]), sum_tolerance(ref, k.c / k.g * k.k * k.k + 1)) << "case " << i;
    ++i;
  }
}

TEST(Pool, MaxAndAverageMatchNaive) {
  struct Case { int64_t h, w, k, s, p, d; bool ceil, count_pad; };
  std::vector<Case> cases = {{8, 8, 2, 2, 0, 1, false, false}, {9, 7, 3, 2, 1, 1, false, false}, {9, 7, 3, 2, 1, 1, true, false},
                             {10, 10, 3, 1, 1, 1, false, true}, {11, 13, 2, 3, 0, 1, true, true}, {12, 12, 3, 2, 0, 2, false, false}};
  int i = 0;
  for (auto& k : cases) {
    for (bool is_max : {true, false}) {
      if (!is_max && k.d != 1) continue;
      Tensor x = random_tensor({2, 3, k.h, k.w}, 70 + i);
      std::map<std::string, Attribute> a = {{"kernel_shape", attr_ints({k.k, k.k})}, {"strides", attr_ints({k.s, k.s})},
                                            {"pads", attr_ints({k.p, k.p, k.p, k.p})}, {"ceil_mode", attr_i(k.ceil)}};
      if (is_max) a["dilations"] = attr_ints({k.d, k.d});
      else a["count_include_pad"] = attr_i(k.count_pad);
      auto y = run_single(is_max ? "MaxPool" : "AveragePool", {in(x)}, a, 1, 13, 2);
      Tensor ref = naive::pool2d(x, is_max, {k.k, k.k}, {k.s, k.s}, {k.p, k.p, k.p, k.p}, {k.d, k.d}, y[0].dim(2), y[0].dim(3), k.count_pad);
      // output sizes by the ONNX formula, independently
      auto osz = [&](int64_t in_len) {
        double v = static_cast<double>(in_len + 2 * k.p - k.d * (k.k - 1) - 1) / static_cast<double>(k.s) + 1;
        int64_t o = static_cast<int64_t>(k.ceil ? std::ceil(v) : std::floor(v));
        if (k.ceil && (o - 1) * k.s >= in_len + k.p) --o;
        return o;
      };
      EXPECT_EQ(y[0].dim(2), osz(k.h)) << "case " << i;
      EXPECT_EQ(y[0].dim(3), osz(k.w)) << "case " << i;
      EXPECT_LT(max_abs_diff(ref, y[0]), 1e-5) << (is_max ? "max" : "avg") << " case " << i;
    }
    ++i;
  }
  Tensor x = random_tensor({2, 5, 7, 3}, 99);
  auto g = run_single("GlobalAveragePool", {in(x)}, {});
  ASSERT_EQ(shape_str(g[0].shape()), "[2,5,1,1]");
  for (int64_t p = 0; p < 10; ++p) {
    double s = 0;
    for (int64_t i2 = 0; i2 < 21; ++i2) s += x.ptr<float>()[p * 21 + i2];
    EXPECT_NEAR(g[0].ptr<float>()[p], s / 21, 1e-5);
  }
}

// Small products run on one thread; the larger ones (>= 256k multiply-adds) are split across threads by columns
// (wide) or rows (tall).
TEST(Gemm, TransposesAlphaBetaAndBroadcastC) {
  struct Size { int64_t m, k, n; int threads; };
  for (const Size& sz : {Size{7, 13, 5, 1}, Size{7, 13, 5, 2}, Size{48, 80, 96, 2}, Size{200, 150, 10, 2}})
  for (int ta : {0, 1})
    for (int tb : {0, 1}) {
      const int64_t M = sz.m, K = sz.k, N = sz.n;
      Tensor a = random_tensor(ta ? Shape{K, M} : Shape{M, K}, 80 + ta);
      Tensor b = random_tensor(tb ? Shape{N, K} : Shape{K, N}, 82 + tb);
      Tensor c = random_tensor({N}, 84);
      auto y = run_single("Gemm", {in(a), cst(b), cst(c)},
                          {{"transA", attr_i(ta)}, {"transB", attr_i(tb)}, {"alpha", attr_f(0.5f)}, {"beta", attr_f(2.f)}}, 1, 13,
                          sz.threads);
      Tensor ref(DType::f32, {M, N});
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k)
            s += static_cast<double>(ta ? a.ptr<float>()[k * M + i] : a.ptr<float>()[i * K + k]) *
                 (tb ? b.ptr<float>()[j * K + k] : b.ptr<float>()[k * N + j]);
          ref.ptr<float>()[i * N + j] = static_cast<float>(0.5 * s + 2.0 * c.ptr<float>()[j]);
        }
      EXPECT_LE(max_abs_diff(ref, y[0]), sum_tolerance(ref, K + 1)) << ta << tb << " " << M << "x" << K << "x" << N << " threads " << sz.threads;
    }
}

TEST(MatMul, BroadcastBatchesAndVectors) {
  struct Case { Shape a, b, out; };
  std::vector<Case> cases = {{{3, 4}, {4, 5}, {3, 5}}, {{2, 3, 4}, {4, 6}, {2, 3, 6}}, {{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}},
                             {{1, 7, 8}, {3, 8, 2}, {3, 7, 2}},
                             {{90, 64}, {64, 50}, {90, 50}}, {{1, 300, 40}, {40, 24}, {1, 300, 24}}};  // one product, split
  int i = 0;
  for (auto& k : cases) {
    Tensor a = random_tensor(k.a, 90 + i), b = random_tensor(k.b, 91 + i);
    auto y = run_single("MatMul", {in(a), in(b)}, {}, 1, 13, 2);
    const Tensor ref = naive::matmul(a, b, k.out);
    EXPECT_LE(max_abs_diff(ref, y[0]), sum_tolerance(ref, k.a.back())) << i;
    ++i;
  }
  Tensor v = random_tensor({4}, 5), m2 = random_tensor({4, 3}, 6);
  auto y = run_single("MatMul", {in(v), in(m2)}, {});
  ASSERT_EQ(shape_str(y[0].shape()), "[3]");
  for (int j = 0; j < 3; ++j) {
    double s = 0;
    for (int k = 0; k < 4; ++k) s += v.ptr<float>()[k] * m2.ptr<float>()[k * 3 + j];
    EXPECT_NEAR(y[0].ptr<float>()[j], s, 1e-5);
  }
}

TEST(Binary, BroadcastingMatchesNaive) {
  std::vector<std::pair<Shape, Shape>> shapes = {{{2, 3, 4, 5}, {2, 3, 4, 5}}, {{2, 3, 4, 5}, {1, 3, 1, 1}}, {{2, 3, 4, 5}, {5}},
                                                 {{3, 1, 5}, {1, 4, 1}}, {{1}, {2, 3}}, {{4, 1}, {3}}, {{2, 3, 1, 7}, {3, 6, 1}}};
  struct OpDef { const char* name; float (*f)(float, float); };
  const OpDef ops[] = {{"Add", [](float a, float b) { return a + b; }}, {"Sub", [](float a, float b) { return a - b; }},
                       {"Mul", [](float a, float b) { return a * b; }}, {"Div", [](float a, float b) { return a / b; }},
                       {"Max", [](float a, float b) { return std::max(a, b); }}, {"Min", [](float a, float b) { return std::min(a, b); }},
                       {"Pow", [](float a, float b) { return std::pow(a, b); }}};
  int i = 0;
  for (auto& [sa, sb] : shapes) {
    Tensor a = random_tensor(sa, 100 + i, 0.5f, 2.f), b = random_tensor(sb, 200 + i, 0.5f, 2.f);
    for (const OpDef& op : ops) {
      auto y = run_single(op.name, {in(a), in(b)}, {});
      Shape out = naive::broadcast(sa, sb);
      EXPECT_LT(max_abs_diff(naive::binary(a, b, out, op.f), y[0]), 1e-5) << op.name << " " << shape_str(sa) << shape_str(sb);
    }
    ++i;
  }
  // PRelu with a per-channel slope
  Tensor x = random_tensor({1, 4, 3, 3}, 7), slope = random_tensor({4, 1, 1}, 8);
  auto y = run_single("PRelu", {in(x), cst(slope)}, {});
  EXPECT_LT(max_abs_diff(naive::binary(x, slope, x.shape(), [](float a, float s) { return a >= 0 ? a : a * s; }), y[0]), 1e-6);
}

TEST(Unary, ActivationsMatchFormulas) {
  Tensor x = random_tensor({3, 17}, 11, -7.f, 7.f);
  struct U { const char* name; std::map<std::string, Attribute> attrs; float (*f)(float); };
  std::vector<U> us = {
      {"Relu", {}, [](float v) { return v > 0 ? v : 0.f; }},
      {"LeakyRelu", {{"alpha", attr_f(0.2f)}}, [](float v) { return v >= 0 ? v : 0.2f * v; }},
      {"Sigmoid", {}, [](float v) { return 1.f / (1.f + std::exp(-v)); }},
      {"HardSigmoid", {}, [](float v) { return std::min(1.f, std::max(0.f, 0.2f * v + 0.5f)); }},
      {"HardSwish", {}, [](float v) { return v * std::min(1.f, std::max(0.f, v / 6.f + 0.5f)); }},
      {"Tanh", {}, [](float v) { return std::tanh(v); }},
      {"Exp", {}, [](float v) { return std::exp(v); }},
      {"Neg", {}, [](float v) { return -v; }},
      {"Abs", {}, [](float v) { return std::fabs(v); }},
      {"Elu", {}, [](float v) { return v >= 0 ? v : std::exp(v) - 1.f; }},
  };
  for (auto& u : us) {
    auto y = run_single(u.name, {in(x)}, u.attrs);
    Tensor ref(DType::f32, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) ref.ptr<float>()[i] = u.f(x.ptr<float>()[i]);
    EXPECT_LT(max_abs_diff(ref, y[0]), 1e-5) << u.name;
  }
  // from 64 Ki values at 2 threads, each thread takes a contiguous share (of 16-value multiples; here 70001
  // values, not a multiple): the same values as 1 thread
  Tensor big = random_tensor({7, 10001}, 13, -9.f, 9.f);
  for (auto& u : us) {
    auto y1 = run_single(u.name, {in(big)}, u.attrs, 1, 13, 1);
    auto y2 = run_single(u.name, {in(big)}, u.attrs, 1, 13, 2);
    EXPECT_EQ(max_abs_diff(y1[0], y2[0]), 0.0) << u.name << " at 2 threads";
  }
  // Not is for booleans: a float input is refused when the model is prepared
  try {
    run_single("Not", {in(x)}, {});
    ADD_FAILURE() << "Not of a float tensor ran";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("float32"), std::string::npos) << e.what();
  }
  Tensor pos = random_tensor({9}, 12, 0.1f, 9.f);
  auto sq = run_single("Sqrt", {in(pos)}, {});
  for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(sq[0].ptr<float>()[i], std::sqrt(pos.ptr<float>()[i]));
  // Clip: opset 11+ bounds as inputs, opset 6 as attributes
  auto c13 = run_single("Clip", {in(x), cst(Tensor::from_f32({}, {-1.f})), cst(Tensor::from_f32({}, {2.f}))}, {});
  auto c6 = run_single("Clip", {in(x)}, {{"min", attr_f(-1.f)}, {"max", attr_f(2.f)}}, 1, 6 + 1);
  for (int64_t i = 0; i < x.numel(); ++i) {
    float r = std::min(2.f, std::max(-1.f, x.ptr<float>()[i]));
    EXPECT_EQ(c13[0].ptr<float>()[i], r);
    EXPECT_EQ(c6[0].ptr<float>()[i], r);
  }
}

// The int8 lookup table kernel of this CPU (AVX-512 VBMI, NEON or the loop) against the plain loop: every
// input value, lengths around the vector widths (tails), in place too.
TEST(Lut, Int8KernelMatchesThePlainLoop) {
  std::vector<int8_t> table(256);
  for (int i = 0; i < 256; ++i) table[static_cast<size_t>(i)] = static_cast<int8_t>((i * 37 + 11) % 256 - 128);
  std::vector<int8_t> x(300);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int8_t>(static_cast<int>(i * 97 % 256) - 128);
  for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{63}, size_t{64}, size_t{65}, size_t{256}, size_t{300}}) {
    std::vector<int8_t> got(n + 1, 42), ref(n + 1, 42);
    lut_int8(x.data(), table.data(), got.data(), n);
    lut_int8_scalar(x.data(), table.data(), ref.data(), n);
    EXPECT_EQ(got, ref) << lut_int8_kernel() << " n=" << n;  // includes the byte after the end: untouched
    std::vector<int8_t> inplace(x.begin(), x.begin() + static_cast<long>(n));
    lut_int8(inplace.data(), table.data(), inplace.data(), n);
    EXPECT_TRUE(std::equal(inplace.begin(), inplace.end(), ref.begin())) << "in place, n=" << n;
  }
  // the plain loop itself: y = table[x + 128] for every x
  std::vector<int8_t> all(256), out(256);
  for (int i = 0; i < 256; ++i) all[static_cast<size_t>(i)] = static_cast<int8_t>(i - 128);
  lut_int8_scalar(all.data(), table.data(), out.data(), 256);
  EXPECT_EQ(out, table);
}

// Sigmoid and SiLU as Activation::apply runs them on this CPU (the AVX-512 kernel where present) and as the plain
// loops run them, against double precision: inputs across [-100, 100] (saturated ends included), lengths around
// the 16/32-lane steps (tails), bytes after the end untouched. Relative error bound: 16 float epsilons.
TEST(Activation, SigmoidAndSiluKernelsMatchDoublePrecision) {
  std::vector<float> xs;
  for (int i = -20000; i <= 20000; ++i) xs.push_back(static_cast<float>(i) * 0.005f);  // [-100, 100]
  for (float v : {0.f, -0.f, 1e-30f, -1e-30f, 87.f, -87.f, 88.7f, -88.7f}) xs.push_back(v);
  const float eps = std::numeric_limits<float>::epsilon();
  for (bool vector : {true, false}) {
    set_activation_vector_kernel(vector);
    const std::string kernel = activation_kernel();
    if (!vector) {
      EXPECT_EQ(kernel, "auto-vectorised");
    }
    for (auto kind : {Activation::Kind::sigmoid, Activation::Kind::silu}) {
      Activation a;
      a.kind = kind;
      std::vector<float> y = xs;
      a.apply(y.data(), y.size());
      int64_t bad = 0;
      double worst = 0;
      for (size_t i = 0; i < xs.size(); ++i) {
        const double x = xs[i], s = 1.0 / (1.0 + std::exp(-x)), want = kind == Activation::Kind::silu ? x * s : s;
        if (x < -80) {  // the true value is below 1e-33: both kernels return 0 or a value of that size
          bad += !(std::fabs(y[i]) <= 1e-30);
          continue;
        }
        const double rel = std::fabs(y[i] - want) / std::max(std::fabs(want), 1e-37);
        worst = std::max(worst, rel);
        bad += !(rel <= 16 * eps);
      }
      EXPECT_EQ(bad, 0) << kernel << " " << a.name() << ": worst relative error " << worst;
      for (size_t n : {size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{31}, size_t{32}, size_t{33}, size_t{47}}) {
        std::vector<float> t(xs.begin() + 19990, xs.begin() + 19990 + static_cast<long>(n) + 1), ref = t;
        a.apply(t.data(), n);
        EXPECT_EQ(t[n], ref[n]) << kernel << " n=" << n << ": wrote past the end";
        for (size_t i = 0; i < n; ++i) {
          const double x = ref[i], s = 1.0 / (1.0 + std::exp(-x)), want = kind == Activation::Kind::silu ? x * s : s;
          EXPECT_LE(std::fabs(t[i] - want), 16 * eps * std::fabs(want) + 1e-37) << kernel << " n=" << n << " i=" << i;
        }
      }
    }
  }
  set_activation_vector_kernel(true);
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f") && std::string(activation_kernel()) != "avx512")
    ADD_FAILURE() << "the CPU has AVX-512 F but Activation::apply does not use the AVX-512 kernel (" << activation_kernel() << ")";
#endif
}

// Relu, Clip, HardSigmoid and HardSwish as Activation::apply runs them on this CPU (AVX-512 where present)
// against the plain loops: equal for Relu and Clip (NaN included: Relu makes it 0, Clip keeps it), within
// 2 float epsilons of |value| + |x| + 1 for the two whose vector form rounds a multiply-add once (their argument's
// terms are of the size of x and 1); lengths around the 16-lane steps, the float after the end untouched.
TEST(Activation, PiecewiseKernelsMatchThePlainLoops) {
  std::vector<float> xs;
  for (int i = -3000; i <= 3000; ++i) xs.push_back(static_cast<float>(i) * 0.0037f);  // [-11.1, 11.1]
  for (float v : {0.f, -0.f, 3.f, -3.f, 6.f, 1e30f, -1e30f, std::numeric_limits<float>::quiet_NaN()}) xs.push_back(v);
  const float eps = std::numeric_limits<float>::epsilon(), tiny = std::numeric_limits<float>::min();
  auto act = [](Activation::Kind k, float a, float b) {
    Activation x;
    x.kind = k;
    x.a = a;
    x.b = b;
    return x;
  };
  for (const Activation& a : {act(Activation::Kind::relu, 0, 0), act(Activation::Kind::clip, -0.5f, 2.5f), act(Activation::Kind::hard_sigmoid, 0.2f, 0.5f),
                              act(Activation::Kind::hard_swish, 0, 0)}) {
    const bool exact = a.kind == Activation::Kind::relu || a.kind == Activation::Kind::clip;
    for (size_t n : {xs.size(), size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{33}}) {
      std::vector<float> got(xs.begin(), xs.begin() + static_cast<long>(std::min(n + 1, xs.size()))), want = got;
      set_activation_vector_kernel(false);
      a.apply(want.data(), n);
      set_activation_vector_kernel(true);
      a.apply(got.data(), n);
      if (n < xs.size()) {
        EXPECT_EQ(got[n], xs[n]) << activation_kernel() << " " << a.name() << " n=" << n << ": wrote past the end";
      }
      for (size_t i = 0; i < n; ++i) {
        if (std::isnan(want[i])) {
          EXPECT_TRUE(std::isnan(got[i])) << activation_kernel() << " " << a.name() << " x=" << xs[i] << ": " << got[i];
          continue;
        }
        // the multiply-add's argument (x/6 + 1/2, alpha x + beta) rounds at the magnitude of its terms, which
        // near the kink at 0 is far above the result's
        const double ax = std::isnan(xs[i]) ? 0.0 : std::fabs(xs[i]);  // a NaN input whose result is a number: exact
        const double tol = exact ? 0.0 : 2 * eps * (std::fabs(want[i]) + ax + 1) + tiny;
        EXPECT_LE(std::fabs(static_cast<double>(got[i]) - want[i]), tol) << activation_kernel() << " " << a.name() << " x=" << xs[i];
      }
    }
  }
}

// Every permutation of rank 4, on shapes with size-1 dimensions (merged away by the batched-transpose path) and
// one large enough to run in tiles on two threads, for 4-byte and 1-byte elements: equal to the naive gather.
TEST(Movement, TransposeEveryPermutationMatchesNaive) {
  // the last: YOLOv8's DFL head shape (16 bins x 4 sides x boxes), few row tiles and long rows: the columns
  // cut in chunks at 2 threads, and the permutations that keep the last axis copied in runs on the threads; the
  // identity (and any permutation that keeps the order in memory) a copy in shares at 2 threads
  for (Shape shape : {Shape{2, 3, 4, 5}, Shape{1, 3, 1, 5}, Shape{1, 17, 33, 1}, Shape{2, 40, 31, 33}, Shape{1, 16, 4, 1101}}) {
    Tensor x = random_tensor(shape, 21);
    Tensor q(DType::i8, shape);
    for (int64_t i = 0; i < x.numel(); ++i) q.ptr<int8_t>()[i] = static_cast<int8_t>(i * 7 % 251 - 125);
    std::vector<int64_t> perm{0, 1, 2, 3};
    do {
      for (int threads : {1, 2}) {
        auto y = run_single("Transpose", {in(x)}, {{"perm", attr_ints(perm)}}, 1, 13, threads);
        EXPECT_EQ(max_abs_diff(naive::transpose(x, perm), y[0]), 0.0) << shape_str(shape) << " perm " << perm[0] << perm[1] << perm[2] << perm[3];
        auto yq = run_single("Transpose", {in(q)}, {{"perm", attr_ints(perm)}}, 1, 13, threads);
        Shape o;
        for (int64_t p : perm) o.push_back(shape[static_cast<size_t>(p)]);
        ASSERT_EQ(shape_str(yq[0].shape()), shape_str(o));
        int64_t bad = 0;
        for (int64_t i = 0; i < yq[0].numel(); ++i) {
          auto oi = naive::unravel(i, o);
          std::vector<int64_t> ii(4);
          for (size_t d = 0; d < 4; ++d) ii[static_cast<size_t>(perm[d])] = oi[d];
          const int64_t src = ((ii[0] * shape[1] + ii[1]) * shape[2] + ii[2]) * shape[3] + ii[3];
          bad += yq[0].ptr<int8_t>()[i] != q.ptr<int8_t>()[src];
        }
        EXPECT_EQ(bad, 0) << "int8 " << shape_str(shape) << " perm " << perm[0] << perm[1] << perm[2] << perm[3];
      }
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
}

TEST(Movement, TransposeConcatSplitSliceMatchNaive) {
  Tensor x = random_tensor({2, 3, 4, 5}, 13);
  for (std::vector<int64_t> perm : {std::vector<int64_t>{0, 2, 3, 1}, {3, 2, 1, 0}, {1, 0, 3, 2}, {0, 1, 2, 3}}) {
    auto y = run_single("Transpose", {in(x)}, {{"perm", attr_ints(perm)}});
    EXPECT_EQ(max_abs_diff(naive::transpose(x, perm), y[0]), 0.0);
  }
  // Concat along each axis == split back
  for (int64_t axis = 0; axis < 4; ++axis) {
    Shape sb = x.shape();
    sb[static_cast<size_t>(axis)] = 2;
    Tensor b = random_tensor(sb, 14);
    auto cat = run_single("Concat", {in(x), in(b)}, {{"axis", attr_i(axis - 4)}});
    int64_t n0 = x.shape()[static_cast<size_t>(axis)];
    auto parts = run_single("Split", {in(cat[0]), cst(Tensor::from_i64({2}, {n0, 2}))}, {{"axis", attr_i(axis)}}, 2);
    EXPECT_EQ(max_abs_diff(x, parts[0]), 0.0) << axis;
    EXPECT_EQ(max_abs_diff(b, parts[1]), 0.0) << axis;
    // check one element of the concat by index arithmetic
    auto idx = naive::unravel(cat[0].numel() - 1, cat[0].shape());
    EXPECT_EQ(cat[0].ptr<float>()[cat[0].numel() - 1], b.ptr<float>()[b.numel() - 1]);
    (void)idx;
  }
  // Slice with negative indices and steps, like x[:, 2:0:-1, ::2, -3:]
  auto s = run_single("Slice", {in(x), cst(Tensor::from_i64({3}, {2, 0, -3})), cst(Tensor::from_i64({3}, {0, INT64_MAX, INT64_MAX})),
                                cst(Tensor::from_i64({3}, {1, 2, 3})), cst(Tensor::from_i64({3}, {-1, 2, 1}))},
                      {});
  ASSERT_EQ(shape_str(s[0].shape()), "[2,2,2,3]");
  for (int64_t i = 0; i < s[0].numel(); ++i) {
    auto o = naive::unravel(i, s[0].shape());
    int64_t a = o[0], c = 2 - o[1], h = o[2] * 2, w = 2 + o[3];
    EXPECT_EQ(s[0].ptr<float>()[i], x.ptr<float>()[((a * 3 + c) * 4 + h) * 5 + w]);
  }
  // Gather on axis 1 with negative indices, 2-D indices
  auto g = run_single("Gather", {in(x), cst(Tensor::from_i64({2, 2}, {0, -1, 1, 1}))}, {{"axis", attr_i(1)}});
  ASSERT_EQ(shape_str(g[0].shape()), "[2,2,2,4,5]");
  const int64_t idxs[] = {0, 2, 1, 1};
  for (int64_t i = 0; i < g[0].numel(); ++i) {
    auto o = naive::unravel(i, g[0].shape());
    int64_t c = idxs[o[1] * 2 + o[2]];
    EXPECT_EQ(g[0].ptr<float>()[i], x.ptr<float>()[((o[0] * 3 + c) * 4 + o[3]) * 5 + o[4]]);
  }
}

// Concat and Split large enough (64 KiB and more) to share the copy over two threads, both ways they share it:
// by whole rows (NHWC channel concat: one row per pixel; rows of 64, 96 and 512 bytes, copied by moves of a fixed
// size, and of 52, by memcpy; 1023 rows, off the rounds of 64) and, with fewer rows than threads, by byte ranges of
// every row (axis 0 and 1 of one image, rows of odd lengths so the ranges do not fall on element boundaries of
// the other inputs). Every element is checked against index arithmetic, at 1 and 2 threads.
TEST(Movement, ConcatSplitSharedOverThreadsMatchIndexArithmetic) {
  struct Case {
    Shape a, b;
    int64_t axis;
  };
  for (const Case& c : {Case{{1, 40, 41, 24}, {1, 40, 41, 13}, 3}, Case{{1, 33, 31, 16}, {1, 33, 31, 128}, 3}, Case{{1, 37, 33, 29}, {1, 5, 33, 29}, 1},
                        Case{{1, 101, 173}, {3, 101, 173}, 0}}) {
    Tensor a = random_tensor(c.a, 31), b = random_tensor(c.b, 32);
    Shape o = c.a;
    o[static_cast<size_t>(c.axis)] += c.b[static_cast<size_t>(c.axis)];
    for (int threads : {1, 2}) {
      auto cat = run_single("Concat", {in(a), in(b)}, {{"axis", attr_i(c.axis)}}, 1, 13, threads);
      ASSERT_EQ(shape_str(cat[0].shape()), shape_str(o));
      int64_t bad = 0;
      for (int64_t i = 0; i < cat[0].numel(); ++i) {
        auto idx = naive::unravel(i, o);
        const int64_t na = c.a[static_cast<size_t>(c.axis)];
        const bool from_a = idx[static_cast<size_t>(c.axis)] < na;
        if (!from_a) idx[static_cast<size_t>(c.axis)] -= na;
        const Tensor& src = from_a ? a : b;
        int64_t k = 0;
        for (size_t d = 0; d < idx.size(); ++d) k = k * src.shape()[d] + idx[d];
        bad += cat[0].ptr<float>()[i] != src.ptr<float>()[k];
      }
      EXPECT_EQ(bad, 0) << "Concat " << shape_str(o) << " axis " << c.axis << ", " << threads << " thread(s)";
      auto parts = run_single("Split", {in(cat[0]), cst(Tensor::from_i64({2}, {c.a[static_cast<size_t>(c.axis)], c.b[static_cast<size_t>(c.axis)]}))},
                              {{"axis", attr_i(c.axis)}}, 2, 13, threads);
      EXPECT_EQ(max_abs_diff(a, parts[0]), 0.0) << "Split " << shape_str(o) << " axis " << c.axis << ", " << threads << " thread(s)";
      EXPECT_EQ(max_abs_diff(b, parts[1]), 0.0) << "Split " << shape_str(o) << " axis " << c.axis << ", " << threads << " thread(s)";
    }
  }
}

TEST(Movement, ReshapeFamily) {
  Tensor x = random_tensor({2, 3, 4}, 15);
  auto r = run_single("Reshape", {in(x), cst(Tensor::from_i64({3}, {0, -1, 2}))}, {});
  EXPECT_EQ(shape_str(r[0].shape()), "[2,6,2]");
  auto f = run_single("Flatten", {in(x)}, {{"axis", attr_i(2)}});
  EXPECT_EQ(shape_str(f[0].shape()), "[6,4]");
  auto u = run_single("Unsqueeze", {in(x), cst(Tensor::from_i64({2}, {0, -1}))}, {});
  EXPECT_EQ(shape_str(u[0].shape()), "[1,2,3,4,1]");
  auto sq = run_single("Squeeze", {in(u[0]), cst(Tensor::from_i64({1}, {4}))}, {});
  EXPECT_EQ(shape_str(sq[0].shape()), "[1,2,3,4]");
  auto u11 = run_single("Unsqueeze", {in(x)}, {{"axes", attr_ints({1})}}, 1, 11);
  EXPECT_EQ(shape_str(u11[0].shape()), "[2,1,3,4]");
  for (auto* t : {&r[0], &f[0], &u[0], &sq[0], &u11[0]}) EXPECT_EQ(std::memcmp(t->data(), x.data(), x.size_bytes()), 0);
}

TEST(Pad, ConstantReflectEdge) {
  Tensor x = random_tensor({1, 2, 3, 4}, 16);
  std::vector<int64_t> pads = {0, 0, 1, 2, 0, 1, 2, 1};
  for (std::string mode : {"constant", "reflect", "edge"}) {
    auto y = run_single("Pad", {in(x), cst(Tensor::from_i64({8}, pads)), cst(Tensor::from_f32({}, {0.5f}))}, {{"mode", attr_s(mode)}});
    ASSERT_EQ(shape_str(y[0].shape()), "[1,3,6,7]");
    for (int64_t i = 0; i < y[0].numel(); ++i) {
      auto o = naive::unravel(i, y[0].shape());
      int64_t c = o[1], h = o[2] - 1, w = o[3] - 2;
      bool inside = c < 2 && h >= 0 && h < 3 && w >= 0 && w < 4;
      float want;
      if (mode == "constant") {
        want = inside ? x.ptr<float>()[(c * 3 + h) * 4 + w] : 0.5f;
      } else {
        auto fix = [&](int64_t v, int64_t n) {
          if (mode == "edge") return std::clamp<int64_t>(v, 0, n - 1);
          return v < 0 ? -v : v >= n ? 2 * (n - 1) - v : v;
        };
        c = fix(c, 2);
        want = x.ptr<float>()[(c * 3 + fix(h, 3)) * 4 + fix(w, 4)];
      }
      EXPECT_EQ(y[0].ptr<float>()[i], want) << mode << " at " << i;
    }
  }
}

TEST(Resize, NearestAndLinearMatchFormulas) {
  Tensor x = random_tensor({1, 2, 5, 7}, 17);
  struct Case { std::string mode, coord, nearest; Shape out; };
  std::vector<Case> cases = {{"nearest", "asymmetric", "floor", {1, 2, 10, 14}}, {"nearest", "half_pixel", "round_prefer_floor", {1, 2, 8, 9}},
                             {"linear", "half_pixel", "", {1, 2, 10, 14}}, {"linear", "align_corners", "", {1, 2, 9, 4}},
                             {"linear", "pytorch_half_pixel", "", {1, 2, 3, 11}}, {"linear", "asymmetric", "", {1, 2, 7, 7}}};
  for (auto& k : cases) {
    std::map<std::string, Attribute> a = {{"mode", attr_s(k.mode)}, {"coordinate_transformation_mode", attr_s(k.coord)}};
    if (!k.nearest.empty()) a["nearest_mode"] = attr_s(k.nearest);
    auto y = run_single("Resize", {in(x), none(), none(), cst(Tensor::from_i64({4}, k.out))}, a);
    ASSERT_EQ(shape_str(y[0].shape()), shape_str(k.out));
    auto src = [&](int64_t o, int64_t in_len, int64_t out_len) -> double {
      double s = static_cast<double>(out_len) / static_cast<double>(in_len);
      if (k.coord == "asymmetric") return o / s;
      if (k.coord == "align_corners") return out_len > 1 ? o * (in_len - 1.0) / (out_len - 1.0) : 0;
      if (k.coord == "pytorch_half_pixel" && out_len == 1) return 0;
      return (o + 0.5) / s - 0.5;
    };
    for (int64_t i = 0; i < y[0].numel(); ++i) {
      auto o = naive::unravel(i, k.out);
      double sy = src(o[2], 5, k.out[2]), sx = src(o[3], 7, k.out[3]);
      const float* plane = x.ptr<float>() + o[1] * 35;
      double want;
      if (k.mode == "nearest") {
        auto pick = [&](double v, int64_t n) {
          int64_t r = k.nearest == "floor" ? static_cast<int64_t>(std::floor(v))
                                           : (v - std::floor(v) == 0.5 ? static_cast<int64_t>(std::floor(v)) : static_cast<int64_t>(std::lround(v)));
          return std::clamp<int64_t>(r, 0, n - 1);
        };
        want = plane[pick(sy, 5) * 7 + pick(sx, 7)];
      } else {
        sy = std::clamp(sy, 0.0, 4.0);
        sx = std::clamp(sx, 0.0, 6.0);
        int64_t y0 = static_cast<int64_t>(sy), x0 = static_cast<int64_t>(sx);
        int64_t y1 = std::min<int64_t>(y0 + 1, 4), x1 = std::min<int64_t>(x0 + 1, 6);
        double fy = sy - y0, fx = sx - x0;
        want = (1 - fy) * ((1 - fx) * plane[y0 * 7 + x0] + fx * plane[y0 * 7 + x1]) + fy * ((1 - fx) * plane[y1 * 7 + x0] + fx * plane[y1 * 7 + x1]);
      }
      EXPECT_NEAR(y[0].ptr<float>()[i], want, 1e-5) << k.mode << " " << k.coord << " at " << i;
    }
  }
  // Upsample (opset 9) with scales: nearest, asymmetric + floor
  auto up = run_single("Upsample", {in(x), cst(Tensor::from_f32({4}, {1, 1, 2, 2}))}, {{"mode", attr_s("nearest")}}, 1, 9);
  ASSERT_EQ(shape_str(up[0].shape()), "[1,2,10,14]");
  EXPECT_EQ(up[0].ptr<float>()[14 * 3 + 5], x.ptr<float>()[7 * 1 + 2]);
}

// Softmax and LogSoftmax over a non-last axis with many positions (YOLOv8's DFL: 16 bins x boxes; 257 leaves a
// block of one position) and over the last axis (long rows, and an SSD's 2 x 1009 rows of 21 classes: chunks of
// rows, the last one partial), on 1 and 2 threads, against double-precision sums. Each result is a ratio of
// exponentials: its relative error grows with the bins summed (float rounding per add).
TEST(Reduce, SoftmaxOverManyPositionsMatchesDoublePrecision) {
  for (Shape shape : {Shape{1, 16, 4, 257}, Shape{2, 3, 1000}, Shape{3, 700}, Shape{2, 1009, 21}}) {
    Tensor x = random_tensor(shape, 23, -8, 8);
    const int64_t axis = shape.size() == 4 ? 1 : static_cast<int64_t>(shape.size()) - 1;
    int64_t outer = 1, dim = shape[static_cast<size_t>(axis)], inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
    for (int threads : {1, 2})
      for (const char* op : {"Softmax", "LogSoftmax"}) {
        auto y = run_single(op, {in(x)}, {{"axis", attr_i(axis)}}, 1, 13, threads);
        const bool log = std::string(op) == "LogSoftmax";
        const double rel = 4.0 * static_cast<double>(dim) * std::ldexp(1.0, -24);
        int64_t bad = 0;
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i) {
            const float* xs = x.ptr<float>() + o * dim * inner + i;
            double mx = -1e30, den = 0;
            for (int64_t d = 0; d < dim; ++d) mx = std::max(mx, static_cast<double>(xs[d * inner]));
            for (int64_t d = 0; d < dim; ++d) den += std::exp(xs[d * inner] - mx);
            for (int64_t d = 0; d < dim; ++d) {
              const double v = xs[d * inner] - mx;
              const double ref = log ? v - std::log(den) : std::exp(v) / den;
              const double got = y[0].ptr<float>()[o * dim * inner + i + d * inner];
              // LogSoftmax: absolute error of log(den) and of the subtraction, scaled by the magnitudes
              const double tol = log ? rel * (std::fabs(v) + std::log(den) + 1.0) : rel * ref;
              bad += std::fabs(got - ref) > tol;
            }
          }
        EXPECT_EQ(bad, 0) << op << " " << shape_str(shape) << " threads " << threads;
      }
  }
}

TEST(Reduce, SoftmaxAndReduceMeanMatchNaive) {
  Tensor x = random_tensor({2, 3, 4}, 18, -3, 3);
  for (int64_t axis : {0, 1, 2, -1}) {
    auto y = run_single("Softmax", {in(x)}, {{"axis", attr_i(axis)}});
    int64_t a = axis < 0 ? axis + 3 : axis;
    for (int64_t i = 0; i < x.numel(); ++i) {
      auto o = naive::unravel(i, x.shape());
      double den = 0;
      for (int64_t k = 0; k < x.shape()[static_cast<size_t>(a)]; ++k) {
        auto q = o;
        q[static_cast<size_t>(a)] = k;
        den += std::exp(x.ptr<float>()[(q[0] * 3 + q[1]) * 4 + q[2]]);
      }
      EXPECT_NEAR(y[0].ptr<float>()[i], std::exp(x.ptr<float>()[i]) / den, 1e-6) << axis;
    }
  }
  // opset 11 Softmax coerces to 2-D at axis 1: normalises over 12 values per batch
  auto s11 = run_single("Softmax", {in(x)}, {}, 1, 11);
  double sum = 0;
  for (int i = 0; i < 12; ++i) sum += s11[0].ptr<float>()[i];
  EXPECT_NEAR(sum, 1.0, 1e-5);
  auto m = run_single("ReduceMean", {in(x)}, {{"axes", attr_ints({1, -1})}, {"keepdims", attr_i(1)}});
  ASSERT_EQ(shape_str(m[0].shape()), "[2,1,1]");
  for (int b = 0; b < 2; ++b) {
    double s = 0;
    for (int i = 0; i < 12; ++i) s += x.ptr<float>()[b * 12 + i];
    EXPECT_NEAR(m[0].ptr<float>()[b], s / 12, 1e-5);
  }
  auto m0 = run_single("ReduceMean", {in(x)}, {{"axes", attr_ints({0})}, {"keepdims", attr_i(0)}});
  ASSERT_EQ(shape_str(m0[0].shape()), "[3,4]");
  EXPECT_NEAR(m0[0].ptr<float>()[5], (x.ptr<float>()[5] + x.ptr<float>()[17]) / 2, 1e-6);
}

TEST(Quant, QuantizeDequantizeRoundTripPerTensorAndPerAxis) {
  Tensor x = random_tensor({2, 3, 4}, 19, -2, 2);
  // per tensor, uint8 with zero point 128, round half to even
  auto q = run_single("QuantizeLinear", {in(x), cst(Tensor::from_f32({}, {0.02f})), cst([] {
                        Tensor z(DType::u8, {});
                        z.ptr<uint8_t>()[0] = 128;
                        return z;
                      }())},
                      {});
  ASSERT_EQ(q[0].dtype(), DType::u8);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int want = std::clamp(static_cast<int>(std::nearbyint(x.ptr<float>()[i] / 0.02f)) + 128, 0, 255);
    EXPECT_EQ(q[0].ptr<uint8_t>()[i], want);
  }
  // per axis (axis 1), int8 symmetric, then dequantize back within half a step
  Tensor scales = Tensor::from_f32({3}, {0.01f, 0.02f, 0.05f});
  Tensor zp(DType::i8, {3});
  auto q2 = run_single("QuantizeLinear", {in(x), cst(scales), cst(zp)}, {{"axis", attr_i(1)}});
  ASSERT_EQ(q2[0].dtype(), DType::i8);
  auto d2 = run_single("DequantizeLinear", {in(q2[0]), cst(scales), cst(zp)}, {{"axis", attr_i(1)}});
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t c = (i / 4) % 3;
    float s = scales.ptr<float>()[c];
    float clipped = std::clamp(x.ptr<float>()[i], -128 * s, 127 * s);
    EXPECT_LE(std::fabs(d2[0].ptr<float>()[i] - clipped), s / 2 + 1e-6) << i;
  }
}

TEST(Quant, DynamicQuantizeLinearAndMatMulInteger) {
  // the ONNX specification's example
  auto d = run_single("DynamicQuantizeLinear", {in(Tensor::from_f32({6}, {0.f, 2.f, -3.f, -2.5f, 1.34f, 0.5f}))}, {}, 3);
  const uint8_t want[6] = {153, 255, 0, 26, 221, 179};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(d[0].ptr<uint8_t>()[i], want[i]) << i;
  EXPECT_NEAR(d[1].ptr<float>()[0], 5.f / 255.f, 1e-7);
  EXPECT_EQ(d[2].ptr<uint8_t>()[0], 153);
  // MatMulInteger against a naive loop: uint8 A with zero point, int8 B with per-column zero points
  Tensor a(DType::u8, {2, 3, 5}), b(DType::i8, {5, 4}), az(DType::u8, {}), bz(DType::i8, {4});
  for (int64_t i = 0; i < a.numel(); ++i) a.ptr<uint8_t>()[i] = static_cast<uint8_t>((i * 37) % 256);
  for (int64_t i = 0; i < b.numel(); ++i) b.ptr<int8_t>()[i] = static_cast<int8_t>((i * 53) % 256 - 128);
  az.ptr<uint8_t>()[0] = 100;
  for (int i = 0; i < 4; ++i) bz.ptr<int8_t>()[i] = static_cast<int8_t>(i - 2);
  auto y = run_single("MatMulInteger", {in(a), cst(b), cst(az), cst(bz)}, {});
  ASSERT_EQ(y[0].dtype(), DType::i32);
  ASSERT_EQ(shape_str(y[0].shape()), "[2,3,4]");
  for (int64_t m = 0; m < 6; ++m)
    for (int64_t n = 0; n < 4; ++n) {
      int32_t s = 0;
      for (int64_t k = 0; k < 5; ++k) s += (a.ptr<uint8_t>()[m * 5 + k] - 100) * (b.ptr<int8_t>()[k * 4 + n] - (n - 2));
      EXPECT_EQ(y[0].ptr<int32_t>()[m * 4 + n], s);
    }
}

TEST(Binary, AddWithFusedReluMatchesUnfusedGraph) {
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(value("a", DType::f32, {1, 6, 7, 9}));
  m.graph.inputs.push_back(value("b", DType::f32, {1, 6, 7, 9}));
  m.graph.nodes.push_back(Node{"add", "Add", "", {"a", "b"}, {"s"}, {}});
  m.graph.nodes.push_back(Node{"relu", "Relu", "", {"s"}, {"y"}, {}});
  m.graph.outputs.push_back(value("y", DType::f32, {1, 6, 7, 9}));
  Tensor a = random_tensor({1, 6, 7, 9}, 1), b = random_tensor({1, 6, 7, 9}, 2);
  auto fused = run_model(m, {a, b}, "native", 2, true), plain = run_model(m, {a, b}, "native", 1, false);
  EXPECT_EQ(max_abs_diff(plain[0], fused[0]), 0.0);
  int negatives = 0;
  for (int64_t i = 0; i < fused[0].numel(); ++i) negatives += fused[0].ptr<float>()[i] < 0;
  EXPECT_EQ(negatives, 0);
}

// n int8 values drawn uniformly from rng.
static std::vector<int8_t> random_bytes(std::mt19937& rng, size_t n) {
  std::vector<int8_t> v(n);
  for (auto& b : v) b = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
  return v;
}

// The int8 GEMM's pixel-pair form (n = 8, 24, 40: two pixels' outputs fill whole 16-lane blocks) against the
// per-pixel blocks of the same layer, byte for byte: reductions with and without a partial last quad, an odd
// last pixel, ranges that start mid-tile (as threads split them), a fused residual Add in a separate buffer and
// in place; and without the residual against the integer arithmetic written out.
TEST(QGemm, PixelPairsAreByteEqualToPerPixelBlocks) {
  if (!qgemm_vnni_available()) GTEST_SKIP() << "no VNNI on this CPU (or EC_NO_VNNI set): the kernel is not offered";
  std::mt19937 rng(41);
  auto bytes = [&](size_t n) { return random_bytes(rng, n); };
  int checked = 0;
  for (int64_t n : {8, 24, 40})
    for (int64_t k : {5, 24, 37})
      for (int64_t pixels : {1, 2, 15, 99}) {
        std::vector<int8_t> w = bytes(static_cast<size_t>(n * k)), x = bytes(static_cast<size_t>(pixels * k));
        std::vector<int32_t> bias(static_cast<size_t>(n));
        std::vector<float> scale(static_cast<size_t>(n));
        for (int64_t o = 0; o < n; ++o) {
          bias[static_cast<size_t>(o)] = static_cast<int32_t>(rng() % 2001) - 1000;
          scale[static_cast<size_t>(o)] = 0.002f + 0.0001f * static_cast<float>(o);
        }
        const int32_t zx = 7, zy = -3;
        QGemmLayer pair = qgemm_pack(w.data(), n, k, bias.data(), zx, scale.data(), zy, -100, 120);
        ASSERT_FALSE(pair.pair_packed.empty()) << "n " << n;
        QGemmLayer plain = qgemm_pack(w.data(), n, k, bias.data(), zx, scale.data(), zy, -100, 120);
        plain.pair_packed = {};
        for (int residual = 0; residual < 3; ++residual) {  // none, its own buffer, in place
          for (QGemmLayer* l : {&pair, &plain}) {
            l->add = residual > 0;
            l->ka = 0.8f;
            l->kb = 1.3f;
            l->off = 2.5f;
            l->rz = 4;
            l->add_lo = -90;
            l->add_hi = 127;
          }
          const std::vector<int8_t> r = bytes(static_cast<size_t>(pixels * n));
          std::vector<int8_t> y1 = residual == 2 ? r : std::vector<int8_t>(static_cast<size_t>(pixels * n), 0);
          std::vector<int8_t> y2 = y1;
          const int64_t cut = pixels / 3;  // two ranges, as two threads take them
          for (auto [a, b] : {std::pair<int64_t, int64_t>{0, cut}, {cut, pixels}}) {
            qgemm_vnni(pair, x.data(), y1.data(), a, b, residual == 2 ? y1.data() : residual ? r.data() : nullptr, residual ? n : 0);
            qgemm_vnni(plain, x.data(), y2.data(), a, b, residual == 2 ? y2.data() : residual ? r.data() : nullptr, residual ? n : 0);
          }
          ASSERT_EQ(y1, y2) << "n " << n << " k " << k << " pixels " << pixels << " residual " << residual;
          if (residual == 0)
            for (int64_t p = 0; p < pixels; ++p)
              for (int64_t o = 0; o < n; ++o) {
                int32_t acc = bias[static_cast<size_t>(o)];
                for (int64_t i = 0; i < k; ++i) acc += (x[static_cast<size_t>(p * k + i)] - zx) * w[static_cast<size_t>(o * k + i)];
                const float f = std::clamp(static_cast<float>(acc) * scale[static_cast<size_t>(o)], -100.f - zy, 120.f - zy);
                ASSERT_EQ(y1[static_cast<size_t>(p * n + o)], static_cast<int8_t>(std::nearbyint(f) + zy)) << "n " << n << " k " << k << " p " << p << " o " << o;
              }
          ++checked;
        }
      }
  EXPECT_EQ(checked, 3 * 3 * 4 * 3);
}

// The int8 GEMM against its arithmetic written out, byte for byte, with the residual Add fused: y = requantized
// sum (bias included), then clamp(round(ka y + (kb r + off)), add_lo, add_hi) stored saturated. Bounds at -128
// and 127, a Relu-like lower bound, and a ka so large that only the clamps keep the result in range; full and channel-padded residuals; rows short and long enough (k up to 1100) to be
// flipped to unsigned in a buffer or as read, and more pixels than one buffer holds.
TEST(QGemm, FusedResidualAddIsByteEqualToTheArithmeticWrittenOut) {
  if (!qgemm_vnni_available()) GTEST_SKIP() << "no VNNI on this CPU (or EC_NO_VNNI set): the kernel is not offered";
  std::mt19937 rng(43);
  auto bytes = [&](size_t n) { return random_bytes(rng, n); };
  struct Case {
    int64_t n, k, pixels, cr;
    float ka;
    int8_t add_lo, add_hi;
  };
  const Case cases[] = {{24, 24, 1500, 24, 0.8f, -128, 127}, {24, 24, 37, 24, 0.8f, -90, 100}, {16, 64, 700, 16, 1.1f, -128, 127},
                        {40, 37, 45, 40, 0.5f, 3, 127},       {100, 5, 33, 64, 0.9f, -128, 127}, {96, 1100, 9, 96, 0.7f, -128, 127},
                        {8, 12, 20, 8, 3.0e8f, -128, 127},    {48, 20, 13, 48, 3.0e8f, -128, 127}};
  int stored_both_ways = 0;
  for (const Case& c : cases) {
    const std::vector<int8_t> w = bytes(static_cast<size_t>(c.n * c.k)), x = bytes(static_cast<size_t>(c.pixels * c.k));
    const std::vector<int8_t> r = bytes(static_cast<size_t>(c.pixels * c.cr));
    std::vector<int32_t> bias(static_cast<size_t>(c.n));
    std::vector<float> scale(static_cast<size_t>(c.n));
    for (int64_t o = 0; o < c.n; ++o) {
      bias[static_cast<size_t>(o)] = static_cast<int32_t>(rng() % 4001) - 2000;
      scale[static_cast<size_t>(o)] = 0.5f / static_cast<float>(c.k * 64) * (1.0f + 0.01f * static_cast<float>(o));
    }
    const int32_t zx = -5, zy = 6, rz = -7;
    QGemmLayer l = qgemm_pack(w.data(), c.n, c.k, bias.data(), zx, scale.data(), zy, -128, 127);
    l.add = true;
    l.ka = c.ka;
    l.kb = 1.3f;
    l.off = 2.5f;
    l.rz = rz;
    l.add_lo = c.add_lo;
    l.add_hi = c.add_hi;
    std::vector<int8_t> y(static_cast<size_t>(c.pixels * c.n));
    const int64_t cut = c.pixels / 3;
    qgemm_vnni(l, x.data(), y.data(), 0, cut, r.data(), c.cr);
    qgemm_vnni(l, x.data(), y.data(), cut, c.pixels, r.data(), c.cr);
    int lo = 0, hi = 0;
    for (int64_t p = 0; p < c.pixels; ++p)
      for (int64_t o = 0; o < c.n; ++o) {
        int32_t acc = bias[static_cast<size_t>(o)];
        for (int64_t i = 0; i < c.k; ++i) acc += (x[static_cast<size_t>(p * c.k + i)] - zx) * w[static_cast<size_t>(o * c.k + i)];
        const float f = std::clamp(static_cast<float>(acc) * scale[static_cast<size_t>(o)], -128.f - zy, 127.f - zy);
        const float q = std::nearbyint(f) + static_cast<float>(zy);
        const float rv = o < c.cr ? r[static_cast<size_t>(p * c.cr + o)] : rz;
        const float g = std::clamp(std::fma(l.ka, q, std::fma(l.kb, rv, l.off)), static_cast<float>(c.add_lo), static_cast<float>(c.add_hi));
        const int8_t want = static_cast<int8_t>(std::nearbyint(g));
        ASSERT_EQ(y[static_cast<size_t>(p * c.n + o)], want) << "n " << c.n << " k " << c.k << " pixel " << p << " channel " << o;
        lo += want == c.add_lo;
        hi += want == c.add_hi;
      }
    stored_both_ways += lo > 0 && hi > 0 && lo + hi < c.pixels * c.n;  // both bounds reached, and values between
  }
  EXPECT_GE(stored_both_ways, 4);
}
