// The reference MLP on Fashion-MNIST (Debian's dataset-fashion-mnist): IDX loading, deterministic training
// that learns, and the Deep Compression pipeline (prune -> share -> Huffman archive) keeping accuracy.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>

#include "../engine/helpers.h"
#include "archive.h"
#include "mlp.h"
#include "onnx_io.h"
#include "pass.h"

using namespace ec;
using namespace ec::compress;

namespace {
const char* kData = "/usr/share/datasets/fashion-mnist";
}

bool have_data() { return std::ifstream(std::string(kData) + "/t10k-images-idx3-ubyte.gz").good(); }

TEST(Mlp, TrainsDeterministicallyAndCompressesWithLittleLoss) {
  if (!have_data()) GTEST_SKIP() << kData << " missing (Debian package dataset-fashion-mnist)";
  Dataset train = load_idx(kData, "train", 12000), test = load_idx(kData, "t10k", 2000);
  ASSERT_EQ(train.x.cols(), 784);
  EXPECT_EQ(train.y.size(), 12000u);
  EXPECT_LE(train.x.maxCoeff(), 1.f);
  MlpOptions o;
  o.hidden = {128, 64};
  o.epochs = 2;
  std::vector<double> losses;
  Model m = train_mlp(train, o, [&](int, double l) { losses.push_back(l); });
  ASSERT_EQ(losses.size(), 2u);
  EXPECT_LT(losses[1], losses[0]);
  const double acc = classification_accuracy(m, test);
  EXPECT_GT(acc, 0.78) << "2 epochs on 12k samples";  // chance is 0.10
  EXPECT_EQ(check_onnx(m), "");
  Model again = train_mlp(train, o, nullptr);
  EXPECT_EQ(to_onnx_bytes(again), to_onnx_bytes(m)) << "same seed, same model";
  // prune 50% + 4-bit sharing + Huffman: over 10x smaller, accuracy within 5 points (no retraining). The loss
  // depends on the trained weights, which depend on the order the compiler sums floats in: ~1 point in the
  // Release build, 4 points in the -O1 sanitizer build (0.8375 -> 0.7975 on these 2000 test images)
  PassContext ctx;
  StepParams prune, share;
  prune.where = share.where = "t";
  prune.values = {{"sparsity", "0.5"}, {"scope", "global"}};
  share.values = {{"bits", "4"}};
  Model c = m;
  run_pass("prune", c, prune, ctx);
  run_pass("share", c, share, ctx);
  const std::string ecz = pack_archive(c);
  EXPECT_LT(ecz.size() * 10, to_onnx_bytes(m).size());
  Model back = load_onnx_bytes(ecz, "mlp.ecz");
  EXPECT_GT(classification_accuracy(back, test), acc - 0.05);
}

TEST(Mlp, MissingOrBadDataIsNamed) {
  try {
    load_idx("/nonexistent", "train");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent: no train-images-idx3-ubyte"), std::string::npos) << e.what();
  }
  const std::string d = testing::TempDir() + "/idx-" + std::to_string(getpid());
  std::system(("mkdir -p '" + d + "' && printf 'garbage' > '" + d + "/t10k-images-idx3-ubyte' && printf 'x' > '" + d + "/t10k-labels-idx1-ubyte'").c_str());
  try {
    load_idx(d, "t10k");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an IDX image file"), std::string::npos) << e.what();
  }
}

// finetune (libtorch): after 90 % pruning, one epoch of training recovers accuracy, the pruned weights stay
// exactly +0 (so the archive still codes them as zeros), and the same seed gives the same model.
TEST(Mlp, FinetuneRecoversPrunedAccuracyAndKeepsZeros) {
  if (!have_data()) GTEST_SKIP() << kData << " missing (Debian package dataset-fashion-mnist)";
  if (!training_available())
    GTEST_SKIP() << "built without libtorch (libtorch-dev): finetune unavailable";
  Dataset train = load_idx(kData, "train", 12000), test = load_idx(kData, "t10k", 2000);
  MlpOptions o;
  o.hidden = {128, 64};
  o.epochs = 2;
  Model m = train_mlp(train, o, nullptr);
  PassContext ctx;
  StepParams prune;
  prune.where = "test";
  prune.values = {{"sparsity", "0.9"}, {"scope", "global"}};
  run_pass("prune", m, prune, ctx);
  const double pruned = classification_accuracy(m, test);
  auto zero_bits = [](const Model& x) {
    int64_t z = 0;
    for (auto& kv : x.graph.initializers)
      if (kv.second.dtype() == DType::f32)
        for (int64_t i = 0; i < kv.second.numel(); ++i) {
          uint32_t b;
          std::memcpy(&b, kv.second.ptr<float>() + i, 4);
          z += b == 0;
        }
    return z;
  };
  const int64_t zeros = zero_bits(m);
  StepParams ft;
  ft.where = "test";
  ft.values = {{"data", kData}, {"epochs", "1"}, {"max_samples", "12000"}, {"lr", "0.01"}};
  Model a = m, b = m;
  const std::string line = run_pass("finetune", a, ft, ctx);
  EXPECT_NE(line.find("kept at zero"), std::string::npos) << line;
  const double tuned = classification_accuracy(a, test);
  EXPECT_GT(tuned, pruned + 0.01) << "pruned " << pruned << " -> finetuned " << tuned;
  EXPECT_EQ(zero_bits(a), zeros) << "pruned weights must stay +0";
  run_pass("finetune", b, ft, ctx);
  EXPECT_TRUE(to_onnx_bytes(a) == to_onnx_bytes(b)) << "same seed, same model";

  // share-finetune after 4-bit sharing: the centroids move, each weight tensor keeps at most 16 distinct
  // non-zero values and its zeros, accuracy does not drop by more than 2 points (one epoch at lr 0.001 moves
  // it by -1.7 to +0.5 points depending on the build's float summation order; 2000 test images)
  StepParams share;
  share.where = "test";
  share.values = {{"bits", "4"}};
  run_pass("share", a, share, ctx);
  const double shared = classification_accuracy(a, test);
  const Model before = a;
  StepParams sft = ft;
  sft.values["lr"] = "0.001";
  const std::string sline = run_pass("share-finetune", a, sft, ctx);
  EXPECT_NE(sline.find("3 through shared centroids"), std::string::npos) << sline;
  int64_t moved = 0;
  for (auto& kv : a.graph.initializers)
    if (kv.second.rank() >= 2)
      for (int64_t i = 0; i < kv.second.numel(); ++i) moved += kv.second.ptr<float>()[i] != before.graph.initializers.at(kv.first).ptr<float>()[i];
  EXPECT_GT(moved, 0) << "the centroids must have moved";
  EXPECT_EQ(zero_bits(a), zero_bits(before));
  for (auto& kv : a.graph.initializers) {
    if (kv.second.rank() < 2) continue;
    std::set<float> values;
    for (int64_t i = 0; i < kv.second.numel(); ++i)
      if (kv.second.ptr<float>()[i] != 0.f) values.insert(kv.second.ptr<float>()[i]);
    EXPECT_LE(values.size(), 16u) << kv.first;
  }
  EXPECT_GE(classification_accuracy(a, test), shared - 0.02);
}
