// `edgecompress power`: a live table of the board's rails (V, A, W, true mean W, energy J), optionally
// logged to CSV; `--once --json` for scripts.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "commands.h"
#include "common.h"
#include "config.h"
#include "error.h"
#include "power_setup.h"
#include "sampler.h"

namespace ec {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

struct PowerCliOptions {
  PowerConfig cfg;
  std::string config_file, board, shunts, labels, total;
  std::string log;
  double duration_s = 0;
  double refresh_s = 0.5;
  bool once = false, json = false;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> r;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, ',')) r.push_back(t);
  return r;
}

nlohmann::json sample_json(const power::PowerSensor& sensor, const power::PowerSample& s) {
  nlohmann::json j;
  j["sensor"] = sensor.name();
  j["replay"] = sensor.is_replay();
  j["ok"] = s.ok;
  if (!s.ok) j["error"] = s.error;
  for (size_t i = 0; i < sensor.rails().size(); ++i) {
    const auto& r = s.rails.size() > i ? s.rails[i] : power::RailReading{};
    nlohmann::json rj = {{"name", sensor.rails()[i].name}, {"total", sensor.rails()[i].is_total}, {"valid", r.valid}};
    if (r.valid) {
      rj["volts"] = r.volts;
      rj["amps"] = r.amps;
      rj["watts"] = r.watts;
    }
    j["rails"].push_back(rj);
  }
  const double bw = power::board_watts(s, sensor.rails());
  if (!std::isnan(bw)) j["board_watts"] = bw;
  return j;
}

void run_power(PowerCliOptions& o) {
  PowerConfig& c = o.cfg;
  if (!o.config_file.empty()) {
    YAML::Node y = load_yaml(o.config_file);
    parse_power_yaml(y["power"] ? y["power"] : y, o.config_file, c);
  }
  if (!o.board.empty()) apply_board(c, o.board);
  if (!o.shunts.empty()) {
    auto v = split_list(o.shunts);
    if (v.size() != 3) throw Error("--shunt-ohm '" + o.shunts + "': give 3 values");
    for (size_t k = 0; k < 3; ++k) {
      try {
        c.shunt_ohm[k] = std::stod(v[k]);
      } catch (const std::exception&) {
        throw Error("--shunt-ohm '" + o.shunts + "': '" + v[k] + "' is not a number");
      }
      if (!(c.shunt_ohm[k] > 0)) throw Error("--shunt-ohm '" + o.shunts + "': resistances must be > 0");
    }
  }
  if (!o.labels.empty()) {
    auto v = split_list(o.labels);
    if (v.size() != 3) throw Error("--labels '" + o.labels + "': give 3 names");
    for (size_t k = 0; k < 3; ++k) c.labels[k] = v[k];
  }
  if (!o.total.empty()) {
    c.total_rails = {o.total};
    c.i2c_total = o.total;
  }
  if (!c.replay.empty() && c.sensor == "auto") c.sensor = "replay";
  std::string why;
  std::unique_ptr<power::PowerSensor> sensor;
  try {
    sensor = open_power_sensor(c, &why);
  } catch (const power::PowerError& e) {
    throw Error(e.what());
  }
  if (!sensor) throw Error(why);

  if (o.once) {
    power::PowerSample s;
    sensor->read(s);
    s.t_ms = now_ms();
    if (o.json) {
      std::printf("%s\n", sample_json(*sensor, s).dump(2).c_str());
    } else {
      std::printf("%s%s\n", sensor->name().c_str(), sensor->is_replay() ? "  [replay]" : "");
      for (size_t i = 0; i < sensor->rails().size(); ++i) {
        const auto& r = s.rails[i];
        std::printf("  %-18s %s %8.3f V %8.3f A %8.3f W\n", sensor->rails()[i].name.c_str(),
                    sensor->rails()[i].is_total ? "(total)" : "       ", r.volts, r.amps, r.watts);
      }
    }
    return;
  }

  power::SamplerOptions so;
  so.rate_hz = c.rate_hz;
  power::PowerSampler sampler(std::move(sensor), so);
  std::unique_ptr<power::PowerCsvWriter> writer;
  if (!o.log.empty()) {
    try {
      writer = std::make_unique<power::PowerCsvWriter>(o.log, sampler.sensor());
    } catch (const power::PowerError& e) {
      throw Error(e.what());
    }
  }
  power::EnergyAccumulator acc(sampler.rails());
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const bool tty = isatty(STDOUT_FILENO);
  const double t_start = now_ms();
  uint64_t cursor = 0, lost = 0;
  sampler.start();
  auto drain = [&] {
    auto ss = sampler.since(cursor, &lost);
    acc.add(ss);
    if (writer) {
      try {
        writer->write(ss);
      } catch (const power::PowerError& e) {
        sampler.stop();
        throw Error(std::string(e.what()) + " (samples up to the failure are in the log)");
      }
    }
  };
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::duration<double>(o.refresh_s));
    drain();
    const double elapsed_s = (now_ms() - t_start) / 1000.0;
    const power::PowerSample last = sampler.latest();
    if (tty) std::printf("\033[H\033[J");
    std::printf("%s%s   %.0f Hz   %.1f s   samples %llu   gaps %llu\n", sampler.sensor().name().c_str(),
                sampler.sensor().is_replay() ? "  [replay]" : "", sampler.rate_hz(), elapsed_s,
                static_cast<unsigned long long>(sampler.count()), static_cast<unsigned long long>(sampler.gaps()));
    std::printf("%-18s %9s %9s %9s %10s %11s\n", "rail", "V", "A", "W", "mean W", "energy J");
    for (size_t i = 0; i < sampler.rails().size(); ++i) {
      const auto& r = last.rails.size() > i ? last.rails[i] : power::RailReading{};
      std::printf("%-18s %9.3f %9.3f %9.3f %10.3f %11.3f%s\n", sampler.rails()[i].name.c_str(), r.volts, r.amps, r.watts,
                  acc.mean_w(static_cast<int>(i)), acc.joules(static_cast<int>(i)), sampler.rails()[i].is_total ? "  total" : "");
    }
    std::printf("%-18s %9s %9s %9.3f %10.3f %11.3f\n", "board", "", "", power::board_watts(last, sampler.rails()), acc.mean_w(-1),
                acc.joules(-1));
    if (!last.ok) std::printf("gap: %s\n", last.error.c_str());
    std::fflush(stdout);
    if (o.duration_s > 0 && elapsed_s >= o.duration_s) break;
  }
  sampler.stop();
  drain();
  if (o.json) {
    nlohmann::json j = {{"sensor", sampler.sensor().name()}, {"replay", sampler.sensor().is_replay()}, {"rate_hz", sampler.rate_hz()},
                        {"samples", sampler.count()}, {"gaps", sampler.gaps()}, {"board_mean_w", acc.mean_w(-1)},
                        {"board_energy_j", acc.joules(-1)}};
    for (size_t i = 0; i < sampler.rails().size(); ++i)
      j["rails"].push_back({{"name", sampler.rails()[i].name}, {"total", sampler.rails()[i].is_total},
                            {"mean_w", acc.mean_w(static_cast<int>(i))}, {"energy_j", acc.joules(static_cast<int>(i))}});
    std::printf("%s\n", j.dump(2).c_str());
  }
  if (writer) std::fprintf(stderr, "power log: %s\n", writer->path().c_str());
}

}  // namespace

void add_power_command(ec::cli::App& app) {
  auto o = std::make_shared<PowerCliOptions>();
  ec::cli::App* c = app.add_subcommand("power", "Live power of the board's INA3221 rails (V, A, W, mean W, energy J)");
  c->add_option("--config", o->config_file, "YAML file with a power: section (or a board file)");
  c->add_option("--board", o->board, "Board preset (configs/boards: jetson-nano, jetson-xavier-nx, jetson-orin-nano) or a YAML file");
  c->add_option("--sensor", o->cfg.sensor, "auto, sysfs, i2c, replay or none")->check(ec::cli::IsMember({"auto", "sysfs", "i2c", "replay", "none"}));
  c->add_option("--root", o->cfg.root, "Root of /sys and /proc (for chroots and tests)");
  c->add_option("--replay", o->cfg.replay, "Replay a power CSV recorded by edgecompress (labelled replay)");
  c->add_option("--i2c-bus", o->cfg.i2c_bus, "I2C bus number or /dev path (sensor i2c)");
  c->add_option("--i2c-addr", o->cfg.i2c_address, "INA3221 address 0x40..0x43 (sensor i2c)");
  c->add_option("--shunt-ohm", o->shunts, "Shunt resistances of channels 1,2,3 in ohms (sensor i2c)");
  c->add_option("--labels", o->labels, "Rail names of channels 1,2,3 (sensor i2c; empty disables a channel)");
  c->add_option("--total", o->total, "Name of the rail that is the board's total input");
  c->add_option("--rate", o->cfg.rate_hz, "Samples per second (default: the sensor's update rate, at most 1000)");
  c->add_option("--log", o->log, "Write every sample to this CSV");
  c->add_option("--duration", o->duration_s, "Stop after this many seconds (default: until Ctrl-C)");
  c->add_flag("--once", o->once, "Read one sample and exit");
  c->add_flag("--json", o->json, "JSON output (with --once: the sample; else a summary at the end)");
  c->callback([o] { run_power(*o); });
}

}  // namespace ec
