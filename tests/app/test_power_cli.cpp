// `edgecompress power` on fake Jetson sysfs trees: one sample as JSON, a timed run logged to CSV and
// replayed (labelled replay), board presets, and config errors with line numbers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../power/fake_sysfs.h"
#include "cli.h"

using namespace ec::test;

TEST(PowerCli, OnceJsonOnOrinNanoTree) {
  std::string root = make_orin("cli-orin");
  CliResult r = run_cli("power --root '" + root + "' --board jetson-orin-nano --once --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["rails"].size(), 3u);
  EXPECT_EQ(j["rails"][0]["name"], "VDD_IN");
  EXPECT_TRUE(j["rails"][0]["total"].get<bool>());
  EXPECT_NEAR(j["board_watts"].get<double>(), 5.024 * 1.480, 1e-9);  // the total, not total + parts
  EXPECT_FALSE(j["replay"].get<bool>());
}

TEST(PowerCli, BoardIsDetectedFromTheDeviceTree) {
  std::string root = make_nano("cli-nano");
  put(root + "/proc/device-tree/model", "NVIDIA Jetson Nano Developer Kit");
  CliResult r = run_cli("power --root '" + root + "' --once --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["rails"][0]["total"].get<bool>());
  EXPECT_EQ(j["rails"][0]["name"], "POM_5V_IN");
  EXPECT_NEAR(j["board_watts"].get<double>(), 6.319, 1e-9);
}

TEST(PowerCli, LogThenReplay) {
  std::string root = make_orin("cli-log");
  const std::string csv = testing::TempDir() + "/power-cli.csv";
  CliResult r = run_cli("power --root '" + root + "' --total VDD_IN --rate 200 --duration 0.6 --log '" + csv + "' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out.substr(r.out.find("{\n")));
  EXPECT_GT(j["samples"].get<int>(), 50);
  EXPECT_EQ(j["gaps"].get<int>(), 0);
  EXPECT_NEAR(j["board_mean_w"].get<double>(), 5.024 * 1.480, 1e-6);
  std::ifstream f(csv);
  std::string line;
  int rows = 0;
  while (std::getline(f, line))
    if (!line.empty() && line[0] != '#' && line.rfind("t_ms", 0) != 0) ++rows;
  EXPECT_EQ(rows, j["samples"].get<int>());
  CliResult rep = run_cli("power --replay '" + csv + "' --once --json");
  ASSERT_EQ(rep.rc, 0) << rep.err;
  auto rj = nlohmann::json::parse(rep.out);
  EXPECT_TRUE(rj["replay"].get<bool>());
  EXPECT_NE(rj["sensor"].get<std::string>().find("replay"), std::string::npos);
  EXPECT_NEAR(rj["board_watts"].get<double>(), 5.024 * 1.480, 1e-4);
}

TEST(PowerCli, ErrorsAreOneLine) {
  std::string empty = fresh_root("cli-empty");
  put(empty + "/sys/bus/i2c/devices/0-0050/name", "24c02");
  CliResult r = run_cli("power --root '" + empty + "' --once");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("edgecompress: no power sensor"), std::string::npos) << r.err;
  const std::string bad = testing::TempDir() + "/bad-board.yaml";
  {
    std::ofstream f(bad);
    f << "name: x\nsensor: sysfs\ntotal: VDD_IN\nrials: [VDD_IN]\n";
  }
  r = run_cli("power --board '" + bad + "' --once");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("bad-board.yaml:4:1: unknown key 'rials'"), std::string::npos) << r.err;
  {
    std::ofstream f(bad);
    f << "name: x\nsensor: sysfs\n  total: [VDD_IN\n";
  }
  r = run_cli("power --board '" + bad + "' --once");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("bad-board.yaml:3:"), std::string::npos) << r.err;
  r = run_cli("power --sensor i2c --i2c-bus 97 --once");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("/dev/i2c-97: cannot open"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}
