// Low-rank factorization, weight sharing and the Huffman-coded archive with known answers: SVD exact at
// the true rank, the MAC reduction a rank implies, Tucker-2 exact at the true multilinear rank, k-means on
// known clusters, canonical Huffman lengths, bit-exact archive round trips, damaged archives.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <random>

#include "../engine/helpers.h"
#include "analysis.h"
#include "archive.h"
#include "lowrank.h"
#include "onnx_io.h"
#include "pass.h"
#include "share.h"

using namespace ec;
using namespace ec::compress;
using namespace ec::test;

namespace {

// A (rows x cols) matrix of rank r with random factors.
Tensor low_rank(int64_t rows, int64_t cols, int r, uint32_t seed) {
  Tensor a = random_tensor({rows, r}, seed), b = random_tensor({r, cols}, seed + 1);
  Tensor w(DType::f32, {rows, cols});
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (int k = 0; k < r; ++k) s += a.ptr<float>()[i * r + k] * b.ptr<float>()[k * cols + j];
      w.ptr<float>()[i * cols + j] = static_cast<float>(s);
    }
  return w;
}

Model mlp(const Tensor& w1, const Tensor& w2) {
  Model m;
  m.opsets[""] = 13;
  m.graph.inputs.push_back(value("x", DType::f32, {4, w1.dim(0)}));
  m.graph.initializers["w1"] = w1;
  m.graph.initializers["b1"] = random_tensor({w1.dim(1)}, 9);
  m.graph.initializers["w2"] = w2;
  m.graph.nodes.push_back(Node{"fc1", "Gemm", "", {"x", "w1", "b1"}, {"h"}, {}});
  m.graph.nodes.push_back(Node{"relu", "Relu", "", {"h"}, {"r"}, {}});
  m.graph.nodes.push_back(Node{"fc2", "MatMul", "", {"r", "w2"}, {"y"}, {}});
  m.graph.outputs.push_back(value("y", DType::f32, {4, w2.dim(1)}));
  return m;
}

}  // namespace

TEST(LowRank, SvdIsExactAtTheTrueRank) {
  Model m = mlp(low_rank(96, 80, 5, 1), low_rank(80, 64, 3, 3));
  Model f = m;
  PassContext ctx;
  StepParams p;
  p.where = "t";
  p.values["energy"] = "1.0";
  const std::string line = run_pass("lowrank", f, p, ctx);
  EXPECT_NE(line.find("2 layers factored"), std::string::npos) << line;
  EXPECT_EQ(check_onnx(f), "");
  EXPECT_EQ(f.graph.initializers.at("lr0_a").dim(1), 5);  // rank found from the spectrum
  EXPECT_EQ(f.graph.initializers.at("lr2_a").dim(1), 3);
  Tensor x = random_tensor({4, 96}, 5);
  auto a = run_model(m, {x}), b = run_model(f, {x});
  EXPECT_LT(diff_over_range(a[0], b[0]), 1e-4);
}

TEST(LowRank, MacReductionIsWhatTheRankImplies) {
  Model m = mlp(random_tensor({256, 256}, 1), random_tensor({256, 128}, 2));
  Model f = m;
  PassContext ctx;
  StepParams p;
  p.where = "t";
  p.values["mac_reduction"] = "0.5";
  run_pass("lowrank", f, p, ctx);
  // rank r = floor(0.5 * K * N / (K + N)): fc1 256x256 -> 64, fc2 256x128 -> 42
  EXPECT_EQ(f.graph.initializers.at("lr0_a").dim(1), 64);
  EXPECT_EQ(f.graph.initializers.at("lr2_a").dim(1), 42);
  const ModelStats a = analyze_model(m, {}), b = analyze_model(f, {});
  EXPECT_EQ(a.macs, 4 * (256 * 256 + 256 * 128));
  EXPECT_EQ(b.macs, 4 * (64 * (256 + 256) + 42 * (256 + 128)));
}

TEST(LowRank, TuckerIsExactAtTheTrueMultilinearRank) {
  // W = core (r2 x r1 x 3 x 3) x0 Uo (M x r2) x1 Ui (C x r1)
  const int64_t M = 24, C = 16, r2 = 4, r1 = 3;
  Tensor core = random_tensor({r2, r1, 3, 3}, 11), uo = random_tensor({M, r2}, 12), ui = random_tensor({C, r1}, 13);
  Tensor w(DType::f32, {M, C, 3, 3});
  for (int64_t o = 0; o < M; ++o)
    for (int64_t i = 0; i < C; ++i)
      for (int64_t k = 0; k < 9; ++k) {
        double s = 0;
        for (int64_t a = 0; a < r2; ++a)
          for (int64_t b = 0; b < r1; ++b) s += uo.ptr<float>()[o * r2 + a] * ui.ptr<float>()[i * r1 + b] * core.ptr<float>()[(a * r1 + b) * 9 + k];
        w.ptr<float>()[(o * C + i) * 9 + k] = static_cast<float>(s);
      }
  Model m = single_node_model("Conv", {in(random_tensor({1, C, 12, 12}, 14)), cst(w), cst(random_tensor({M}, 15))},
                              {{"pads", attr_ints({1, 1, 1, 1})}, {"strides", attr_ints({2, 2})}});
  Model f = m;
  PassContext ctx;
  StepParams p;
  p.where = "t";
  p.values["energy"] = "1.0";
  run_pass("lowrank", f, p, ctx);
  ASSERT_EQ(f.graph.nodes.size(), 3u);
  EXPECT_EQ(shape_str(f.graph.initializers.at("lr0_core").shape()), "[4,3,3,3]");
  Tensor x = random_tensor({1, C, 12, 12}, 16);
  auto a = run_model(m, {x}), b = run_model(f, {x});
  EXPECT_LT(diff_over_range(a[0], b[0]), 1e-4);
}

TEST(Share, KmeansFindsKnownClusters) {
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.f, 0.01f);
  const float centers[3] = {-0.5f, 0.1f, 0.7f};
  Tensor w(DType::f32, {3000});
  for (int i = 0; i < 3000; ++i) w.ptr<float>()[i] = centers[i % 3] + noise(rng);
  w.ptr<float>()[7] = 0.f;  // a pruned weight stays zero
  std::vector<float> c = kmeans_share(w, 3);
  ASSERT_EQ(c.size(), 3u);
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(c[static_cast<size_t>(j)], centers[j], 0.002);
  EXPECT_EQ(w.ptr<float>()[7], 0.f);
  std::set<float> distinct;
  for (int i = 0; i < 3000; ++i) distinct.insert(w.ptr<float>()[i]);
  EXPECT_EQ(distinct.size(), 4u);  // three centroids and the zero
  EXPECT_EQ(rank_for_energy(Eigen::Vector3f(3, 2, 1), 0.9), 2);  // 13/14 > 0.9 > 9/14
}

TEST(Archive, HuffmanLengthsAreOptimalAndPrefixFree) {
  // classic example: frequencies 45 13 12 16 9 5 -> lengths 1 3 3 3 4 4 (total 224 bits)
  auto len = huffman_lengths({45, 13, 12, 16, 9, 5});
  uint64_t bits = 0;
  const uint64_t f[6] = {45, 13, 12, 16, 9, 5};
  double kraft = 0;
  for (size_t i = 0; i < 6; ++i) {
    bits += f[i] * len[i];
    kraft += std::pow(2.0, -len[i]);
  }
  EXPECT_EQ(bits, 224u);
  EXPECT_DOUBLE_EQ(kraft, 1.0);
  EXPECT_EQ(huffman_lengths({0, 7, 0})[1], 1);  // a lone symbol still gets one bit
}

TEST(Archive, PackUnpackIsBitExactAndSmaller) {
  Tensor w1 = random_tensor({512, 300}, 1), w2 = random_tensor({300, 10}, 2);
  Model m = mlp(w1, w2);
  PassContext ctx;
  StepParams prune;
  prune.where = "t";
  prune.values["sparsity"] = "0.9";
  run_pass("prune", m, prune, ctx);
  StepParams share;
  share.where = "t";
  share.values["bits"] = "4";
  run_pass("share", m, share, ctx);
  const std::string onnx = to_onnx_bytes(m);
  ArchiveStats st;
  const std::string a = pack_archive(m, &st);
  EXPECT_EQ(st.coded_tensors, 2u);
  EXPECT_LT(a.size() * 10, onnx.size()) << "90% sparse, 4-bit: over 10x smaller than float ONNX";
  Model back = load_onnx_bytes(a, "mem.ecz");  // the loader takes archives too
  EXPECT_EQ(to_onnx_bytes(back), onnx);
  for (size_t cut : {a.size() / 2, a.size() - 3, size_t{20}}) {
    try {
      unpack_archive(a.substr(0, cut), "cut.ecz");
      FAIL() << "cut at " << cut;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.ecz"), std::string::npos) << e.what();
    }
  }
}
