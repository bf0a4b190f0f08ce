// Models that store float16 weights (the fp16 recipe) on the native engine, on real Megamind.avi frames:
// their weight Casts fold so every convolution runs on XNNPACK, and where XNNPACK has float16 kernels for
// this CPU (ARMv8.2 FEAT_FP16: qemu -cpu max in the arm64 lane) they run in float16 arithmetic; elsewhere
// (x86, the Cortex-A57) in float32, and asking for fp16 there is a one-line error.
#include <gtest/gtest.h>

#include <cmath>

#include "frames.h"
#include "helpers.h"
#include "onnx_io.h"
#include "pass.h"
#include "xnn.h"

using namespace ec;
using namespace ec::test;

namespace {

// The model at models/<file> after the fp16 recipe step (weights stored as float16, Cast to float32).
Model fp16_model(const std::string& file) {
  Model m = load_onnx(models_dir() + "/" + file);
  compress::StepParams p;
  p.where = "test";
  compress::PassContext ctx;
  compress::run_pass("fp16", m, p, ctx);
  return m;
}

struct Outcome {
  std::vector<Tensor> out;
  std::string describe;
};

Outcome run_with(const Model& m, const Tensor& frame, const std::string& precision, int threads = 1, bool xnnpack = true) {
  EngineOptions o;
  o.threads = threads;
  o.precision = precision;
  o.xnnpack = xnnpack;
  auto e = create_engine("native", m, o);
  e->prepare({{m.graph.inputs[0].name, frame.shape()}});
  std::memcpy(e->input(0).data(), frame.data(), frame.size_bytes());
  e->run();
  Outcome r;
  for (size_t i = 0; i < e->num_outputs(); ++i) r.out.push_back(e->output(i).clone());
  r.describe = e->describe();
  return r;
}

// The best anchor over BlazeFace's two score outputs (0 and 1): output index * 1e6 + anchor index.
int64_t best_anchor(const std::vector<Tensor>& out) {
  int64_t best = -1;
  float v = -INFINITY;
  for (size_t o : {0, 1})
    for (int64_t i = 0; i < out[o].numel(); ++i)
      if (out[o].ptr<float>()[i] > v) {
        v = out[o].ptr<float>()[i];
        best = static_cast<int64_t>(o) * 1000000 + i;
      }
  return best;
}

}  // namespace

TEST(Fp16, WeightCastsFoldSoConvolutionsRunOnXnnpack) {
  Model m = fp16_model("blazeface128.onnx");
  auto frames = blazeface_frames(models_dir() + "/Megamind.avi", 128, 40, 3);
  ASSERT_EQ(frames.size(), 3u) << "Megamind.avi not readable: run scripts/setup.sh";
  for (const Tensor& f : frames) {
    Outcome ref = run_with(m, f, "fp32", 1, false);  // reference kernels: the Casts run as constant folding
    Outcome fast = run_with(m, f, "fp32");
    if (xnnpack_available()) {
      EXPECT_EQ(fast.describe.rfind("XNNPACK NHWC", 0), 0u) << fast.describe;
      EXPECT_EQ(fast.describe.find("float16"), std::string::npos) << fast.describe;
    }
    if (!cpu_has_fp16_arith()) {  // auto keeps float32 where the CPU has no float16 arithmetic, and says why
      Outcome aut = run_with(m, f, "auto");
      EXPECT_NE(aut.describe.find("float32 arithmetic on float16 weights"), std::string::npos) << aut.describe;
      for (size_t o = 0; o < ref.out.size(); ++o) EXPECT_LE(diff_over_range(ref.out[o], aut.out[o]), 1e-4) << "auto, output " << o;
    }
    ASSERT_EQ(ref.out.size(), fast.out.size());
    for (size_t o = 0; o < ref.out.size(); ++o) EXPECT_LE(diff_over_range(ref.out[o], fast.out[o]), 1e-4) << "output " << o;
  }
}

TEST(Fp16, XnnpackFloat16MatchesTheCpu) {
  if (!xnnpack_available()) GTEST_SKIP() << xnnpack_status();
#if defined(__aarch64__)
  // Debian's XNNPACK has float16 kernels for ARMv8.2 FEAT_FP16: the library and the kernel's hwcaps agree
  EXPECT_EQ(xnnpack_fp16_available(), cpu_has_fp16_arith()) << xnnpack_fp16_status() << "; " << cpu_fp16_features();
#endif
  if (!xnnpack_fp16_available()) {
    EXPECT_FALSE(xnnpack_fp16_status().empty());
  }
}

TEST(Fp16, Float16ArithmeticWhereTheCpuHasIt) {
  Model m16 = fp16_model("blazeface128.onnx");
  auto frames = blazeface_frames(models_dir() + "/Megamind.avi", 128, 10, 27);
  ASSERT_EQ(frames.size(), 27u) << "Megamind.avi not readable: run scripts/setup.sh";
  if (!xnnpack_fp16_available()) {
    // auto falls back to float32 and says why; an explicit fp16 request is an error naming the reason
    Outcome r = run_with(m16, frames[0], "auto");
    EXPECT_NE(r.describe.find("float32 arithmetic on float16 weights"), std::string::npos) << r.describe;
    try {
      run_with(m16, frames[0], "fp16");
      ADD_FAILURE() << "precision fp16 ran without float16 kernels";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("precision fp16"), std::string::npos) << e.what();
    }
    GTEST_SKIP() << "no float16 kernels here: " << xnnpack_fp16_status();
  }
  // BlazeFace in float16: every convolution, Add, MaxPool and Pad. Where the CPU has float16 arithmetic
  // (FEAT_FP16) auto takes it; elsewhere fp16 is asked for, and XNNPACK computes in float32 rounding each
  // result to float16. Against float32 on the same weights: the best anchor is the same on every frame, and
  // outputs stay within three float16 unit roundoffs (2^-11) per convolution layer of each output's range
  // (native float16 kernels also accumulate in float16), and the face's score within 0.02.
  const bool native16 = cpu_has_fp16_arith();
  int convs = 0;
  for (const Node& n : m16.graph.nodes) convs += n.op_type == "Conv";
  const double tol = 3.0 * convs * std::ldexp(1.0, -11);
  double worst = 0;
  int same_anchor = 0;
  for (size_t f = 0; f < frames.size(); ++f) {
    Outcome r32 = run_with(m16, frames[f], "fp32");
    Outcome r16 = run_with(m16, frames[f], native16 ? "auto" : "fp16", f % 2 ? 2 : 1);
    EXPECT_NE(r16.describe.find("float16 arithmetic on"), std::string::npos) << r16.describe;
    ASSERT_EQ(r16.out.size(), r32.out.size());
    for (size_t o = 0; o < r32.out.size(); ++o) {
      ASSERT_EQ(r16.out[o].dtype(), DType::f32);
      const double d = diff_over_range(r32.out[o], r16.out[o]);
      worst = std::max(worst, d);
      EXPECT_LE(d, tol) << "frame " << f << " output " << o;
    }
    const int64_t a32 = best_anchor(r32.out), a16 = best_anchor(r16.out);
    same_anchor += a32 == a16;
    auto score = [&](const std::vector<Tensor>& out) {
      const float logit = out[static_cast<size_t>(a32 / 1000000)].ptr<float>()[a32 % 1000000];
      return 1.0 / (1.0 + std::exp(-static_cast<double>(logit)));
    };
    EXPECT_NEAR(score(r16.out), score(r32.out), 0.02) << "frame " << f;
  }
  EXPECT_EQ(same_anchor, static_cast<int>(frames.size()));
  // and not bit-identical to float32: the float16 kernels really ran
  EXPECT_GT(worst, 0.0);
  std::printf("[ fp16     ] %s: worst |fp16 - fp32| / range over %zu frames %.2e (bound %.2e, %d convolutions)\n",
              native16 ? "native float16 arithmetic" : "float16 kernels on float32 arithmetic", frames.size(), worst, tol, convs);
  // the float32 model asked for fp16 runs in float16 too (weights rounded at packing)
  Model m32 = load_onnx(models_dir() + "/blazeface128.onnx");
  Outcome forced = run_with(m32, frames[0], "fp16");
  EXPECT_NE(forced.describe.find("float16 arithmetic on"), std::string::npos) << forced.describe;
}

TEST(Fp16, UnknownPrecisionIsAnError) {
  Model m = load_onnx(models_dir() + "/blazeface128.onnx");
  EngineOptions o;
  o.precision = "fp8";
  try {
    create_engine("native", m, o);
    ADD_FAILURE() << "precision fp8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("precision 'fp8' is not known"), std::string::npos) << e.what();
  }
}
