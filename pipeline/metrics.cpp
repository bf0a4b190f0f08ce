#include "metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ec {

void Histogram::observe(double v) {
  for (size_t i = 0; i < bounds.size(); ++i)
    if (v <= bounds[i]) {
      ++counts[i];
      break;
    }
  ++count;
  sum += v;
}

std::string prom_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '\\' || c == '"') r += '\\';
    if (c == '\n') {
      r += "\\n";
      continue;
    }
    r += c;
  }
  return r;
}

void RunMetrics::set_build(std::map<std::string, std::string> b) {
  std::lock_guard<std::mutex> l(mu_);
  build_ = std::move(b);
}

void RunMetrics::set_variant_info(const std::string& name, const std::string& model, const std::string& backend, int threads, size_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  VariantMetrics& v = variants_[name];
  v.model = model;
  v.backend = backend;
  v.threads = threads;
  v.model_bytes = bytes;
}

void RunMetrics::record(const std::string& variant, double infer_ms, double e2e_ms, int detections, double fps) {
  std::lock_guard<std::mutex> l(mu_);
  VariantMetrics& v = variants_[variant];
  ++v.frames;
  v.inference.observe(infer_ms / 1000.0);
  v.e2e.observe(e2e_ms / 1000.0);
  v.inference_ms.add(infer_ms);
  v.e2e_ms.add(e2e_ms);
  v.last_detections = detections;
  v.detections_total += static_cast<uint64_t>(detections);
  v.inference_fps = fps;
}

void RunMetrics::set_quality(const std::string& variant, const std::string& reference, double map50, double mean_iou, double top1) {
  std::lock_guard<std::mutex> l(mu_);
  VariantMetrics& v = variants_[variant];
  v.quality_ref = reference;
  v.map50 = map50;
  v.mean_iou = mean_iou;
  v.top1_agreement = top1;
}

void RunMetrics::record_energy(const std::string& variant, double gross_j) {
  std::lock_guard<std::mutex> l(mu_);
  VariantMetrics& v = variants_[variant];
  v.energy_j_total += gross_j;
  ++v.energy_inferences;
  v.energy_per_inference_j = v.energy_j_total / static_cast<double>(v.energy_inferences);
}

void RunMetrics::set_pipeline(double fps, long long dropped, uint64_t frames) {
  std::lock_guard<std::mutex> l(mu_);
  pipeline_fps_ = fps;
  dropped_ = dropped;
  frames_ = frames;
}

void RunMetrics::set_power(const std::string& sensor, bool replay, const std::map<std::string, RailMetrics>& rails, double board_w) {
  std::lock_guard<std::mutex> l(mu_);
  sensor_ = sensor;
  replay_ = replay;
  rails_ = rails;
  board_w_ = board_w;
}

std::string RunMetrics::prometheus_text() const {
  std::lock_guard<std::mutex> l(mu_);
  std::string o;
  char b[512];
  auto line = [&](const std::string& name, const std::string& labels, double v) {
    std::snprintf(b, sizeof b, "%s%s %.9g\n", name.c_str(), labels.empty() ? "" : ("{" + labels + "}").c_str(), v);
    o += b;
  };
  auto head = [&](const char* name, const char* type, const char* help) { o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n"; };
  head("ec_build_info", "gauge", "Build of edgecompress (labels), always 1.");
  std::string bl;
  for (auto& kv : build_) bl += (bl.empty() ? "" : ",") + kv.first + "=\"" + prom_escape(kv.second) + "\"";
  line("ec_build_info", bl, 1);
  head("ec_model_info", "gauge", "Model variants of this run (labels), always 1.");
  for (auto& kv : variants_) {
    const VariantMetrics& v = kv.second;
    line("ec_model_info", "variant=\"" + prom_escape(kv.first) + "\",model=\"" + prom_escape(v.model) + "\",backend=\"" + prom_escape(v.backend) +
                              "\",threads=\"" + std::to_string(v.threads) + "\",size_bytes=\"" + std::to_string(v.model_bytes) + "\"",
         1);
  }
  head("ec_pipeline_fps", "gauge", "Frames per second through the whole loop (all variants).");
  line("ec_pipeline_fps", "", pipeline_fps_);
  head("ec_frames_total", "counter", "Frames processed by the pipeline.");
  line("ec_frames_total", "", static_cast<double>(frames_));
  head("ec_dropped_frames_total", "counter", "Frames a live source dropped because the pipeline was busy.");
  line("ec_dropped_frames_total", "", static_cast<double>(dropped_));
  head("ec_variant_frames_total", "counter", "Inferences per variant.");
  for (auto& kv : variants_) line("ec_variant_frames_total", "variant=\"" + prom_escape(kv.first) + "\"", static_cast<double>(kv.second.frames));
  head("ec_inference_fps", "gauge", "Engine-only inferences per second (1 / median inference latency).");
  for (auto& kv : variants_) line("ec_inference_fps", "variant=\"" + prom_escape(kv.first) + "\"", kv.second.inference_fps);
  for (const char* which : {"inference", "e2e"}) {
    const std::string name = std::string("ec_") + which + "_latency_seconds";
    head(name.c_str(), "histogram",
         std::string(which) == "inference" ? "Engine run time per inference." : "Capture to decoded result per frame and variant.");
    for (auto& kv : variants_) {
      const Histogram& h = std::string(which) == "inference" ? kv.second.inference : kv.second.e2e;
      const std::string vl = "variant=\"" + prom_escape(kv.first) + "\"";
      uint64_t cum = 0;
      for (size_t i = 0; i < h.bounds.size(); ++i) {
        cum += h.counts[i];
        std::snprintf(b, sizeof b, "%s_bucket{%s,le=\"%g\"} %llu\n", name.c_str(), vl.c_str(), h.bounds[i], static_cast<unsigned long long>(cum));
        o += b;
      }
      std::snprintf(b, sizeof b, "%s_bucket{%s,le=\"+Inf\"} %llu\n%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name.c_str(), vl.c_str(),
                    static_cast<unsigned long long>(h.count), name.c_str(), vl.c_str(), h.sum, name.c_str(), vl.c_str(),
                    static_cast<unsigned long long>(h.count));
      o += b;
    }
  }
  for (const char* which : {"inference", "e2e"}) {
    const std::string name = std::string("ec_") + which + "_latency_run_seconds";
    head(name.c_str(), "summary", "The run's latency quantiles per variant (streaming log histogram, within 1 %).");
    for (auto& kv : variants_) {
      const LogHistogram& h = std::string(which) == "inference" ? kv.second.inference_ms : kv.second.e2e_ms;
      const std::string vl = "variant=\"" + prom_escape(kv.first) + "\"";
      for (const char* q : {"0.5", "0.95", "0.99"}) line(name.c_str(), vl + ",quantile=\"" + q + "\"", h.quantile(std::atof(q)) / 1000.0);
      std::snprintf(b, sizeof b, "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name.c_str(), vl.c_str(), h.sum() / 1000.0, name.c_str(), vl.c_str(),
                    static_cast<unsigned long long>(h.count()));
      o += b;
    }
  }
  head("ec_quality_map50", "gauge", "mAP@0.5 of the variant's detections with the reference variant's as ground truth, since the start.");
  for (auto& kv : variants_)
    if (!kv.second.quality_ref.empty() && std::isfinite(kv.second.map50))
      line("ec_quality_map50", "variant=\"" + prom_escape(kv.first) + "\",reference=\"" + prom_escape(kv.second.quality_ref) + "\"", kv.second.map50);
  head("ec_quality_mean_iou", "gauge", "Mean IoU of the variant's boxes matched to the reference variant's.");
  for (auto& kv : variants_)
    if (!kv.second.quality_ref.empty() && std::isfinite(kv.second.mean_iou))
      line("ec_quality_mean_iou", "variant=\"" + prom_escape(kv.first) + "\",reference=\"" + prom_escape(kv.second.quality_ref) + "\"", kv.second.mean_iou);
  head("ec_quality_top1_agreement", "gauge", "Fraction of frames whose top-1 class equals the reference variant's (classifiers).");
  for (auto& kv : variants_)
    if (!kv.second.quality_ref.empty() && std::isfinite(kv.second.top1_agreement))
      line("ec_quality_top1_agreement", "variant=\"" + prom_escape(kv.first) + "\",reference=\"" + prom_escape(kv.second.quality_ref) + "\"",
           kv.second.top1_agreement);
  head("ec_detections", "gauge", "Detections on the last frame per variant.");
  for (auto& kv : variants_) line("ec_detections", "variant=\"" + prom_escape(kv.first) + "\"", kv.second.last_detections);
  head("ec_detections_total", "counter", "Detections per variant since the start.");
  for (auto& kv : variants_) line("ec_detections_total", "variant=\"" + prom_escape(kv.first) + "\"", static_cast<double>(kv.second.detections_total));
  head("ec_energy_per_inference_joules", "gauge", "Mean board energy per inference (gross) per variant.");
  for (auto& kv : variants_)
    if (kv.second.energy_per_inference_j >= 0) line("ec_energy_per_inference_joules", "variant=\"" + prom_escape(kv.first) + "\"", kv.second.energy_per_inference_j);
  head("ec_energy_joules_total", "counter", "Board energy attributed to each variant's inferences.");
  for (auto& kv : variants_)
    if (kv.second.energy_inferences) line("ec_energy_joules_total", "variant=\"" + prom_escape(kv.first) + "\"", kv.second.energy_j_total);
  const std::string sl = "sensor=\"" + prom_escape(sensor_) + "\",replay=\"" + (replay_ ? "true" : "false") + "\"";
  for (const char* q : {"volts", "amps", "watts"}) {
    const std::string name = std::string("ec_power_rail_") + q;
    head(name.c_str(), "gauge", (std::string("Latest ") + q + " per power rail.").c_str());
    for (auto& kv : rails_) {
      if (!kv.second.valid) continue;
      const double v = std::string(q) == "volts" ? kv.second.volts : std::string(q) == "amps" ? kv.second.amps : kv.second.watts;
      line(name, "rail=\"" + prom_escape(kv.first) + "\",total=\"" + (kv.second.total ? "true" : "false") + "\"," + sl, v);
    }
  }
  head("ec_power_board_watts", "gauge", "Board power: the total rail, never added to its parts.");
  if (board_w_ >= 0) line("ec_power_board_watts", sl, board_w_);
  return o;
}

}  // namespace ec
