// Power sensing interfaces: a PowerSensor gives timestamped samples of its rails {volts, amps, watts}.
// Implementations: INA3221 over I2C (ina3221.h), the Linux drivers through sysfs (sysfs.h), CSV replay
// (replay.h). This module includes nothing of the project but the base library (the clock).
#pragma once
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "clock.h"

namespace ec::power {

// Errors of the power module (app prints them as one line).
class PowerError : public std::runtime_error {
 public:
  explicit PowerError(const std::string& what) : std::runtime_error(what) {}
};

struct RailInfo {
  std::string name;       // e.g. "VDD_IN", "POM_5V_GPU"
  bool is_total = false;  // the board input rail: never added to the other rails
};

struct RailReading {
  double volts = NAN, amps = NAN, watts = NAN;
  bool valid = false;
};

struct PowerSample {
  double t_ms = 0;                  // steady-clock time of the read, ms
  std::vector<RailReading> rails;   // one per sensor rail, same order as PowerSensor::rails()
  bool ok = false;                  // false: a gap (sensor error), `error` says why
  std::string error;
};

class PowerSensor {
 public:
  virtual ~PowerSensor() = default;
  // What it is, for overlays and sessions: "ina3221 i2c-1@0x40", "hwmon ina3221 (1-0040)", "replay x.csv".
  virtual std::string name() const = 0;
  // The rails it reports, in sample order.
  virtual const std::vector<RailInfo>& rails() const = 0;
  // Shortest useful interval between reads (the sensor's update interval), ms.
  virtual double update_interval_ms() const = 0;
  // Reads all rails now into `s.rails` (sets ok/error; t_ms is set by the caller). Never throws for a
  // sensor that fails mid-run: returns false with s.error set, so the sampler marks a gap.
  virtual bool read(PowerSample& s) = 0;
  // True for recorded data (replay): overlays and sessions label it so.
  virtual bool is_replay() const { return false; }
};

// Board power of a sample in watts: the total rail when the sensor has one, else the sum of the rails.
// NAN when the needed rails are not valid.
double board_watts(const PowerSample& s, const std::vector<RailInfo>& rails);

// The project's one clock (base/clock.h), also reachable as power::steady_now_ms.
using ec::steady_now_ms;

}  // namespace ec::power
