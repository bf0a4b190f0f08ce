#include "sysfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ec::power {
namespace {

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> r;
  DIR* d = opendir(dir.c_str());
  if (!d) return r;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") r.push_back(n);
  }
  closedir(d);
  std::sort(r.begin(), r.end());
  return r;
}

bool exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

// Reads a small sysfs text file; returns false with `err` set on failure.
bool read_text(const std::string& path, std::string& out, std::string& err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = path + ": " + std::strerror(errno);
    if (errno == EACCES) err += " (readable only by root: run with sudo or add a udev rule for the i2c devices)";
    return false;
  }
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int e = errno;
  close(fd);
  if (n < 0) {
    err = path + ": " + std::strerror(e);
    return false;
  }
  out.assign(buf, static_cast<size_t>(n));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return true;
}

// Parses an integer sysfs value ("4960\n"); false with `err` for anything else.
bool parse_long(const std::string& path, const std::string& text, long long& v, std::string& err) {
  if (text.empty()) {
    err = path + ": empty value";
    return false;
  }
  char* end = nullptr;
  errno = 0;
  v = std::strtoll(text.c_str(), &end, 10);
  if (errno || *end != '\0') {
    err = path + ": '" + text + "' is not a number";
    return false;
  }
  return true;
}

struct Rail {
  std::string volts_path, amps_path, watts_path;  // watts_path empty: computed
  double volts_scale = 1e-3, amps_scale = 1e-3, watts_scale = 1e-3;
};

class SysfsSensor : public PowerSensor {
 public:
  SysfsSensor(std::string name, std::vector<RailInfo> infos, std::vector<Rail> rails, double interval_ms)
      : name_(std::move(name)), infos_(std::move(infos)), rails_(std::move(rails)), interval_ms_(interval_ms) {}
  std::string name() const override { return name_; }
  const std::vector<RailInfo>& rails() const override { return infos_; }
  double update_interval_ms() const override { return interval_ms_; }
  bool read(PowerSample& s) override {
    s.rails.assign(rails_.size(), RailReading{});
    s.ok = true;
    s.error.clear();
    for (size_t i = 0; i < rails_.size(); ++i) {
      const Rail& r = rails_[i];
      RailReading& out = s.rails[i];
      long long mv = 0, ma = 0, mw = 0;
      std::string text, err;
      bool ok = read_text(r.volts_path, text, err) && parse_long(r.volts_path, text, mv, err) &&
                read_text(r.amps_path, text, err) && parse_long(r.amps_path, text, ma, err);
      if (ok && !r.watts_path.empty()) ok = read_text(r.watts_path, text, err) && parse_long(r.watts_path, text, mw, err);
      if (!ok) {
        if (s.ok) s.error = err;
        s.ok = false;
        continue;
      }
      out.volts = static_cast<double>(mv) * r.volts_scale;
      out.amps = static_cast<double>(ma) * r.amps_scale;
      out.watts = r.watts_path.empty() ? out.volts * out.amps : static_cast<double>(mw) * r.watts_scale;
      out.valid = true;
    }
    return s.ok;
  }

 private:
  std::string name_;
  std::vector<RailInfo> infos_;
  std::vector<Rail> rails_;
  double interval_ms_;
};

bool wanted(const SysfsOptions& o, const std::string& label) {
  return o.only_rails.empty() || std::find(o.only_rails.begin(), o.only_rails.end(), label) != o.only_rails.end();
}

bool is_total(const SysfsOptions& o, const std::string& label) {
  return std::find(o.total_rails.begin(), o.total_rails.end(), label) != o.total_rails.end();
}

}  // namespace

std::vector<SysfsDevice> find_sysfs_ina3221(const SysfsOptions& opts) {
  const std::string base = (opts.root == "/" ? std::string() : opts.root) + "/sys/bus/i2c/devices";
  std::vector<SysfsDevice> found;
  if (!exists(base)) return found;
  for (const std::string& dev : list_dir(base)) {
    const std::string d = base + "/" + dev;
    std::string name, err;
    if (!read_text(d + "/name", name, err)) continue;
    if (name == "ina3221x") {  // L4T IIO driver
      for (const std::string& sub : list_dir(d)) {
        if (sub.rfind("iio:device", 0) != 0) continue;
        SysfsDevice sd{dev, name, d + "/" + sub, {}};
        for (int k = 0; k < 3; ++k) {
          std::string label;
          if (read_text(sd.dir + "/rail_name_" + std::to_string(k), label, err)) sd.labels.push_back(label);
          else sd.labels.push_back("");
        }
        found.push_back(sd);
      }
    } else if (name == "ina3221") {  // upstream hwmon driver
      for (const std::string& sub : list_dir(d + "/hwmon")) {
        SysfsDevice sd{dev, name, d + "/hwmon/" + sub, {}};
        for (int k = 1; k <= 3; ++k) {
          std::string label;
          if (read_text(sd.dir + "/in" + std::to_string(k) + "_label", label, err)) sd.labels.push_back(label);
          else sd.labels.push_back("");
        }
        found.push_back(sd);
      }
    }
  }
  return found;
}

std::unique_ptr<PowerSensor> open_sysfs_sensor(const SysfsOptions& opts) {
  auto devs = find_sysfs_ina3221(opts);
  if (devs.empty())
    throw PowerError("no power sensor: no INA3221 (ina3221x/ina3221) under " +
                     (opts.root == "/" ? std::string() : opts.root) + "/sys/bus/i2c/devices");
  std::vector<RailInfo> infos;
  std::vector<Rail> rails;
  double interval_ms = 0;
  std::string first_error;
  std::string name;
  for (const SysfsDevice& d : devs) {
    name += (name.empty() ? "" : ", ") + (d.driver == "ina3221x" ? std::string("iio ina3221x (") : std::string("hwmon ina3221 (")) + d.i2c_device + ")";
    for (int k = 0; k < 3; ++k) {
      const std::string& label = d.labels[static_cast<size_t>(k)];
      if (label.empty() || label == "NC" || !wanted(opts, label)) continue;
      Rail r;
      std::string err, text;
      if (d.driver == "ina3221x") {
        r.volts_path = d.dir + "/in_voltage" + std::to_string(k) + "_input";
        r.amps_path = d.dir + "/in_current" + std::to_string(k) + "_input";
        r.watts_path = d.dir + "/in_power" + std::to_string(k) + "_input";
      } else {
        const std::string kk = std::to_string(k + 1);
        if (read_text(d.dir + "/in" + kk + "_enable", text, err) && text == "0") continue;  // disabled channel
        r.volts_path = d.dir + "/in" + kk + "_input";
        r.amps_path = d.dir + "/curr" + kk + "_input";
      }
      // Check now that the files are readable so permission problems show at start-up.
      if (!read_text(r.volts_path, text, err) || !read_text(r.amps_path, text, err)) {
        if (first_error.empty()) first_error = err;
        continue;
      }
      infos.push_back({label, is_total(opts, label)});
      rails.push_back(r);
    }
    std::string text, err;
    long long ms = 0;
    if (d.driver == "ina3221" && read_text(d.dir + "/update_interval", text, err) && parse_long(d.dir, text, ms, err) && ms > 0)
      interval_ms = std::max(interval_ms, static_cast<double>(ms));
  }
  if (rails.empty()) {
    if (!first_error.empty()) throw PowerError("power sensor found but not readable: " + first_error);
    throw PowerError("no power sensor: INA3221 devices found, but no labelled rails match");
  }
  if (interval_ms <= 0) interval_ms = 10.0;  // the IIO driver has no interval attribute; its reads take ~ms
  return std::make_unique<SysfsSensor>(name, infos, rails, interval_ms);
}

}  // namespace ec::power
