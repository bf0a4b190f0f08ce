#include "ina3221.h"

#include <chrono>
#include <thread>

namespace ec::power {

namespace ina3221 {
int cycle_us(uint16_t config) {
  const int avg = kAverages[(config >> 9) & 7];
  const int vbus = kConvUs[(config >> 6) & 7], vsh = kConvUs[(config >> 3) & 7];
  int channels = ((config >> 14) & 1) + ((config >> 13) & 1) + ((config >> 12) & 1);
  const int mode = config & 7;
  int per_ch = 0;
  if (mode & 1) per_ch += vsh;
  if (mode & 2) per_ch += vbus;
  return avg * channels * per_ch;
}
}  // namespace ina3221

namespace {
std::string hex(unsigned v, int width) {
  char b[12];
  std::snprintf(b, sizeof b, "0x%0*x", width, v);
  return b;
}
}  // namespace

Ina3221::Ina3221(std::shared_ptr<I2cTransport> bus, const Ina3221Config& cfg) : bus_(std::move(bus)), cfg_(cfg) {
  const std::string where = bus_->name() + " " + hex(cfg.address, 2);
  if (cfg.address < 0x40 || cfg.address > 0x43) throw PowerError(where + ": INA3221 addresses are 0x40..0x43");
  if (cfg.averages_code < 0 || cfg.averages_code > 7 || cfg.bus_conv_code < 0 || cfg.bus_conv_code > 7 ||
      cfg.shunt_conv_code < 0 || cfg.shunt_conv_code > 7)
    throw PowerError(where + ": averaging and conversion-time codes are 0..7");
  const uint16_t man = bus_->read_reg16(cfg.address, ina3221::kManufacturerId);
  const uint16_t die = bus_->read_reg16(cfg.address, ina3221::kDieId);
  if (man != ina3221::kManufacturer || die != ina3221::kDie)
    throw PowerError(where + ": IDs " + hex(man, 4) + "/" + hex(die, 4) + " are not an INA3221's (0x5449/0x3220)");
  uint16_t w = 0;
  for (int ch = 0; ch < 3; ++ch)
    if (cfg.enabled[ch]) w |= static_cast<uint16_t>(1u << (14 - ch));
  w |= static_cast<uint16_t>(cfg.averages_code << 9);
  w |= static_cast<uint16_t>(cfg.bus_conv_code << 6);
  w |= static_cast<uint16_t>(cfg.shunt_conv_code << 3);
  w |= 7;  // shunt and bus, continuous
  bus_->write_reg16(cfg.address, ina3221::kConfig, w);
  const uint16_t back = bus_->read_reg16(cfg.address, ina3221::kConfig);
  if (back != w) throw PowerError(where + ": configuration " + hex(w, 4) + " read back as " + hex(back, 4));
  config_word_ = w;
  for (int ch = 0; ch < 3; ++ch) {
    if (!cfg.enabled[ch]) continue;
    if (!(cfg.shunt_ohm[ch] > 0)) throw PowerError(where + ": channel " + std::to_string(ch + 1) + " shunt resistance must be > 0");
    rails_.push_back({cfg.labels[ch], ch == cfg.total_channel});
    channels_.push_back(ch);
  }
}

std::string Ina3221::name() const { return "ina3221 " + bus_->name() + "@" + hex(cfg_.address, 2); }

bool Ina3221::read(PowerSample& s) {
  s.rails.assign(rails_.size(), RailReading{});
  try {
    if (reinit_) {  // after a failure the chip may have been power-cycled back to its reset configuration
      bus_->write_reg16(cfg_.address, ina3221::kConfig, config_word_);
      if (bus_->read_reg16(cfg_.address, ina3221::kConfig) != config_word_)
        throw PowerError(name() + ": configuration did not stick after reconnect");
      reinit_ = false;
    }
    // Wait for a fresh conversion: CVRF is set at the end of a cycle and cleared by reading 0x0F.
    const double deadline = steady_now_ms() + 1.5 * ina3221::cycle_us(config_word_) / 1000.0 + 1.0;
    while (!(bus_->read_reg16(cfg_.address, ina3221::kMaskEnable) & 1)) {
      if (steady_now_ms() > deadline) break;  // read the last conversion anyway
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    for (size_t i = 0; i < channels_.size(); ++i) {
      const int ch = channels_[i];
      const int sh = ina3221::decode(bus_->read_reg16(cfg_.address, ina3221::shunt_reg(ch)));
      const int bv = ina3221::decode(bus_->read_reg16(cfg_.address, ina3221::bus_reg(ch)));
      RailReading& r = s.rails[i];
      r.volts = bv * ina3221::kBusLsbV;
      r.amps = sh * ina3221::kShuntLsbV / cfg_.shunt_ohm[ch];
      r.watts = r.volts * r.amps;
      r.valid = true;
    }
  } catch (const PowerError& e) {
    reinit_ = true;
    s.ok = false;
    s.error = e.what();
    for (auto& r : s.rails) r = RailReading{};
    return false;
  }
  s.ok = true;
  s.error.clear();
  return true;
}

}  // namespace ec::power
