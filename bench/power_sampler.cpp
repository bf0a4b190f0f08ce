// CPU cost of the PowerSampler thread at 1 kHz: process CPU time (getrusage) over wall time while the
// sampler reads (a) the INA3221 driver on the register emulator and (b) a fake hwmon sysfs tree of a Jetson
// Orin Nano (the real file reads). Repeats 3 x 2 s and prints min / median in percent of one core.
//   ./build/bench/bench_power_sampler [seconds]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "../tests/power/ina3221_emulator.h"
#include "sampler.h"
#include "sysfs.h"

using namespace ec::power;

namespace {

double cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void put(const std::string& path, const std::string& text) {
  std::system(("mkdir -p '" + path.substr(0, path.rfind('/')) + "'").c_str());
  FILE* f = std::fopen(path.c_str(), "w");
  std::fprintf(f, "%s\n", text.c_str());
  std::fclose(f);
}

std::string fake_orin() {
  std::string root = "/tmp/ec-bench-sysfs";
  std::string h = root + "/sys/bus/i2c/devices/1-0040/hwmon/hwmon3";
  put(root + "/sys/bus/i2c/devices/1-0040/name", "ina3221");
  const char* labels[] = {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"};
  for (int k = 1; k <= 3; ++k) {
    put(h + "/in" + std::to_string(k) + "_label", labels[k - 1]);
    put(h + "/in" + std::to_string(k) + "_input", "5000");
    put(h + "/curr" + std::to_string(k) + "_input", "1000");
  }
  put(h + "/update_interval", "1");
  return root;
}

template <class MakeSensor>
void measure(const char* name, MakeSensor make, double seconds) {
  std::vector<double> pct, rate;
  for (int rep = 0; rep < 3; ++rep) {
    PowerSampler s(make(), SamplerOptions{1000, 1 << 16});
    const double c0 = cpu_s();
    const auto w0 = std::chrono::steady_clock::now();
    s.start();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    s.stop();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    pct.push_back(100.0 * (cpu_s() - c0) / wall);
    rate.push_back(static_cast<double>(s.count()) / wall);
  }
  std::sort(pct.begin(), pct.end());
  std::sort(rate.begin(), rate.end());
  std::printf("%-28s requested 1000 Hz  achieved %.0f Hz (median)  CPU min %.2f%%  median %.2f%% of one core\n", name, rate[1],
              pct[0], pct[1]);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  std::printf("sampler CPU cost, 3 repeats x %.1f s, %u CPUs\n", seconds, std::thread::hardware_concurrency());
  measure("ina3221 on emulator", [] {
    auto emu = std::make_shared<ec::test::Ina3221Emulator>();
    emu->set_channel(0, [](double) { return 5.0; }, [](double) { return 0.005; });
    Ina3221Config cfg;
    cfg.averages_code = 0;
    cfg.bus_conv_code = cfg.shunt_conv_code = 0;
    cfg.enabled = {true, false, false};
    return std::unique_ptr<PowerSensor>(new Ina3221(emu, cfg));
  }, seconds);
  const std::string root = fake_orin();
  measure("hwmon sysfs (3 rails)", [&] { return open_sysfs_sensor({root, {"VDD_IN"}, {}}); }, seconds);
  return 0;
}
