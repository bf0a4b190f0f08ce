// PowerSampler: one sensor read at a fixed rate on its own thread into a ring buffer, with steady-clock
// timestamps. Energy over any window is the trapezoid integral of the samples (gaps excluded and
// reported), and mean power is that energy over the covered time: never an average of averages.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sensor.h"

namespace ec::power {

struct EnergyResult {
  double joules = 0;      // integral of power over the covered part of the window
  double covered_ms = 0;  // time inside the window with valid samples on both sides
  double window_ms = 0;   // t1 - t0
  // Mean power over the covered time, W (NAN when nothing is covered).
  double mean_w() const { return covered_ms > 0 ? joules / (covered_ms / 1000.0) : NAN; }
  // Fraction of the window with data (1 = complete).
  double coverage() const { return window_ms > 0 ? covered_ms / window_ms : 0; }
};

// Integrates power over [t0_ms, t1_ms] from time-sorted samples; `rail` < 0 means board power
// (board_watts), else that rail's watts. Linear between samples, trapezoid rule, clipped to the window.
EnergyResult integrate_energy(const std::vector<PowerSample>& samples, const std::vector<RailInfo>& rails, double t0_ms,
                              double t1_ms, int rail = -1);

// Running energy totals over a stream of samples (for runs longer than the ring): feed samples in time
// order; per rail and board, joules and covered time accumulate by the same trapezoid rule.
class EnergyAccumulator {
 public:
  explicit EnergyAccumulator(std::vector<RailInfo> rails) : rails_(std::move(rails)), rail_j_(rails_.size(), 0.0), rail_ms_(rails_.size(), 0.0) {}
  void add(const std::vector<PowerSample>& samples);
  // Joules and covered ms of rail i, or of the board when i < 0.
  double joules(int rail = -1) const { return rail < 0 ? board_j_ : rail_j_[static_cast<size_t>(rail)]; }
  double covered_ms(int rail = -1) const { return rail < 0 ? board_ms_ : rail_ms_[static_cast<size_t>(rail)]; }
  // True mean power (energy over covered time), W; NAN before two valid samples.
  double mean_w(int rail = -1) const { return covered_ms(rail) > 0 ? joules(rail) / (covered_ms(rail) / 1000.0) : NAN; }

 private:
  std::vector<RailInfo> rails_;
  std::vector<double> rail_j_, rail_ms_;
  double board_j_ = 0, board_ms_ = 0;
  bool have_prev_ = false;
  PowerSample prev_;
};

struct SamplerOptions {
  double rate_hz = 0;         // 0: as fast as the sensor's update interval allows, at most 1000 Hz
  size_t capacity = 1 << 17;  // samples kept in the ring (about 2 min at 1 kHz)
};

class PowerSampler {
 public:
  PowerSampler(std::unique_ptr<PowerSensor> sensor, const SamplerOptions& opts);
  ~PowerSampler();
  // Starts the sampling thread (no-op when running).
  void start();
  // Stops and joins the thread.
  void stop();
  // Effective sampling rate, Hz.
  double rate_hz() const { return rate_hz_; }
  const PowerSensor& sensor() const { return *sensor_; }
  const std::vector<RailInfo>& rails() const { return sensor_->rails(); }

  // Samples taken since `cursor` (a running count, start at 0); advances it. Samples that fell out of the
  // ring are skipped and counted in `lost` when given.
  std::vector<PowerSample> since(uint64_t& cursor, uint64_t* lost = nullptr) const;
  // Copies of the samples whose time overlaps [t0_ms, t1_ms] plus one on each side when present.
  std::vector<PowerSample> window(double t0_ms, double t1_ms) const;
  // Energy over [t0_ms, t1_ms] from the ring (board power when rail < 0).
  EnergyResult energy(double t0_ms, double t1_ms, int rail = -1) const;
  // The newest sample (ok=false with error "no sample yet" before the first).
  PowerSample latest() const;
  uint64_t count() const { return count_.load(); }
  uint64_t gaps() const { return gaps_.load(); }

 private:
  void loop();
  std::unique_ptr<PowerSensor> sensor_;
  double rate_hz_ = 0;
  size_t capacity_;
  mutable std::mutex mu_;
  std::vector<PowerSample> ring_;
  std::atomic<uint64_t> count_{0}, gaps_{0};
  std::atomic<bool> running_{false};
  std::thread thread_;
};

// Writes samples as CSV: "# edgecompress power log v1", "# sensor=...", "# total=RAIL" (when any),
// then t_ms,ok,<rail>_V,<rail>_A,<rail>_W...,board_W,error. Gap rows have ok=0, empty values and the
// error. Flushed after every write call so a crash loses nothing already written.
class PowerCsvWriter {
 public:
  // Opens `path` for writing (truncates); throws PowerError naming the path.
  PowerCsvWriter(const std::string& path, const PowerSensor& sensor);
  // Appends rows; throws PowerError when the disk is full or the write fails.
  void write(const std::vector<PowerSample>& samples);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<RailInfo> rails_;
  std::FILE* f_ = nullptr;

 public:
  ~PowerCsvWriter();
  PowerCsvWriter(const PowerCsvWriter&) = delete;
  PowerCsvWriter& operator=(const PowerCsvWriter&) = delete;
};

// Splits one CSV line at commas outside double quotes (quotes removed).
std::vector<std::string> split_csv_line(const std::string& line);

// A sensor that replays a CSV written by PowerCsvWriter in real time from its first read; always labelled
// "replay". Throws PowerError with the line number for malformed files.
std::unique_ptr<PowerSensor> open_replay_sensor(const std::string& csv_path, bool loop = true);

}  // namespace ec::power
