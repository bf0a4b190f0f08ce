// The libtorch training steps on Fashion-MNIST (short versions of the reproduction in bench/training.sh):
// distillation beats labels alone for the same student, seeds and epochs; QAT keeps the QDQ graph and is at
// least as accurate as the PTQ it starts from; a resumed run gives the same bytes as a straight one; the
// small MobileNet trains with batch statistics; unsupported graphs and misuse give one-line errors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <opencv2/imgcodecs.hpp>

#include "../engine/helpers.h"
#include "mlp.h"
#include "onnx_io.h"
#include "pass.h"

using namespace ec;
using namespace ec::compress;

namespace {
const char* kData = "/usr/share/datasets/fashion-mnist";

bool have_data() { return std::ifstream(std::string(kData) + "/t10k-images-idx3-ubyte.gz").good(); }

#define REQUIRE_TRAINING()                                                                                     \
  do {                                                                                                         \
    if (!have_data()) GTEST_SKIP() << kData << " missing (Debian package dataset-fashion-mnist)";              \
    if (!training_available()) GTEST_SKIP() << "built without libtorch (libtorch-dev): training steps absent"; \
  } while (0)

StepParams params(std::map<std::string, std::string> v) {
  StepParams p;
  p.where = "test";
  p.values = std::move(v);
  return p;
}

std::string temp_dir(const std::string& name) {
  const std::string d = testing::TempDir() + "/ec-train-" + name + "-" + std::to_string(getpid());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace

// Hinton et al.'s experiment in small: a student trained on 1,000 labelled images with the soft targets of a
// teacher that saw 12,000 beats the same student (same initial weights, seed, epochs) trained on the labels.
TEST(Train, DistilledStudentBeatsLabelsAlone) {
  REQUIRE_TRAINING();
  Dataset train = load_idx(kData, "train", 12000), test = load_idx(kData, "t10k", 2000);
  MlpOptions to;
  to.hidden = {256, 128};
  to.epochs = 3;
  const Model teacher = train_mlp(train, to, nullptr);
  const std::string tpath = temp_dir("distill") + "/teacher.onnx";
  save_onnx(teacher, tpath);
  const Model student = mlp_untrained(784, {32}, 7);
  PassContext ctx;
  const std::map<std::string, std::string> common = {{"data", kData}, {"epochs", "5"}, {"max_samples", "1000"}, {"lr", "0.02"}, {"batch", "32"}, {"seed", "3"}};
  Model labels = student, distilled = student;
  run_pass("finetune", labels, params(common), ctx);
  auto dp = params(common);
  dp.values.insert({{"teacher", tpath}, {"temperature", "4"}, {"alpha", "0.9"}});
  const std::string line = run_pass("distill", distilled, dp, ctx);
  EXPECT_NE(line.find("loss soft-targets (T 4"), std::string::npos) << line;
  const double a_labels = classification_accuracy(labels, test), a_dist = classification_accuracy(distilled, test);
  const double a_teacher = classification_accuracy(teacher, test);
  std::printf("student on labels %.4f, distilled %.4f (teacher %.4f)\n", a_labels, a_dist, a_teacher);
  EXPECT_GT(a_dist, a_labels + 0.01) << "labels " << a_labels << ", distilled " << a_dist << ", teacher " << a_teacher;
  // a teacher that takes another input shape than the student is an error naming both
  Model cnn = lenet5_untrained(1);
  Model bad_student = mlp_untrained(10, {4}, 1);
  const std::string cpath = temp_dir("distill2") + "/cnn.onnx";
  save_onnx(cnn, cpath);
  auto bp = dp;
  bp.values["teacher"] = cpath;
  try {
    run_pass("distill", bad_student, bp, ctx);
    FAIL() << "a 10-value student must not train on 784-pixel data";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("784 pixels per sample, the model input takes 10"), std::string::npos) << e.what();
  }
}

// QAT after PTQ: the graph keeps its nodes and QDQ structure, weights stay int8 (with new per-channel scales),
// and accuracy is at least PTQ's; ONNX-valid.
TEST(Train, QatKeepsQdqAndIsAtLeastPtq) {
  REQUIRE_TRAINING();
  Dataset train = load_idx(kData, "train", 12000), test = load_idx(kData, "t10k", 2000);
  MlpOptions o;
  o.hidden = {64};
  o.epochs = 2;
  Model m = train_mlp(train, o, nullptr);
  PassContext ctx;
  for (int i = 0; i < 256; ++i) {
    Tensor t(DType::f32, {1, 784});
    std::memcpy(t.data(), train.x.data() + static_cast<int64_t>(i) * 784, t.size_bytes());
    ctx.calibration.push_back({t});
  }
  run_pass("quantize", m, params({{"method", "minmax"}, {"weights", "per-channel"}, {"activations", "all"}}), ctx);
  const Model ptq = m;
  const double a_ptq = classification_accuracy(ptq, test);
  const std::string line = run_pass("qat", m, params({{"data", kData}, {"epochs", "1"}, {"max_samples", "6000"}, {"lr", "0.005"}}), ctx);
  EXPECT_NE(line.find("2 int8 weight tensors re-quantized"), std::string::npos) << line;
  ASSERT_EQ(m.graph.nodes.size(), ptq.graph.nodes.size());
  for (size_t i = 0; i < m.graph.nodes.size(); ++i) EXPECT_EQ(m.graph.nodes[i].op_type, ptq.graph.nodes[i].op_type);
  int changed = 0;
  for (auto& kv : m.graph.initializers) {
    const Tensor& before = ptq.graph.initializers.at(kv.first);
    EXPECT_EQ(kv.second.dtype(), before.dtype()) << kv.first;
    EXPECT_EQ(kv.second.shape(), before.shape()) << kv.first;
    if (kv.second.dtype() == DType::i8 && kv.second.rank() == 2) {
      changed += std::memcmp(kv.second.data(), before.data(), kv.second.size_bytes()) != 0;
      int amax = 0;  // symmetric, each channel's largest weight on the grid's end
      for (int64_t i = 0; i < kv.second.numel(); ++i) amax = std::max(amax, std::abs(static_cast<int>(kv.second.ptr<int8_t>()[i])));
      EXPECT_EQ(amax, 127) << kv.first;
    }
  }
  EXPECT_EQ(changed, 2) << "both int8 weight tensors trained";
  EXPECT_EQ(check_onnx(m), "");
  const double a_qat = classification_accuracy(m, test);
  std::printf("PTQ %.4f, QAT %.4f\n", a_ptq, a_qat);
  EXPECT_GE(a_qat, a_ptq) << "PTQ " << a_ptq << ", QAT " << a_qat;
  // qat on a float model is an error that says what to do
  Model f = train_mlp(train, o, nullptr);
  try {
    run_pass("qat", f, params({{"data", kData}, {"max_samples", "100"}}), ctx);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("put `quantize` before `qat`"), std::string::npos) << e.what();
  }
}

// Checkpoints: 1 epoch with a checkpoint, then `resume` to 2 epochs, gives the bytes of 2 epochs straight;
// each epoch also leaves a loadable ONNX file.
TEST(Train, ResumedRunEqualsStraightRun) {
  REQUIRE_TRAINING();
  const std::string dir = temp_dir("ckpt");
  const Model start = mlp_untrained(784, {48}, 5);
  PassContext ctx;
  const std::map<std::string, std::string> common = {{"data", kData}, {"max_samples", "3000"}, {"lr", "0.02"}, {"seed", "9"}};
  Model straight = start, resumed = start;
  auto p2 = params(common);
  p2.values["epochs"] = "2";
  run_pass("finetune", straight, p2, ctx);
  auto p1 = params(common);
  p1.values["epochs"] = "1";
  p1.values["checkpoint"] = dir;
  Model first = start;
  run_pass("finetune", first, p1, ctx);
  ASSERT_TRUE(std::filesystem::exists(dir + "/finetune-epoch1.onnx"));
  EXPECT_EQ(to_onnx_bytes(load_onnx(dir + "/finetune-epoch1.onnx")), to_onnx_bytes(first));
  auto pr = p2;
  pr.values["checkpoint"] = dir;
  pr.values["resume"] = "1";
  const std::string line = run_pass("finetune", resumed, pr, ctx);  // starts from `start`, loads epoch 1
  EXPECT_NE(line.find("epochs 2-2"), std::string::npos) << line;
  EXPECT_TRUE(to_onnx_bytes(resumed) == to_onnx_bytes(straight)) << "resumed after epoch 1 must equal 2 epochs straight";
  EXPECT_FALSE(to_onnx_bytes(first) == to_onnx_bytes(straight));
  // a checkpoint of another model is refused with the file named
  Model other = mlp_untrained(784, {16}, 5);
  try {
    run_pass("finetune", other, pr, ctx);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("finetune.state.pt"), std::string::npos) << e.what();
  }
}

// The small MobileNet (depthwise-separable, BatchNormalization) trains from scratch with batch statistics:
// the running statistics leave their identity start and the model beats chance by far.
TEST(Train, SmallMobileNetTrainsWithBatchNorm) {
  REQUIRE_TRAINING();
  Model m = mobilenet_small_untrained(1);
  const Model before = m;
  PassContext ctx;
  const std::string line =
      run_pass("finetune", m, params({{"data", kData}, {"epochs", "1"}, {"max_samples", "6000"}, {"lr", "0.05"}, {"bn", "train"}}), ctx);
  EXPECT_NE(line.find("14 BN"), std::string::npos) << line;
  const Tensor &v0 = before.graph.initializers.at("pw3.bn.var"), &v1 = m.graph.initializers.at("pw3.bn.var");
  double diff = 0;
  for (int64_t i = 0; i < v0.numel(); ++i) diff += std::abs(v0.ptr<float>()[i] - v1.ptr<float>()[i]);
  EXPECT_GT(diff, 1.0) << "running variances must have moved";
  Dataset test = load_idx(kData, "t10k", 2000);
  std::printf("mobilenet-small after one epoch on 6k images: %.4f\n", classification_accuracy(m, test));
  EXPECT_GT(classification_accuracy(m, test), 0.6) << "one epoch on 6k images; chance is 0.1";
  EXPECT_EQ(check_onnx(m), "");
}

// Operators outside the bridge, and bad parameters, give one-line errors naming the node or the value.
TEST(Train, UnsupportedGraphsAndParametersAreNamed) {
  if (!training_available()) GTEST_SKIP() << "built without libtorch";
  Model m = mlp_untrained(784, {8}, 1);
  m.graph.nodes.insert(m.graph.nodes.begin(), Node{"odd", "Erf", "", {"images"}, {"images_erf"}, {}});
  m.graph.nodes[1].inputs[0] = "images_erf";
  PassContext ctx;
  try {
    run_pass("finetune", m, params({{"data", kData}, {"max_samples", "100"}}), ctx);
    FAIL();
  } catch (const Error& e) {
    const std::string w = e.what();
    if (!have_data()) EXPECT_NE(w.find(kData), std::string::npos) << w;
    else EXPECT_NE(w.find("node 'odd' (Erf): operator is not supported by the libtorch bridge"), std::string::npos) << w;
    EXPECT_EQ(w.find('\n'), std::string::npos) << w;
  }
  Model n = mlp_untrained(784, {8}, 1);
  for (auto [k, v, msg] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"optimizer", "rmsprop", "optimizer 'rmsprop' is not sgd or adam"}, {"bn", "maybe", "bn 'maybe' is not frozen or train"}}) {
    try {
      run_pass("finetune", n, params({{"data", kData}, {k, v}}), ctx);
      FAIL() << k;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
    }
  }
  try {
    run_pass("distill", n, params({{"data", "calibration"}}), ctx);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data: calibration needs the recipe's calibration source"), std::string::npos) << e.what();
  }
}

// Training on a labelled image folder (a subfolder per class): 40 PNGs per class written from the IDX data;
// an untrained MLP learns from them (the images are read, resized and scaled as the IDX samples are).
TEST(Train, LearnsFromAnImageFolder) {
  REQUIRE_TRAINING();
  Dataset train = load_idx(kData, "train", 2000), test = load_idx(kData, "t10k", 2000);
  const std::string dir = temp_dir("images");
  std::vector<int> per(10, 0);
  for (int64_t i = 0; i < train.x.rows(); ++i) {
    const int y = train.y[static_cast<size_t>(i)];
    if (per[static_cast<size_t>(y)] >= 40) continue;
    cv::Mat img(28, 28, CV_8U);
    for (int k = 0; k < 784; ++k) img.data[k] = static_cast<uint8_t>(std::lround(train.x(i, k) * 255.f));
    const std::string cls = dir + "/class" + std::to_string(y);
    std::filesystem::create_directories(cls);
    ASSERT_TRUE(cv::imwrite(cls + "/" + std::to_string(per[static_cast<size_t>(y)]++) + ".png", img));
  }
  Model m = mlp_untrained(784, {64}, 2);
  const double before = classification_accuracy(m, test);
  PassContext ctx;
  const std::string line = run_pass("finetune", m, params({{"data", "images:" + dir}, {"epochs", "8"}, {"lr", "0.02"}, {"batch", "16"}}), ctx);
  EXPECT_NE(line.find("400 images in 10 classes"), std::string::npos) << line;
  const double after = classification_accuracy(m, test);
  std::printf("MLP on 400 folder images: accuracy %.4f -> %.4f\n", before, after);
  EXPECT_GT(after, 0.6) << "untrained " << before;
  try {
    Model x = mlp_untrained(784, {8}, 1);
    run_pass("finetune", x, params({{"data", "images:" + dir + "/class0"}}), ctx);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no images (png, jpg, jpeg, bmp) in class subfolders"), std::string::npos) << e.what();
  }
}
