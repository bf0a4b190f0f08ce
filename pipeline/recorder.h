#pragma once
// Benchmark sessions on disk: sessions/<utc-time>-<name>/ with the resolved config, device info, per-frame
// CSV, detections (JSONL), per-inference energy CSV, the power CSV, events.csv (reloads, toggles, layout changes) and summary.json. Every row is written
// whole and flushed as it goes, summary.json is replaced atomically, so SIGINT or a crash leaves a session
// that still reports; a failed write (disk full) throws naming the file.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "decode.h"
#include "sampler.h"

namespace ec {

struct FrameRow {
  int64_t seq = 0;
  std::string variant;
  double capture_ms = 0;  // steady clock
  double age_ms = 0;      // capture -> start of this variant's preprocessing
  double pre_ms = 0, infer_ms = 0, decode_ms = 0;
  double e2e_ms = 0;      // capture -> result decoded
  int detections = 0;
  double overlay_ms = 0, output_ms = 0;  // shared stages of this frame
};

class SessionRecorder {
 public:
  // Creates the session folder: `exact_dir` when given, else <root>/<YYYYmmdd-HHMMSS>-<name>. Writes
  // config.yaml and device.json. Throws ec::Error naming the path.
  SessionRecorder(const std::string& root, const std::string& name, const std::string& exact_dir, const std::string& config_yaml,
                  const nlohmann::json& device, const power::PowerSensor* sensor);
  ~SessionRecorder();
  void frame(const FrameRow& r);
  void detections(int64_t seq, const std::string& variant, double t_ms, const Result& res);
  void energy(const std::string& variant, int64_t seq, double t0_ms, double t1_ms, double gross_mj, double net_mj, double coverage);
  void power(const std::vector<power::PowerSample>& samples);
  // Replaces overlay.jpg (a frame of the live overlay for the report) atomically; not counted in bytes().
  void snapshot(const std::vector<unsigned char>& jpeg);
  // One row of events.csv: seconds since the first frame, kind (reload, enable, disable, layout), detail.
  void event(double t_s, const std::string& kind, const std::string& detail);
  // Replaces summary.json (write to a temp file, then rename). Always written, also past the size limit.
  void summary(const nlohmann::json& j);
  // Stops recording rows once the session's files would pass `bytes` (0: no limit); summary.json is still
  // replaced. The run goes on.
  void set_limit_bytes(uint64_t bytes) { limit_ = bytes; }
  // Bytes in the session's files so far (config, device, CSV and JSONL rows; summary.json not counted).
  uint64_t bytes() const { return bytes_; }
  // "" while recording; else why rows are no longer written ("session.max_mb 50 reached at ...").
  const std::string& stopped() const { return stopped_; }
  const std::string& dir() const { return dir_; }

 private:
  std::FILE* open_file(const std::string& name, const std::string& header);
  void append(std::FILE* f, const std::string& name, const std::string& text);
  // False (and recording stops) when `n` more bytes would pass the limit.
  bool room_for(size_t n);
  std::string dir_;
  uint64_t limit_ = 0, bytes_ = 0, power_bytes_ = 0;
  std::string stopped_;
  std::FILE *frames_ = nullptr, *dets_ = nullptr, *energy_ = nullptr, *events_ = nullptr;
  std::unique_ptr<power::PowerCsvWriter> power_;
};

// CPU, board (/proc/device-tree/model), OS, kernel and library versions of this machine.
nlohmann::json device_info();

}  // namespace ec
