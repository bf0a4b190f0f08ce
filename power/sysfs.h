// INA3221 through the Linux drivers, read from sysfs:
//  - L4T `ina3221x` IIO driver (JetPack 4): <dev>/iio:deviceN/rail_name_K, in_voltageK_input (mV),
//    in_currentK_input (mA), in_powerK_input (mW);
//  - upstream hwmon `ina3221` driver (JetPack 5/6): <dev>/hwmon/hwmonN/inK_label, inK_input (mV),
//    currK_input (mA), shuntK_resistor (uOhm), inK_enable, update_interval (ms).
// Devices are found by scanning <root>/sys/bus/i2c/devices/*/name, not by fixed paths.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "sensor.h"

namespace ec::power {

struct SysfsOptions {
  std::string root = "/";                                      // a sysfs root for tests and chroots
  std::vector<std::string> total_rails = {"VDD_IN", "POM_5V_IN"};  // rail labels that are the board total
  std::vector<std::string> only_rails;                         // when not empty: keep just these labels
};

// What discovery found, for `edgecompress power --list` and messages.
struct SysfsDevice {
  std::string i2c_device;  // e.g. "1-0040"
  std::string driver;      // "ina3221x" (IIO) or "ina3221" (hwmon)
  std::string dir;         // the folder holding the rail files
  std::vector<std::string> labels;
};

// Scans for INA3221 devices under opts.root. Throws PowerError when the i2c devices folder cannot be read.
std::vector<SysfsDevice> find_sysfs_ina3221(const SysfsOptions& opts);

// Opens every INA3221 rail found as one sensor. Throws PowerError "no power sensor ..." when none is
// found, and with a permission hint when the files are not readable.
std::unique_ptr<PowerSensor> open_sysfs_sensor(const SysfsOptions& opts);

}  // namespace ec::power
