#include "recorder.h"

#include <gst/gst.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <Eigen/Core>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <opencv2/core/version.hpp>
#include <thread>

#include "atomic_file.h"
#include "error.h"
#include "onnx_io.h"

namespace ec {
namespace {

void mkdirs(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty() && mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
        throw Error(cur + ": cannot create folder (" + std::strerror(errno) + ")");
    }
    if (i < path.size()) cur += path[i];
  }
}

std::string read_first_line(const std::string& path, char delim = '\n') {
  std::ifstream f(path);
  std::string s;
  if (f) std::getline(f, s, delim);
  while (!s.empty() && (s.back() == '\0' || s.back() == '\n')) s.pop_back();
  return s;
}

std::string csv_escape(const std::string& s) {
  std::string r = s;
  for (char& c : r)
    if (c == ',' || c == '"' || c == '\n') c = '_';
  return r;
}

}  // namespace

nlohmann::json device_info() {
  nlohmann::json j;
  std::ifstream cpu("/proc/cpuinfo");
  std::string line, model;
  while (std::getline(cpu, line))
    if (line.rfind("model name", 0) == 0 || line.rfind("Model", 0) == 0 || line.rfind("Hardware", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  j["cpu"] = model;
  j["cpus"] = std::thread::hardware_concurrency();
  j["board"] = read_first_line("/proc/device-tree/model", '\0');
  std::ifstream os("/etc/os-release");
  while (std::getline(os, line))
    if (line.rfind("PRETTY_NAME=", 0) == 0) j["os"] = line.substr(13, line.size() - 14);
  utsname u{};
  if (uname(&u) == 0) {
    j["kernel"] = std::string(u.release);
    j["arch"] = std::string(u.machine);
  }
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  j["host"] = host;
  j["versions"] = {{"edgecompress", EC_VERSION_STRING},
                   {"opencv", CV_VERSION},
                   {"gstreamer", std::to_string(GST_VERSION_MAJOR) + "." + std::to_string(GST_VERSION_MINOR) + "." + std::to_string(GST_VERSION_MICRO)},
                   {"eigen", std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." + std::to_string(EIGEN_MINOR_VERSION)},
                   {"onnx_max_opset", kMaxOpset},
                   {"compiler", std::string("gcc ") + __VERSION__}};
  return j;
}

SessionRecorder::SessionRecorder(const std::string& root, const std::string& name, const std::string& exact_dir, const std::string& config_yaml,
                                 const nlohmann::json& device, const power::PowerSensor* sensor) {
  if (!exact_dir.empty()) {
    dir_ = exact_dir;
  } else {
    char ts[32];
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    dir_ = root + "/" + ts + "-" + (name.empty() ? std::string("run") : name);
  }
  mkdirs(dir_);
  {
    std::FILE* f = open_file("config.yaml", config_yaml);
    std::fclose(f);
    f = open_file("device.json", device.dump(2) + "\n");
    std::fclose(f);
  }
  frames_ = open_file("frames.csv", "seq,variant,capture_ms,age_ms,pre_ms,infer_ms,decode_ms,e2e_ms,detections,overlay_ms,output_ms\n");
  dets_ = open_file("detections.jsonl", "");
  energy_ = open_file("energy.csv", "variant,seq,t0_ms,t1_ms,gross_mj,net_mj,coverage\n");
  events_ = open_file("events.csv", "t_s,kind,detail\n");
  if (sensor) {
    try {
      power_ = std::make_unique<power::PowerCsvWriter>(dir_ + "/power.csv", *sensor);
    } catch (const power::PowerError& e) {
      throw Error(e.what());
    }
  }
}

SessionRecorder::~SessionRecorder() {
  for (std::FILE* f : {frames_, dets_, energy_, events_})
    if (f) std::fclose(f);
}

std::FILE* SessionRecorder::open_file(const std::string& name, const std::string& header) {
  const std::string p = dir_ + "/" + name;
  std::FILE* f = std::fopen(p.c_str(), "w");
  if (!f) throw Error(p + ": cannot create (" + std::strerror(errno) + ")");
  if (!header.empty()) append(f, name, header);
  return f;
}

bool SessionRecorder::room_for(size_t n) {
  if (!stopped_.empty()) return false;
  if (limit_ == 0 || bytes_ + n <= limit_) return true;
  char why[160];
  std::snprintf(why, sizeof why, "session.max_mb %.6g reached (%llu bytes recorded); rows after that were not recorded",
                static_cast<double>(limit_) / 1e6, static_cast<unsigned long long>(bytes_));
  stopped_ = why;
  return false;
}

void SessionRecorder::append(std::FILE* f, const std::string& name, const std::string& text) {
  if (!room_for(text.size())) return;
  bytes_ += text.size();
  if (std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fflush(f) != 0)
    throw Error(dir_ + "/" + name + ": write failed (" + std::strerror(errno) + "); the session is complete up to the previous row");
}

void SessionRecorder::frame(const FrameRow& r) {
  append(frames_, "frames.csv",
         cv::format("%lld,%s,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%d,%.3f,%.3f\n", static_cast<long long>(r.seq), csv_escape(r.variant).c_str(),
                    r.capture_ms, r.age_ms, r.pre_ms, r.infer_ms, r.decode_ms, r.e2e_ms, r.detections, r.overlay_ms, r.output_ms));
}

void SessionRecorder::detections(int64_t seq, const std::string& variant, double t_ms, const Result& res) {
  // pixels to 0.01, scores to 1e-4, times to 1 µs: what the figures need, at half the bytes a day
  auto px = [](double v) { return std::round(v * 100.0) / 100.0; };
  auto sc = [](double v) { return std::round(v * 1e4) / 1e4; };
  nlohmann::json j = {{"seq", seq}, {"variant", variant}, {"t_ms", std::round(t_ms * 1000.0) / 1000.0}};
  j["detections"] = nlohmann::json::array();
  for (const Detection& d : res.detections) {
    nlohmann::json dj = {{"box", {px(d.box.x), px(d.box.y), px(d.box.width), px(d.box.height)}}, {"score", sc(d.score)}, {"class", d.class_id}};
    for (const auto& k : d.keypoints) dj["keypoints"].push_back({px(k.x), px(k.y)});
    j["detections"].push_back(dj);
  }
  for (const ClassScore& c : res.classes) j["classes"].push_back({{"class", c.class_id}, {"score", sc(c.score)}});
  append(dets_, "detections.jsonl", j.dump() + "\n");
}

void SessionRecorder::energy(const std::string& variant, int64_t seq, double t0, double t1, double gross, double net, double cov) {
  append(energy_, "energy.csv", cv::format("%s,%lld,%.3f,%.3f,%.5f,%.5f,%.4f\n", csv_escape(variant).c_str(), static_cast<long long>(seq), t0, t1, gross, net, cov));
}

void SessionRecorder::snapshot(const std::vector<unsigned char>& jpeg) { write_file_atomic(dir_ + "/overlay.jpg", jpeg.data(), jpeg.size()); }

void SessionRecorder::event(double t_s, const std::string& kind, const std::string& detail) {
  append(events_, "events.csv", cv::format("%.3f,%s,%s\n", t_s, csv_escape(kind).c_str(), csv_escape(detail).c_str()));
}

void SessionRecorder::power(const std::vector<power::PowerSample>& samples) {
  if (!power_ || samples.empty() || !room_for(samples.size() * 64)) return;  // ~64 bytes per power row
  try {
    power_->write(samples);
    struct stat st {};
    if (::stat((dir_ + "/power.csv").c_str(), &st) == 0) {
      bytes_ += static_cast<uint64_t>(st.st_size) - std::min<uint64_t>(power_bytes_, static_cast<uint64_t>(st.st_size));
      power_bytes_ = static_cast<uint64_t>(st.st_size);
    }
  } catch (const power::PowerError& e) {
    throw Error(e.what());
  }
}

void SessionRecorder::summary(const nlohmann::json& j) { write_file_atomic(dir_ + "/summary.json", j.dump(2) + "\n"); }

}  // namespace ec
