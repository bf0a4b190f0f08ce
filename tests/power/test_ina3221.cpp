// The INA3221 driver against the register-level emulator: reset value, IDs, configuration write and
// read-back, signed shunt values to one LSB, conversion-ready timing, unplugging mid-run.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "ina3221_emulator.h"
#include "sampler.h"

using namespace ec;
using namespace ec::power;
using ec::test::Ina3221Emulator;

TEST(Ina3221Emulator, ResetValueAndIds) {
  Ina3221Emulator emu;
  EXPECT_EQ(emu.read_reg16(0x40, ina3221::kConfig), 0x7127);
  EXPECT_EQ(emu.read_reg16(0x40, ina3221::kManufacturerId), 0x5449);
  EXPECT_EQ(emu.read_reg16(0x40, ina3221::kDieId), 0x3220);
  emu.write_reg16(0x40, ina3221::kConfig, 0x1234);
  EXPECT_EQ(emu.read_reg16(0x40, ina3221::kConfig), 0x1234);
  emu.write_reg16(0x40, ina3221::kConfig, 0x8000);  // RST bit
  EXPECT_EQ(emu.read_reg16(0x40, ina3221::kConfig), 0x7127);
  EXPECT_THROW(emu.read_reg16(0x41, ina3221::kConfig), PowerError);
}

TEST(Ina3221, ConfigurationIsWrittenAndReadBack) {
  auto emu = std::make_shared<Ina3221Emulator>();
  Ina3221Config cfg;
  cfg.enabled = {true, false, true};
  cfg.averages_code = 2;    // 16 samples
  cfg.bus_conv_code = 1;    // 204 us
  cfg.shunt_conv_code = 5;  // 2.116 ms
  Ina3221 dev(emu, cfg);
  const uint16_t want = (1u << 14) | (1u << 12) | (2u << 9) | (1u << 6) | (5u << 3) | 7u;
  EXPECT_EQ(dev.config_word(), want);
  EXPECT_EQ(emu->config(), want);
  EXPECT_EQ(dev.rails().size(), 2u);
  EXPECT_DOUBLE_EQ(dev.update_interval_ms(), 16 * 2 * (204 + 2116) / 1000.0);
}

TEST(Ina3221, ConversionReadyFollowsConfiguredTimes) {
  auto emu = std::make_shared<Ina3221Emulator>();
  double t = 1000.0;
  emu->now = [&] { return t; };
  // 4 averages, 588 us bus and shunt, 3 channels: 4 * 3 * 1176 us = 14.112 ms per cycle
  const uint16_t cfg = (7u << 12) | (1u << 9) | (3u << 6) | (3u << 3) | 7u;
  emu->write_reg16(0x40, ina3221::kConfig, cfg);
  ASSERT_EQ(ina3221::cycle_us(cfg), 14112);
  t += 10.0;
  EXPECT_EQ(emu->read_reg16(0x40, ina3221::kMaskEnable) & 1, 0);
  t += 4.2;  // 14.2 ms after the write
  EXPECT_EQ(emu->read_reg16(0x40, ina3221::kMaskEnable) & 1, 1);
  EXPECT_EQ(emu->read_reg16(0x40, ina3221::kMaskEnable) & 1, 0) << "reading 0x0F clears CVRF";
  t += 14.2;  // 28.4 ms: second cycle (ends at 28.224 ms) done
  EXPECT_EQ(emu->read_reg16(0x40, ina3221::kMaskEnable) & 1, 1);
  emu->write_reg16(0x40, ina3221::kConfig, cfg);  // a config write restarts the cycle and clears the flag
  t += 1.0;
  EXPECT_EQ(emu->read_reg16(0x40, ina3221::kMaskEnable) & 1, 0);
}

TEST(Ina3221, ReadsSignedRailsWithinOneLsb) {
  auto emu = std::make_shared<Ina3221Emulator>();
  const double shunt_v[3] = {0.0123456, -0.0201234, 0.1637};  // last one near full scale (163.8 mV)
  const double bus_v[3] = {5.08, 12.003, 3.3};
  for (int ch = 0; ch < 3; ++ch) emu->set_channel(ch, [=](double) { return bus_v[ch]; }, [=](double) { return shunt_v[ch]; });
  Ina3221Config cfg;
  cfg.shunt_ohm = {0.01, 0.02, 0.1};
  cfg.averages_code = 0;
  cfg.bus_conv_code = cfg.shunt_conv_code = 0;  // 140 us: fast tests
  Ina3221 dev(emu, cfg);
  PowerSample s;
  ASSERT_TRUE(dev.read(s)) << s.error;
  for (int ch = 0; ch < 3; ++ch) {
    const double want_a = shunt_v[ch] / cfg.shunt_ohm[ch];
    EXPECT_NEAR(s.rails[ch].amps, want_a, ina3221::kShuntLsbV / cfg.shunt_ohm[ch]) << ch;
    EXPECT_NEAR(s.rails[ch].volts, bus_v[ch], ina3221::kBusLsbV) << ch;
    EXPECT_NEAR(s.rails[ch].watts, s.rails[ch].volts * s.rails[ch].amps, 1e-12);
  }
  EXPECT_LT(s.rails[1].amps, 0.0) << "negative shunt voltage reads as negative current";
  // register encoding: sign + 12 bits shifted left by 3
  EXPECT_EQ(ina3221::encode(-1), 0xFFF8);
  EXPECT_EQ(ina3221::decode(0xFFF8), -1);
  EXPECT_EQ(ina3221::decode(ina3221::encode(4095)), 4095);
  EXPECT_EQ(ina3221::decode(ina3221::encode(-4096)), -4096);
}

TEST(Ina3221, WrongAddressIsAClearError) {
  auto emu = std::make_shared<Ina3221Emulator>(0x41);
  Ina3221Config cfg;
  cfg.address = 0x40;
  try {
    Ina3221 dev(emu, cfg);
    FAIL() << "no device at 0x40";
  } catch (const PowerError& e) {
    EXPECT_NE(std::string(e.what()).find("0x40"), std::string::npos) << e.what();
  }
  cfg.address = 0x44;
  EXPECT_THROW(Ina3221(emu, cfg), PowerError);
}

TEST(Ina3221, UnpluggedMidRunLeavesMarkedGapsAndRecovers) {
  auto emu = std::make_shared<Ina3221Emulator>();
  emu->set_channel(0, [](double) { return 5.0; }, [](double) { return 0.005; });  // 1 A through 5 mOhm
  Ina3221Config cfg;
  cfg.labels = {"VDD_IN", "B", "C"};
  cfg.total_channel = 0;
  cfg.averages_code = 0;
  cfg.bus_conv_code = cfg.shunt_conv_code = 0;
  auto dev = std::make_unique<Ina3221>(emu, cfg);
  const uint16_t word = dev->config_word();
  PowerSampler sampler(std::move(dev), SamplerOptions{500, 4096});
  const std::string csv = testing::TempDir() + "/unplug.csv";
  PowerCsvWriter writer(csv, sampler.sensor());
  uint64_t cursor = 0;
  sampler.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  emu->set_plugged(false);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  const int writes_before = emu->config_writes();
  emu->set_plugged(true);  // power-cycled: back to the reset configuration, which the driver must write again
  EXPECT_EQ(emu->power_cycles(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  sampler.stop();
  auto samples = sampler.since(cursor);
  writer.write(samples);
  EXPECT_GT(sampler.gaps(), 0u);
  ASSERT_FALSE(samples.empty());
  EXPECT_TRUE(samples.back().ok) << samples.back().error;
  EXPECT_NEAR(samples.back().rails[0].watts, 5.0, 0.05);
  EXPECT_GT(emu->config_writes(), writes_before) << "the driver wrote its configuration again after the power cycle";
  EXPECT_EQ(emu->config(), word) << "driver re-applied its configuration after the reconnect";
  // the CSV marks gaps with ok=0 and the error
  std::ifstream f(csv);
  std::string line;
  int gap_rows = 0, ok_rows = 0;
  while (std::getline(f, line)) {
    if (line.find(",0,") != std::string::npos && line.find("No such device") != std::string::npos) ++gap_rows;
    if (line.find(",1,") != std::string::npos) ++ok_rows;
  }
  EXPECT_GT(gap_rows, 0);
  EXPECT_GT(ok_rows, 0);
}
