// Power sensing as configured by the user: a `power:` YAML section, a board preset (configs/boards) or
// `edgecompress power` flags, turned into a PowerSensor.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "sensor.h"

namespace YAML {
class Node;
}

namespace ec {

struct PowerConfig {
  std::string sensor = "auto";  // auto | sysfs | i2c | replay | none
  std::string board;            // preset name (configs/boards/NAME.yaml) or a YAML file; "" = detect
  std::string root = "/";       // where /sys and /proc live (tests, chroots)
  std::string replay;           // power CSV for sensor=replay
  double rate_hz = 0;           // 0: as fast as the sensor allows, up to 1 kHz
  std::vector<std::string> total_rails = {"VDD_IN", "POM_5V_IN"};
  std::vector<std::string> rails;  // keep only these (empty: all)
  // sensor=i2c
  std::string i2c_bus = "1";
  int i2c_address = 0x40;
  std::array<double, 3> shunt_ohm = {0.005, 0.005, 0.005};
  std::array<std::string, 3> labels = {"CH1", "CH2", "CH3"};
  std::string i2c_total;
  int averages_code = 0, conversion_code = 4;
};

// Reads a `power:` section or a board file into `c` (keys absent keep their values). Throws with line numbers.
void parse_power_yaml(const YAML::Node& n, const std::string& path, PowerConfig& c);
// Applies preset `name_or_file` (a name under configs/boards or a path) to `c`.
void apply_board(PowerConfig& c, const std::string& name_or_file);
// The preset whose `model:` is contained in <root>/proc/device-tree/model, or "" when none matches.
std::string detect_board(const std::string& root);

// Opens the configured sensor. For sensor=auto with no sensor on the machine, returns nullptr and sets
// `why` ("no power sensor: ..."); for an explicit sensor, failures throw power::PowerError.
std::unique_ptr<power::PowerSensor> open_power_sensor(const PowerConfig& c, std::string* why);

}  // namespace ec
