// The live pipeline: Source -> per variant the VariantRunner (Preprocess -> Engine::run -> Decoder) ->
// agreement with the reference -> OutputStage (overlay into a fixed canvas -> Sink), with a SessionRecorder
// tapping every stage, a PowerSampler whose samples VariantEnergy joins to the inference windows
// (energy_attribution.h), VariantStats for the figures and a LiveView for monitoring. Pipeline::run is the
// loop that calls these parts in order.
#pragma once
#include <atomic>
#include <functional>
#include <mutex>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "decode.h"
#include "live_view.h"
#include "metrics.h"
#include "preprocess.h"
#include "sampler.h"
#include "sink.h"
#include "source.h"

namespace ec {

struct VariantConfig {
  std::string name;                 // label in the overlay and sessions
  std::string model;                // ONNX path
  std::string backend = "native";   // native | opencv
  std::string device = "cpu";       // opencv: cpu | cuda | cuda_fp16
  int threads = 2;
  bool enabled = true;
  bool reference = false;           // the others are scored against this one on the same frames (default: the first)
  Shape shape;                      // input shape for models with dynamic dims (empty: the model's)
  PreprocessSpec input;
  DecoderOptions decoder;
};

struct RunConfig {
  std::string source_uri;
  SourceOptions source;
  std::vector<VariantConfig> variants;
  std::string sink_uri = "display://0";
  SinkOptions sink;
  std::string layout = "side-by-side";  // side-by-side | grid | overlay
  int max_width = 2560;                 // output width limit, pixels
  int64_t max_frames = 0;               // 0: until the end of the stream
  double duration_s = 0;                // 0: no limit
  bool record = false;
  std::string sessions_root = "sessions";
  std::string session_name = "run";
  std::string session_dir;              // exact folder (overrides root/name)
  double session_max_mb = 0;            // recording stops (the run goes on) past this many MB; 0: no limit
  double baseline_s = 1.0;              // idle power measured before the first frame (with a sensor)
  std::string config_yaml;              // the resolved config, saved in the session
  bool quiet = false;                   // no progress lines on stderr
};

class Pipeline {
 public:
  // `sampler` may be null (no power sensor): the overlay and sessions then say "n/a" and `power_note` why.
  Pipeline(RunConfig cfg, std::unique_ptr<power::PowerSampler> sampler, std::string power_note);
  ~Pipeline();
  // Runs until the end of the stream, max_frames, duration_s or request_stop(); returns summary.json's
  // content. Throws ec::Error for fatal problems (source cannot open, damaged file, full disk) after
  // closing the output and writing what the session has.
  nlohmann::json run();

  // Safe from signal handlers and other threads.
  void request_stop() { stop_ = true; }
  void request_reload() { reload_ = true; }
  void request_toggle(int variant) { toggle_ = variant; }
  void request_next_layout() { next_layout_ = true; }

  // Called on request_reload(): returns the new config. Throwing keeps the old config (message printed).
  std::function<RunConfig()> reload_config;
  // The session folder ("" when not recording).
  std::string session_dir() const;

  // For monitoring, safe from other threads: Prometheus metrics, a live status (refreshed about four times
  // a second) and the newest overlay frame as JPEG (`seq` increases with every new frame; false before the
  // first). Asking for the JPEG makes the loop draw and encode the overlay for the next 2 s even when the
  // output is none://.
  const RunMetrics& metrics() const { return metrics_; }
  nlohmann::json status() const;
  bool latest_jpeg(std::vector<unsigned char>& jpeg, uint64_t& seq);
  // The newest overlay JPEG's sequence number without a copy (0 before the first); marks the view watched.
  uint64_t jpeg_seq();

 private:
  struct Variant;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_{false}, reload_{false}, next_layout_{false};
  std::atomic<int> toggle_{-1};
  RunMetrics metrics_;
  LiveView live_;
};

}  // namespace ec
