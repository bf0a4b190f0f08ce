// Fake sysfs trees of Jetson boards for tests: the real discovery and reading code runs on them.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace ec::test {

inline void put(const std::string& path, const std::string& text) {
  std::string dir = path.substr(0, path.rfind('/'));
  std::string cmd = "mkdir -p '" + dir + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ofstream f(path);
  f << text << "\n";
}

inline std::string fresh_root(const std::string& name) {
  std::string root = testing::TempDir() + "/sysfs-" + name + "-" + std::to_string(getpid());
  std::system(("rm -rf '" + root + "'").c_str());
  return root;
}

// Jetson Nano, JetPack 4: L4T ina3221x IIO driver at 6-0040.
inline std::string make_nano(const std::string& name) {
  std::string root = fresh_root(name);
  std::string d = root + "/sys/bus/i2c/devices/6-0040";
  put(root + "/sys/bus/i2c/devices/0-0050/name", "24c02");  // an unrelated device
  put(d + "/name", "ina3221x");
  std::string iio = d + "/iio:device0";
  const char* rails[] = {"POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"};
  const int mv[] = {5096, 5088, 5072}, ma[] = {1240, 320, 560}, mw[] = {6319, 1628, 2840};
  for (int k = 0; k < 3; ++k) {
    put(iio + "/rail_name_" + std::to_string(k), rails[k]);
    put(iio + "/in_voltage" + std::to_string(k) + "_input", std::to_string(mv[k]));
    put(iio + "/in_current" + std::to_string(k) + "_input", std::to_string(ma[k]));
    put(iio + "/in_power" + std::to_string(k) + "_input", std::to_string(mw[k]));
  }
  return root;
}

// Jetson Orin Nano, JetPack 6: upstream hwmon ina3221 driver at 1-0040.
inline std::string make_orin(const std::string& name) {
  std::string root = fresh_root(name);
  std::string d = root + "/sys/bus/i2c/devices/1-0040";
  put(d + "/name", "ina3221");
  std::string h = d + "/hwmon/hwmon3";
  const char* rails[] = {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"};
  const int mv[] = {5024, 5016, 5008}, ma[] = {1480, 390, 610};
  for (int k = 1; k <= 3; ++k) {
    std::string kk = std::to_string(k);
    put(h + "/in" + kk + "_label", rails[k - 1]);
    put(h + "/in" + kk + "_input", std::to_string(mv[k - 1]));
    put(h + "/curr" + kk + "_input", std::to_string(ma[k - 1]));
    put(h + "/in" + kk + "_enable", "1");
    put(h + "/shunt" + kk + "_resistor", "5000");
  }
  put(h + "/update_interval", "5");
  return root;
}


}  // namespace ec::test
