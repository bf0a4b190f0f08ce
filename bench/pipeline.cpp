// Pipeline cost at 720p: BlazeFace-128 (native, 2 threads) engine-only throughput against the whole
// pipeline (GStreamer file decode -> BGR frame -> OpenCV preprocess -> engine -> decoder; display off,
// none://), per-stage latencies, 3 alternating repeats, ratio from the same run.
//   ./build/bench/bench_pipeline [frames]    (run from the repository root after scripts/setup.sh)
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "engine.h"
#include "onnx_io.h"
#include "preprocess.h"
#include "runner.h"

using namespace ec;

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

VariantConfig variant() {
  VariantConfig v;
  v.name = "blazeface128";
  v.model = "models/blazeface128.onnx";
  v.backend = "native";
  v.threads = std::getenv("EC_BENCH_THREADS") ? std::atoi(std::getenv("EC_BENCH_THREADS")) : 2;
  v.input.scale = 1 / 127.5;
  v.input.mean = {1, 1, 1};
  v.decoder.type = "blazeface";
  v.decoder.score_threshold = 0.75f;
  return v;
}

double engine_only_fps(int iters) {
  Model m = load_onnx("models/blazeface128.onnx");
  EngineOptions o;
  o.threads = std::getenv("EC_BENCH_THREADS") ? std::atoi(std::getenv("EC_BENCH_THREADS")) : 2;
  auto e = create_engine("native", m, o);
  e->prepare({});
  for (int64_t i = 0; i < e->input(0).numel(); ++i) e->input(0).ptr<float>()[i] = static_cast<float>(i % 255) / 127.5f - 1;
  for (int i = 0; i < 20; ++i) e->run();
  const double t0 = now_ms();
  for (int i = 0; i < iters; ++i) e->run();
  return iters / ((now_ms() - t0) / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  // Same OpenMP wait policy as `edgecompress run` (see app/main.cpp); libgomp reads it at load time.
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv("/proc/self/exe", argv);
  }
  std::printf("OMP_WAIT_POLICY=%s\n", std::getenv("OMP_WAIT_POLICY"));
  const int frames = argc > 1 ? std::atoi(argv[1]) : 270;
  const std::string video = "/tmp/ec-bench-720p.mkv";
  struct stat st {};
  if (stat(video.c_str(), &st) != 0) {
    std::printf("making %s (Megamind.avi scaled to 1280x720, H.264)\n", video.c_str());
    const std::string cmd =
        "gst-launch-1.0 -q filesrc location=models/Megamind.avi ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=1280,height=720 ! "
        "x264enc speed-preset=ultrafast ! h264parse ! matroskamux ! filesink location=" + video;
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "cannot make the 720p clip\n");
      return 1;
    }
  }
  // Two 720p sources: the H.264 file (software decode competes with the engine for the CPU cores) and a
  // synthetic non-live videotestsrc (frames made almost for free), which isolates the pipeline's own cost.
  const std::string synthetic = "gst://videotestsrc pattern=ball num-buffers=" + std::to_string(frames + 10) +
                                " ! video/x-raw,format=BGR,width=1280,height=720,framerate=1000/1 ! appsink";
  for (const std::string& src : {video, synthetic}) {
  std::vector<double> eng, pipe, ratio, own;
  nlohmann::json last;
  for (int rep = 0; rep < 3; ++rep) {
    eng.push_back(engine_only_fps(frames));
    RunConfig rc;
    rc.source_uri = src;
    rc.variants = {variant()};
    rc.sink_uri = "none://";
    rc.max_frames = frames;
    rc.quiet = true;
    rc.baseline_s = 0;
    Pipeline p(rc, nullptr, "off");
    last = p.run();
    pipe.push_back(last["session"]["pipeline_fps"].get<double>());
    ratio.push_back(pipe.back() / eng.back());
    // the loop's own work besides inference, as a share of the loop (means over frames)
    const double loop = last["stages_ms"]["loop"]["mean"].get<double>(), inf = last["variants"][0]["latency_ms"]["inference"]["mean"].get<double>();
    own.push_back(1 - inf / loop);
  }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("\nsource: %s\nBlazeFace-128 native, 2 threads, 720p, display off (none://), %d frames x 3 repeats, %u CPUs\n",
              src.rfind("gst://", 0) == 0 ? "synthetic videotestsrc 1280x720 (non-live)" : "720p H.264 file (software decode)", frames,
              std::thread::hardware_concurrency());
  std::printf("engine-only   %.1f FPS (median; runs %.1f / %.1f / %.1f)\n", med(eng), eng[0], eng[1], eng[2]);
  std::printf("pipeline      %.1f FPS (median; runs %.1f / %.1f / %.1f)\n", med(pipe), pipe[0], pipe[1], pipe[2]);
  std::printf("pipeline / engine-only = %.3f (median of per-repeat ratios) -> pipeline cost %.1f%% of engine-only throughput\n", med(ratio),
              100 * (1 - med(ratio)));
  std::printf("per-stage latency of the last repeat, ms (p50 / p95):\n");
  auto stage = [&](const char* name, const nlohmann::json& d) {
    if (!d.is_null()) std::printf("  %-14s %7.3f / %7.3f\n", name, d["p50"].get<double>(), d["p95"].get<double>());
  };
  stage("capture read", last["stages_ms"]["capture_read"]);
  stage("preprocess", last["variants"][0]["latency_ms"]["preprocess"]);
  stage("inference", last["variants"][0]["latency_ms"]["inference"]);
  stage("decode", last["variants"][0]["latency_ms"]["decode"]);
  stage("overlay", last["stages_ms"]["overlay"]);
  stage("output", last["stages_ms"]["output"]);
  stage("whole loop", last["stages_ms"]["loop"]);
  std::printf("loop time outside inference (read + preprocess + decode + overlay + output): %.1f%% of the loop (median)\n", 100 * med(own));
  }
  return 0;
}
