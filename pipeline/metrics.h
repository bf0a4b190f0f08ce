// Live metrics of a run for monitoring: cumulative Prometheus counters and histograms per variant, power
// per rail, and the text exposition format (version 0.0.4). Thread-safe: the pipeline thread records, the
// HTTP threads render.
#pragma once
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "stats.h"

namespace ec {

// A cumulative histogram with fixed upper bounds (seconds).
struct Histogram {
  std::vector<double> bounds;     // le, ascending; +Inf is implicit
  std::vector<uint64_t> counts;   // per bound, not cumulative (rendered cumulatively)
  uint64_t count = 0;
  double sum = 0;
  explicit Histogram(std::vector<double> b = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2})
      : bounds(std::move(b)), counts(bounds.size(), 0) {}
  void observe(double v);
};

struct VariantMetrics {
  std::string model, backend;
  int threads = 0;
  size_t model_bytes = 0;
  uint64_t frames = 0, detections_total = 0;
  int last_detections = 0;
  double inference_fps = 0;  // engine-only, 1 / median inference time
  Histogram inference, e2e;
  LogHistogram inference_ms, e2e_ms;  // the run's quantiles (within 1 %), as summary.json has them
  double energy_j_total = 0, energy_per_inference_j = -1;  // -1: unknown
  uint64_t energy_inferences = 0;
  std::string quality_ref;  // "" until scored against a reference variant
  double map50 = NAN, mean_iou = NAN, top1_agreement = NAN;
};

struct RailMetrics {
  double volts = 0, amps = 0, watts = 0;
  bool valid = false;
  bool total = false;
};

class RunMetrics {
 public:
  // Static labels of the build ({"version": "0.1.0", ...}).
  void set_build(std::map<std::string, std::string> b);
  void set_variant_info(const std::string& name, const std::string& model, const std::string& backend, int threads, size_t bytes);
  // One inference of `variant`: latencies in ms, detections found.
  void record(const std::string& variant, double infer_ms, double e2e_ms, int detections, double inference_fps);
  void record_energy(const std::string& variant, double gross_j);
  // Agreement with the reference variant so far (NAN where it does not apply).
  void set_quality(const std::string& variant, const std::string& reference, double map50, double mean_iou, double top1_agreement);
  void set_pipeline(double fps, long long dropped, uint64_t frames);
  void set_power(const std::string& sensor, bool replay, const std::map<std::string, RailMetrics>& rails, double board_w);
  // The Prometheus text exposition of everything above.
  std::string prometheus_text() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> build_;
  std::map<std::string, VariantMetrics> variants_;
  double pipeline_fps_ = 0;
  long long dropped_ = 0;
  uint64_t frames_ = 0;
  std::string sensor_;
  bool replay_ = false;
  std::map<std::string, RailMetrics> rails_;
  double board_w_ = -1;
};

// Escapes a Prometheus label value.
std::string prom_escape(const std::string& s);

}  // namespace ec
