// CPU cost of Prometheus scrapes: the /metrics endpoint of MonitorServer over real HTTP on loopback, with
// metrics of a 4-variant run with 3 power rails. Reports CPU time per scrape (server and client in this
// process, so an upper bound) and what one scrape per second costs in percent of one core.
//   ./build/bench/bench_monitor_scrape [scrapes]
#include <httplib.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "monitor.h"

using namespace ec;

namespace {
double cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 500;
  // A pipeline is needed for the server; its metrics are filled by hand (no video is run).
  RunConfig rc;
  rc.source_uri = "test://ball";
  VariantConfig v;
  v.model = "models/blazeface128.onnx";
  v.decoder.type = "blazeface";
  for (int i = 0; i < 4; ++i) {
    v.name = "variant" + std::to_string(i);
    rc.variants.push_back(v);
  }
  Pipeline pl(rc, nullptr, "off");
  auto& m = const_cast<RunMetrics&>(pl.metrics());
  for (int i = 0; i < 10000; ++i)
    m.record("variant" + std::to_string(i % 4), 2 + (i % 7), 10 + (i % 13), i % 3, 300);
  m.set_power("hwmon ina3221 (1-0040)", false, {{"VDD_IN", {5, 1.5, 7.5, true, true}}, {"VDD_SOC", {5, 0.6, 3, true, false}}, {"VDD_CPU_GPU_CV", {5, 0.4, 2, true, false}}}, 7.5);
  MonitorConfig mc;
  mc.listen = "127.0.0.1:0";
  MonitorServer srv(mc, pl);
  httplib::Client cli("127.0.0.1", srv.port());
  size_t bytes = 0;
  for (int i = 0; i < 20; ++i) cli.Get("/metrics");  // warm-up
  std::vector<double> per;
  for (int rep = 0; rep < 3; ++rep) {
    const double c0 = cpu_s();
    for (int i = 0; i < n; ++i) {
      auto res = cli.Get("/metrics");
      if (!res || res->status != 200) {
        std::fprintf(stderr, "scrape failed\n");
        return 1;
      }
      bytes = res->body.size();
    }
    per.push_back((cpu_s() - c0) / n);
  }
  std::sort(per.begin(), per.end());
  std::printf("/metrics: %zu bytes, %d scrapes x 3 repeats; CPU per scrape (server + client) min %.3f ms, median %.3f ms\n", bytes, n,
              per[0] * 1e3, per[1] * 1e3);
  std::printf("at one scrape per second: %.4f%% of one core (median)\n", per[1] * 100.0);
  return 0;
}
