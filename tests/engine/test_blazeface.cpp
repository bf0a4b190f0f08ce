// The real BlazeFace models on real frames of Megamind.avi: native agrees with OpenCV DNN and with ONNX
// Runtime (../shared/peers/ort-peer) to 1e-4 of each output's range, and finds the face.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "frames.h"
#include "helpers.h"
#include "onnx_io.h"

using namespace ec;
using namespace ec::test;

namespace {

struct ModelCase {
  const char* file;
  int size;
};
const ModelCase kModels[] = {{"blazeface128.onnx", 128}, {"blazeface256.onnx", 256}};

bool exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}

Model load_or_skip(const std::string& file) { return load_onnx(models_dir() + "/" + file); }

}  // namespace

TEST(BlazeFace, NativeMatchesOpenCvOnRealFrames) {
  for (const ModelCase& mc : kModels) {
    SKIP_UNLESS_OPENCV_LOADS(models_dir() + "/" + mc.file);
    Model m = load_or_skip(mc.file);
    auto frames = blazeface_frames(models_dir() + "/Megamind.avi", mc.size, 45, 6);
    ASSERT_EQ(frames.size(), 6u) << "Megamind.avi not readable: run scripts/setup.sh";
    for (size_t f = 0; f < frames.size(); ++f) {
      auto nat = run_model(m, {frames[f]}, "native", 2);
      auto ocv = run_model(m, {frames[f]}, "opencv", 2);
      ASSERT_EQ(nat.size(), 4u);
      for (size_t o = 0; o < nat.size(); ++o) {
        ocv[o].reshape(nat[o].shape());  // OpenCV may drop or add unit dims
        EXPECT_LE(diff_over_range(ocv[o], nat[o]), 1e-4) << mc.file << " frame " << f << " output " << o;
      }
    }
  }
}

TEST(BlazeFace, FrontModelFindsTheFace) {
  Model m = load_or_skip("blazeface128.onnx");
  auto frames = blazeface_frames(models_dir() + "/Megamind.avi", 128, 10, 27);
  ASSERT_EQ(frames.size(), 27u);
  int hits = 0;
  for (auto& fr : frames) {
    auto out = run_model(m, {fr}, "native", 2);
    float best = -1e9f;
    for (int idx : {0, 1})
      for (int64_t i = 0; i < out[static_cast<size_t>(idx)].numel(); ++i) best = std::max(best, out[static_cast<size_t>(idx)].ptr<float>()[i]);
    hits += 1.f / (1.f + std::exp(-best)) > 0.75f;
  }
  EXPECT_GE(hits, 25) << "face score above 0.75 on " << hits << " of 27 frames";
  // and not on noise
  Tensor noise = random_tensor({1, 128, 128, 3}, 5);
  auto out = run_model(m, {noise}, "native", 1);
  float best = -1e9f;
  for (int idx : {0, 1})
    for (int64_t i = 0; i < out[static_cast<size_t>(idx)].numel(); ++i) best = std::max(best, out[static_cast<size_t>(idx)].ptr<float>()[i]);
  EXPECT_LT(1.f / (1.f + std::exp(-best)), 0.75f);
}

TEST(BlazeFace, NativeMatchesOnnxRuntimePeer) {
  const std::string peer = shared_dir() + "/peers/ort-peer";
  if (!exists(peer)) GTEST_SKIP() << "no ONNX Runtime peer at " << peer;
  for (const ModelCase& mc : kModels) {
    Model m = load_or_skip(mc.file);
    auto frames = blazeface_frames(models_dir() + "/Megamind.avi", mc.size, 90, 2);
    ASSERT_EQ(frames.size(), 2u);
    for (size_t f = 0; f < frames.size(); ++f) {
      char tmpl[] = "/tmp/ec-ort-XXXXXX";
      ASSERT_NE(mkdtemp(tmpl), nullptr);
      std::string dir = tmpl;
      {
        std::ofstream in(dir + "/in.f32", std::ios::binary);
        in.write(static_cast<const char*>(frames[f].data()), static_cast<std::streamsize>(frames[f].size_bytes()));
      }
      std::string cmd = "'" + peer + "' '" + models_dir() + "/" + mc.file + "' --threads 1 --runs 1 --warmup 0 --input '" + dir +
                        "/in.f32' --dump '" + dir + "/out' > '" + dir + "/log' 2>&1";
      int rc = std::system(cmd.c_str());
      if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3) GTEST_SKIP() << "ort-peer could not install onnxruntime-node (exit 3)";
      ASSERT_EQ(rc, 0) << cmd;
      auto nat = run_model(m, {frames[f]}, "native", 1);
      for (size_t o = 0; o < nat.size(); ++o) {
        std::ifstream bin(dir + "/out/" + std::to_string(o) + ".f32", std::ios::binary);
        std::stringstream ss;
        ss << bin.rdbuf();
        std::string bytes = ss.str();
        ASSERT_EQ(bytes.size(), nat[o].size_bytes()) << "output " << o;
        Tensor ort(DType::f32, nat[o].shape());
        std::memcpy(ort.data(), bytes.data(), bytes.size());
        EXPECT_LE(diff_over_range(ort, nat[o]), 1e-4) << mc.file << " frame " << f << " output " << o;
      }
      std::system(("rm -rf '" + dir + "'").c_str());
    }
  }
}
