#include "power_setup.h"

#include <dirent.h>

#include <fstream>

#include "config.h"
#include "error.h"
#include "i2c.h"
#include "ina3221.h"
#include "sampler.h"
#include "sysfs.h"

namespace ec {

void parse_power_yaml(const YAML::Node& n, const std::string& path, PowerConfig& c) {
  check_keys(n, path, {"name", "model", "sensor", "board", "root", "replay", "rate_hz", "total", "rails", "i2c"});
  c.sensor = yaml_get<std::string>(n, "sensor", path, c.sensor);
  if (c.sensor != "auto" && c.sensor != "sysfs" && c.sensor != "i2c" && c.sensor != "replay" && c.sensor != "none")
    yaml_fail(path, n["sensor"], "sensor '" + c.sensor + "' is not one of auto, sysfs, i2c, replay, none");
  c.root = yaml_get<std::string>(n, "root", path, c.root);
  c.replay = yaml_get<std::string>(n, "replay", path, c.replay);
  c.rate_hz = yaml_get<double>(n, "rate_hz", path, c.rate_hz);
  if (c.rate_hz < 0 || c.rate_hz > 1000) yaml_fail(path, n["rate_hz"], "rate_hz must be 0 (auto) to 1000");
  if (n["total"]) c.total_rails = {yaml_get<std::string>(n, "total", path, "")};
  c.rails = yaml_get<std::vector<std::string>>(n, "rails", path, c.rails);
  if (n["board"]) apply_board(c, yaml_get<std::string>(n, "board", path, ""));
  if (const YAML::Node i = n["i2c"]) {
    check_keys(i, path, {"bus", "address", "shunt_ohm", "labels", "total", "averages", "conversion"});
    c.i2c_bus = yaml_get<std::string>(i, "bus", path, c.i2c_bus);
    c.i2c_address = yaml_get<int>(i, "address", path, c.i2c_address);
    if (c.i2c_address < 0x40 || c.i2c_address > 0x43) yaml_fail(path, i["address"], "INA3221 addresses are 0x40..0x43");
    if (i["shunt_ohm"]) {
      auto v = yaml_get<std::vector<double>>(i, "shunt_ohm", path, {});
      if (v.size() != 3) yaml_fail(path, i["shunt_ohm"], "shunt_ohm needs 3 values (one per channel)");
      for (size_t k = 0; k < 3; ++k) {
        if (!(v[k] > 0)) yaml_fail(path, i["shunt_ohm"], "shunt resistances must be > 0 ohm");
        c.shunt_ohm[k] = v[k];
      }
    }
    if (i["labels"]) {
      auto v = yaml_get<std::vector<std::string>>(i, "labels", path, {});
      if (v.size() != 3) yaml_fail(path, i["labels"], "labels needs 3 names (empty string disables a channel)");
      for (size_t k = 0; k < 3; ++k) c.labels[k] = v[k];
    }
    c.i2c_total = yaml_get<std::string>(i, "total", path, c.i2c_total);
    c.averages_code = yaml_get<int>(i, "averages", path, c.averages_code);
    c.conversion_code = yaml_get<int>(i, "conversion", path, c.conversion_code);
    if (c.averages_code < 0 || c.averages_code > 7) yaml_fail(path, i["averages"], "averages is a code 0..7");
    if (c.conversion_code < 0 || c.conversion_code > 7) yaml_fail(path, i["conversion"], "conversion is a code 0..7");
  }
}

void apply_board(PowerConfig& c, const std::string& name_or_file) {
  std::string path = name_or_file;
  if (path.find('/') == std::string::npos && path.find(".yaml") == std::string::npos) path = config_dir() + "/boards/" + path + ".yaml";
  std::ifstream probe(path);
  if (!probe) throw Error("board '" + name_or_file + "': no preset at " + path);
  c.board = name_or_file;
  parse_power_yaml(load_yaml(path), path, c);
}

std::string detect_board(const std::string& root) {
  std::ifstream f((root == "/" ? std::string() : root) + "/proc/device-tree/model");
  std::string model;
  if (!f || !std::getline(f, model, '\0')) return "";
  const std::string dir = config_dir() + "/boards";
  DIR* d = opendir(dir.c_str());
  if (!d) return "";
  std::string found;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() < 6 || n.substr(n.size() - 5) != ".yaml") continue;
    YAML::Node y = load_yaml(dir + "/" + n);
    const std::string want = y["model"] ? y["model"].as<std::string>() : "";
    if (!want.empty() && model.find(want) != std::string::npos) found = n.substr(0, n.size() - 5);
  }
  closedir(d);
  return found;
}

std::unique_ptr<power::PowerSensor> open_power_sensor(const PowerConfig& cfg, std::string* why) {
  PowerConfig c = cfg;
  if (c.sensor == "none") {
    if (why) *why = "power sensing off (sensor: none)";
    return nullptr;
  }
  if (c.sensor == "auto" && c.board.empty()) {
    const std::string b = detect_board(c.root);
    if (!b.empty()) {
      apply_board(c, b);
      if (c.sensor == "auto") c.sensor = "sysfs";
    }
  }
  if (c.sensor == "replay") {
    if (c.replay.empty()) throw power::PowerError("sensor replay needs a power CSV (replay: FILE)");
    return power::open_replay_sensor(c.replay, true);
  }
  if (c.sensor == "i2c") {
    power::Ina3221Config ic;
    ic.address = static_cast<uint8_t>(c.i2c_address);
    ic.shunt_ohm = c.shunt_ohm;
    ic.labels = c.labels;
    ic.averages_code = c.averages_code;
    ic.bus_conv_code = ic.shunt_conv_code = c.conversion_code;
    for (int k = 0; k < 3; ++k) {
      ic.enabled[static_cast<size_t>(k)] = !c.labels[static_cast<size_t>(k)].empty();
      if (!c.i2c_total.empty() && c.labels[static_cast<size_t>(k)] == c.i2c_total) ic.total_channel = k;
    }
    return std::make_unique<power::Ina3221>(std::make_shared<power::LinuxI2c>(c.i2c_bus), ic);
  }
  power::SysfsOptions so;
  so.root = c.root;
  so.total_rails = c.total_rails;
  so.only_rails = c.rails;
  try {
    return power::open_sysfs_sensor(so);
  } catch (const power::PowerError& e) {
    if (c.sensor == "auto" && std::string(e.what()).rfind("no power sensor", 0) == 0) {
      if (why) *why = e.what();
      return nullptr;
    }
    throw;
  }
}

}  // namespace ec
