// TI INA3221 three-channel shunt and bus voltage monitor, driven over an I2cTransport.
// Registers (datasheet SBOS576): 0x00 configuration (reset 0x7127), 0x01/0x03/0x05 shunt voltage of
// channels 1-3, 0x02/0x04/0x06 bus voltage, 0x0F mask/enable (bit 0 CVRF: conversion ready),
// 0xFE manufacturer ID 0x5449 ("TI"), 0xFF die ID 0x3220. Voltage registers hold sign + 12 bits shifted
// left by 3: shunt LSB 40 uV, bus LSB 8 mV.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "i2c.h"
#include "sensor.h"

namespace ec::power {

namespace ina3221 {
constexpr uint8_t kConfig = 0x00, kMaskEnable = 0x0F, kManufacturerId = 0xFE, kDieId = 0xFF;
constexpr uint16_t kManufacturer = 0x5449, kDie = 0x3220, kResetConfig = 0x7127;
constexpr double kShuntLsbV = 40e-6, kBusLsbV = 8e-3;
// Conversion time per code 0..7, microseconds.
constexpr std::array<int, 8> kConvUs = {140, 204, 332, 588, 1100, 2116, 4156, 8244};
// Averaging count per code 0..7.
constexpr std::array<int, 8> kAverages = {1, 4, 16, 64, 128, 256, 512, 1024};
inline uint8_t shunt_reg(int ch) { return static_cast<uint8_t>(1 + 2 * ch); }  // ch 0..2
inline uint8_t bus_reg(int ch) { return static_cast<uint8_t>(2 + 2 * ch); }
// Decodes a voltage register (sign + 12 bits, left-shifted by 3) to LSB counts (-4096..4095).
inline int decode(uint16_t raw) { return static_cast<int16_t>(raw) >> 3; }
// Encodes LSB counts into the register layout.
inline uint16_t encode(int counts) { return static_cast<uint16_t>(static_cast<int16_t>(counts * 8)); }
// Time of one full conversion cycle for a configuration word, microseconds (continuous shunt+bus mode).
int cycle_us(uint16_t config);
}  // namespace ina3221

struct Ina3221Config {
  uint8_t address = 0x40;                            // 0x40..0x43 (A0 pin)
  std::array<double, 3> shunt_ohm = {0.005, 0.005, 0.005};
  std::array<std::string, 3> labels = {"CH1", "CH2", "CH3"};
  std::array<bool, 3> enabled = {true, true, true};
  int total_channel = -1;                            // channel index (0..2) that measures the board input, or -1
  int averages_code = 0;                             // 0..7 -> 1..1024 samples
  int bus_conv_code = 4, shunt_conv_code = 4;        // 0..7 -> 140 us..8.244 ms (4 = 1.1 ms)
};

class Ina3221 : public PowerSensor {
 public:
  // Checks the IDs, writes and verifies the configuration. Throws PowerError naming bus and address.
  Ina3221(std::shared_ptr<I2cTransport> bus, const Ina3221Config& cfg);
  std::string name() const override;
  const std::vector<RailInfo>& rails() const override { return rails_; }
  double update_interval_ms() const override { return ina3221::cycle_us(config_word_) / 1000.0; }
  // Waits (up to one cycle + 50%) for the conversion-ready flag, then reads every enabled channel.
  bool read(PowerSample& s) override;
  // The configuration word written to register 0x00.
  uint16_t config_word() const { return config_word_; }

 private:
  std::shared_ptr<I2cTransport> bus_;
  Ina3221Config cfg_;
  uint16_t config_word_ = 0;
  std::vector<RailInfo> rails_;
  std::vector<int> channels_;
  bool reinit_ = false;
};

}  // namespace ec::power
