// Low-rank factorization, weight sharing and the Huffman-coded archive with known answers: SVD exact at
// the true rank, the MAC reduction a rank implies, Tucker-2 exact at the true multilinear rank, k-means on
// known clusters, canonical Huffman lengths, bit-exact archive round trips, damaged archives.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <cstring>
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

// Headers rewritten with hostile values (what a fuzzer tries first): each is a named ec::Error, never an
// out-of-range read, a huge reservation or an internal error. Offsets follow pack_archive's layout: magic,
// version, ONNX length and bytes, tensor count, then per tensor name, rank, dims, codebook, numel, entries,
// gap bits, and the two Huffman streams (alphabet, code lengths, bit count, bits).
TEST(Archive, HostileHeaderValuesAreNamedErrors) {
  Tensor w1 = random_tensor({64, 32}, 1), w2 = random_tensor({32, 10}, 2);
  Model m = mlp(w1, w2);
  PassContext ctx;
  StepParams share;
  share.where = "t";
  share.values["bits"] = "3";
  run_pass("share", m, share, ctx);
  const std::string a = pack_archive(m);
  ASSERT_NO_THROW(unpack_archive(a, "ok.ecz"));  // the untouched archive loads: the errors below are the edits'
  auto u64_at = [](std::string s, size_t off, uint64_t v) {
    std::memcpy(&s[off], &v, sizeof v);
    return s;
  };
  auto error_of = [](const std::string& bytes) -> std::string {
    try {
      unpack_archive(bytes, "bad.ecz");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  uint64_t onnx_len = 0;
  std::memcpy(&onnx_len, a.data() + 8, 8);
  const size_t first = 16 + onnx_len + 4;  // the first coded tensor
  uint16_t name_len = 0;
  std::memcpy(&name_len, a.data() + first, 2);
  const size_t rank_at = first + 2 + name_len;
  const uint8_t rank = static_cast<uint8_t>(a[rank_at]);
  const size_t book_at = rank_at + 1 + 8 * rank;
  uint16_t book = 0;
  std::memcpy(&book, a.data() + book_at, 2);
  const size_t numel_at = book_at + 2 + 4 * size_t{book}, entries_at = numel_at + 8;
  const size_t stream_at = entries_at + 8 + 1;
  uint16_t alphabet = 0;
  std::memcpy(&alphabet, a.data() + stream_at, 2);
  const size_t bits_at = stream_at + 2 + alphabet;

  EXPECT_NE(error_of(u64_at(a, 8, ~uint64_t{0} - 7)).find("truncated"), std::string::npos);  // ONNX length wraps pos + n
  std::string e = error_of(u64_at(a, bits_at, ~uint64_t{0}));  // (bits + 7) / 8 wraps to 0
  EXPECT_NE(e.find("more bits than the file holds"), std::string::npos) << e;
  e = error_of(u64_at(a, entries_at, uint64_t{1} << 62));  // reserve(2^62)
  EXPECT_NE(e.find("header is corrupt"), std::string::npos) << e;
  e = error_of(u64_at(a, rank_at + 1, uint64_t{1} << 40));  // a 2^40-row weight
  EXPECT_NE(e.find("--max-tensor-mb"), std::string::npos) << e;
  e = error_of(u64_at(a, rank_at + 1, static_cast<uint64_t>(-5)));
  EXPECT_NE(e.find("negative dimension -5"), std::string::npos) << e;
  e = error_of(u64_at(a, bits_at, 1));  // fewer bits than symbols
  EXPECT_NE(e.find("fewer bits than"), std::string::npos) << e;
}
