// The variant runner: one model variant as the pipeline and `eval` run it — preprocess (OpenCV) → engine →
// task decoder, with the time of each stage. Loading reads the model's size, parameter count and the recipe
// that made it (edgecompress metadata).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "decode.h"
#include "engine.h"
#include "preprocess.h"

namespace ec {

// What to load and how to feed and read it.
struct RunnerSpec {
  std::string model;               // ONNX path
  std::string backend = "native";  // native | native-ref | opencv
  std::string device = "cpu";      // opencv: cpu | cuda | cuda_fp16
  int threads = 2;
  Shape shape;                     // input shape for models with symbolic dims (empty: the model's own)
  bool yield_threads = false;      // engine workers sleep between runs (live pipelines share the cores)
  PreprocessSpec input;
  DecoderOptions decoder;
};

// Stage times of one run, milliseconds (steady clock).
struct StageTimes {
  double pre_ms = 0, infer_ms = 0, decode_ms = 0;
  double infer_start_ms = 0;  // when the engine started (steady clock): the window energy is attributed to
};

class VariantRunner {
 public:
  // Loads and prepares the model. Throws ec::Error naming the model (unreadable, not a single-input image
  // model) or the bad input/decoder setting.
  explicit VariantRunner(const RunnerSpec& spec);
  // Preprocesses `bgr` into the engine's input, runs the engine and decodes into `out` (cleared first).
  StageTimes run(const cv::Mat& bgr, Result& out);
  // The same from an input already preprocessed for this model (a tensor of the input's shape and type) and
  // its letterbox: `eval` preprocesses each frame once for several models of one input size.
  StageTimes run_preprocessed(const Tensor& input, const Letterbox& lb, Result& out);

  const RunnerSpec& spec() const { return spec_; }
  Engine& engine() { return *engine_; }
  const Preprocessor& preprocessor() const { return *pre_; }
  // The engine's outputs after the last run.
  std::vector<const Tensor*> outputs() const;
  size_t model_bytes() const { return model_bytes_; }  // file size
  int64_t params() const { return params_; }           // elements of all initializers
  const std::string& recipe() const { return recipe_; }  // "int8-full of models/x.onnx", "" for an original
  // True when `other` loads the same engine: same model file (path, size, modification time), backend,
  // device, threads and shape. Input and decoder settings may differ (they are cheap to rebuild).
  bool same_engine(const RunnerSpec& other) const;
  // Applies new input and decoder settings (and the rest of `spec`'s labels) around the loaded engine; the
  // caller checked same_engine(spec). Throws ec::Error for a bad setting, leaving the runner as it was.
  void reconfigure(const RunnerSpec& spec);
  // Throws what reconfigure(spec) would throw, changing nothing (a reload checks every variant first).
  void check_settings(const RunnerSpec& spec) const;

 private:
  StageTimes infer_and_decode(const Letterbox& lb, Result& out, double t_pre_ms);

  RunnerSpec spec_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Preprocessor> pre_;
  std::unique_ptr<Decoder> dec_;
  size_t model_bytes_ = 0;
  int64_t params_ = 0;
  int64_t model_mtime_ns_ = 0;
  std::string recipe_;
};

}  // namespace ec
