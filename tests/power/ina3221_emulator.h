// A register-level INA3221 emulator behind the I2C transport seam: the real driver runs above it.
// Models: reset configuration 0x7127 (and reset by writing bit 15), IDs at 0xFE/0xFF, signed shunt and bus
// registers (sign + 12 bits << 3, 40 uV / 8 mV LSB, saturating), the conversion-ready flag (CVRF, bit 0
// of 0x0F) set at the end of each conversion cycle timed by the configured averaging and conversion times
// and cleared by reading 0x0F or writing the configuration, and unplugging (reads fail with ENXIO).
#pragma once
#include <array>
#include <cmath>
#include <functional>
#include <mutex>

#include "ina3221.h"

namespace ec::test {

class Ina3221Emulator : public power::I2cTransport {
 public:
  using Waveform = std::function<double(double t_ms)>;  // value at steady-clock time t_ms

  explicit Ina3221Emulator(uint8_t addr = 0x40) : addr_(addr) { reset(); }

  // Channel ch (0..2): bus voltage (V) and shunt voltage (V) as functions of time.
  void set_channel(int ch, Waveform bus_v, Waveform shunt_v) {
    std::lock_guard<std::mutex> l(mu_);
    bus_[ch] = std::move(bus_v);
    shunt_[ch] = std::move(shunt_v);
  }
  // Unplugs (reads and writes fail) or plugs back in (a power-cycled chip: reset configuration).
  void set_plugged(bool plugged) {
    std::lock_guard<std::mutex> l(mu_);
    if (plugged && !plugged_) {
      reset_locked();
      ++power_cycles_;
    }
    plugged_ = plugged;
  }
  // How often set_plugged(true) power-cycled the chip, and how many configuration writes it has had.
  int power_cycles() const {
    std::lock_guard<std::mutex> l(mu_);
    return power_cycles_;
  }
  int config_writes() const {
    std::lock_guard<std::mutex> l(mu_);
    return config_writes_;
  }
  // Time source, steady-clock ms by default; tests may pin it.
  std::function<double()> now = [] { return power::steady_now_ms(); };
  int reads = 0;

  uint16_t read_reg16(uint8_t addr, uint8_t reg) override {
    std::lock_guard<std::mutex> l(mu_);
    check(addr, reg, "read of");
    ++reads;
    const double t = now();
    switch (reg) {
      case power::ina3221::kConfig: return config_;
      case power::ina3221::kManufacturerId: return power::ina3221::kManufacturer;
      case power::ina3221::kDieId: return power::ina3221::kDie;
      case power::ina3221::kMaskEnable: {
        const int64_t cycles = completed_cycles(t);
        const bool ready = cycles > consumed_cycles_;
        consumed_cycles_ = cycles;
        return static_cast<uint16_t>(ready ? 1 : 0);
      }
      default: break;
    }
    if (reg >= 1 && reg <= 6) {
      const int ch = (reg - 1) / 2;
      const bool is_bus = (reg % 2) == 0;
      if (!(config_ & (1u << (14 - ch)))) return 0;
      const double v = is_bus ? (bus_[ch] ? bus_[ch](t) : 0.0) : (shunt_[ch] ? shunt_[ch](t) : 0.0);
      const double lsb = is_bus ? power::ina3221::kBusLsbV : power::ina3221::kShuntLsbV;
      long counts = std::lround(v / lsb);
      counts = std::max(-4096L, std::min(4095L, counts));  // 13-bit signed range saturates
      if (is_bus && counts < 0) counts = 0;
      return power::ina3221::encode(static_cast<int>(counts));
    }
    return 0;
  }

  void write_reg16(uint8_t addr, uint8_t reg, uint16_t value) override {
    std::lock_guard<std::mutex> l(mu_);
    check(addr, reg, "write of");
    if (reg == power::ina3221::kConfig) {
      ++config_writes_;
      if (value & 0x8000) {
        reset_locked();
        return;
      }
      config_ = value;
      cycle_start_ms_ = now();
      consumed_cycles_ = 0;
    }
  }

  std::string name() const override { return "i2c-emu"; }
  uint16_t config() const {
    std::lock_guard<std::mutex> l(mu_);
    return config_;
  }
  // Completed conversion cycles since the last configuration write.
  int64_t completed_cycles(double t) const {
    const double cycle_ms = power::ina3221::cycle_us(config_) / 1000.0;
    return cycle_ms > 0 ? static_cast<int64_t>(std::floor((t - cycle_start_ms_) / cycle_ms)) : 0;
  }

 private:
  void reset() { reset_locked(); }
  void reset_locked() {
    config_ = power::ina3221::kResetConfig;
    cycle_start_ms_ = now();
    consumed_cycles_ = 0;
  }
  void check(uint8_t addr, uint8_t reg, const char* what) const {
    char b[96];
    if (!plugged_ || addr != addr_) {
      std::snprintf(b, sizeof b, "i2c-emu 0x%02x: %s register 0x%02x failed (No such device or address)", addr, what, reg);
      throw power::PowerError(b);
    }
  }
  mutable std::mutex mu_;
  uint8_t addr_;
  uint16_t config_ = 0;
  int power_cycles_ = 0, config_writes_ = 0;
  double cycle_start_ms_ = 0;
  int64_t consumed_cycles_ = 0;
  bool plugged_ = true;
  std::array<Waveform, 3> bus_, shunt_;
};

}  // namespace ec::test
