#include "targets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "archive.h"
#include "config.h"
#include "engine.h"
#include "error.h"
#include "monitor.h"
#include "onnx_io.h"
#include "recipe.h"
#include "run_config.h"
#include "runner.h"
#include "sampler.h"
#include "sensor.h"
#include "sysfs.h"
#include "task.h"
#include "tensor.h"

namespace ec::fuzz {
namespace {

// A folder of this process for the files the readers take by path (tmpfs where there is one).
const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (tmp && *tmp ? tmp : "/tmp");
    std::string d = base + "/ec-fuzz-" + std::to_string(getpid());
    mkdir(d.c_str(), 0700);
    return d;
  }();
  return dir;
}

void write_file(const std::string& path, const char* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data, static_cast<std::streamsize>(size));
}

void mkdirs(const std::string& path) {
  for (size_t p = 1; p != std::string::npos; p = path.find('/', p + 1)) mkdir(path.substr(0, p).c_str(), 0700);
  mkdir(path.c_str(), 0700);
}

// Runs `f`; the project's own errors are the expected way to refuse an input and are swallowed.
template <class F>
void refusals_ok(F&& f) {
  try {
    f();
  } catch (const ec::Error&) {
  } catch (const ec::power::PowerError&) {
  }
}

}  // namespace

void set_fuzz_limits() {
  load_limits().max_tensor_mb = 64;
  load_limits().max_nodes = 5000;
  load_limits().max_model_mb = 64;
}

void onnx(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  refusals_ok([&] {
    Model m = load_onnx_bytes(bytes, scratch_dir() + "/fuzz.onnx");  // external data resolves in the scratch folder
    auto engine = create_engine("native", m);
    engine->prepare({});
  });
}

void archive(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  refusals_ok([&] { unpack_archive(bytes, scratch_dir() + "/fuzz.ecz"); });
}

void config(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const std::string path = scratch_dir() + "/fuzz.yaml";
  write_file(path, reinterpret_cast<const char*>(data) + 1, size - 1);
  refusals_ok([&] {
    switch (data[0] % 3) {
      case 0: load_run_config(path); break;
      case 1: load_recipe(path); break;
      default: {
        TaskSpec t;
        parse_task_yaml(load_yaml(path), path, t);
      }
    }
  });
}

void power_csv(const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/fuzz.csv";
  write_file(path, reinterpret_cast<const char*>(data), size);
  refusals_ok([&] {
    auto sensor = ec::power::open_replay_sensor(path, /*loop=*/true);
    ec::power::PowerSample s;
    for (int i = 0; i < 3; ++i) sensor->read(s);
    (void)sensor->rails();
    (void)sensor->update_interval_ms();
  });
}

void sysfs(const uint8_t* data, size_t size) {
  if (size == 0) return;
  std::vector<std::string> f;
  std::string cur;
  for (size_t i = 1; i < size; ++i) {
    if (data[i] == 0) {
      f.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(data[i]);
    }
  }
  f.push_back(cur);
  f.resize(16);
  const bool iio = data[0] & 1;
  const std::string root = scratch_dir() + "/sysroot";
  const std::string dev = root + "/sys/bus/i2c/devices/1-0040";
  const std::string dir = iio ? dev + "/iio:device0" : dev + "/hwmon/hwmon3";
  static bool made[2] = {false, false};
  if (!made[iio]) {
    mkdirs(dir);
    made[iio] = true;
  }
  const std::string name = iio ? "ina3221x" : "ina3221";
  write_file(dev + "/name", name.data(), name.size());
  for (int k = 0; k < 3; ++k) {
    const std::string& label = f[static_cast<size_t>(k)];
    const std::string& mv = f[static_cast<size_t>(3 + k)];
    const std::string& ma = f[static_cast<size_t>(6 + k)];
    const std::string& mw = f[static_cast<size_t>(9 + k)];
    if (iio) {
      write_file(dir + "/rail_name_" + std::to_string(k), label.data(), label.size());
      write_file(dir + "/in_voltage" + std::to_string(k) + "_input", mv.data(), mv.size());
      write_file(dir + "/in_current" + std::to_string(k) + "_input", ma.data(), ma.size());
      write_file(dir + "/in_power" + std::to_string(k) + "_input", mw.data(), mw.size());
    } else {
      const std::string kk = std::to_string(k + 1);
      write_file(dir + "/in" + kk + "_label", label.data(), label.size());
      write_file(dir + "/in" + kk + "_input", mv.data(), mv.size());
      write_file(dir + "/curr" + kk + "_input", ma.data(), ma.size());
      const std::string en = f[13].size() > static_cast<size_t>(k) ? std::string(1, f[13][static_cast<size_t>(k)]) : "1";
      write_file(dir + "/in" + kk + "_enable", en.data(), en.size());
    }
  }
  if (!iio) write_file(dir + "/update_interval", f[12].data(), f[12].size());
  refusals_ok([&] {
    ec::power::SysfsOptions o;
    o.root = root;
    o.only_rails.clear();
    if (!f[14].empty()) o.only_rails.push_back(f[14]);
    auto sensor = ec::power::open_sysfs_sensor(o);
    ec::power::PowerSample s;
    sensor->read(s);
    sensor->read(s);
    (void)ec::power::board_watts(s, sensor->rails());
  });
}

void http(const uint8_t* data, size_t size) {
#ifdef EC_HAVE_HTTP
  // one server for the process: a pipeline that is built but never run (its metrics hold a few samples)
  struct Server {
    RunConfig rc;
    std::unique_ptr<Pipeline> pl;
    std::unique_ptr<MonitorServer> srv;
    Server() {
      rc.source_uri = "test://ball";
      VariantConfig v;
      v.name = "fuzz";
      v.model = EC_MODELS_DIR "/blazeface128.onnx";  // loaded once; never run
      v.decoder.type = "blazeface";
      rc.variants.push_back(v);
      pl = std::make_unique<Pipeline>(rc, nullptr, "off");
      const_cast<RunMetrics&>(pl->metrics()).record("fuzz", 2, 10, 1, 300);
      MonitorConfig mc;
      mc.listen = "127.0.0.1:0";
      mc.token = "fuzz-token";
      mc.max_connections = 4096;
      mc.request_timeout_s = 0.5;
      mc.stream_idle_s = 0.05;  // no video runs: streams and snapshots end at once
      srv = std::make_unique<MonitorServer>(mc, *pl);
    }
  };
  static Server s;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(s.srv->port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // each connection from the next of 250 loopback addresses: the client closes first, so its port stays in
  // TIME_WAIT for a minute, and a few hundred inputs a second would use up one address's ephemeral ports
  static unsigned next_source = 0;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(0x7F010001u + (next_source++ % 250));  // 127.1.0.1 ...
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
    std::fprintf(stderr, "http: cannot bind a loopback source address: %s\n", std::strerror(errno));
    abort();
  }
  // libFuzzer's timer signal can interrupt connect (EINTR): the connection goes on, and connect says so
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  for (int tries = 0; rc != 0 && (errno == EINTR || errno == EALREADY) && tries < 1000; ++tries) {
    pollfd p{fd, POLLOUT, 0};
    poll(&p, 1, 10);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (rc != 0 && errno == EISCONN) rc = 0;
  }
  if (rc != 0) {
    std::fprintf(stderr, "http: cannot connect to the server on port %d: %s\n", s.srv->port(), std::strerror(errno));
    abort();  // the server must be listening
  }
  size_t at = 0;
  while (at < size) {  // the server may close early (a bad head): then the rest cannot be sent, which is fine
    const ssize_t n = send(fd, data + at, size - at, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    at += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);  // the request ends here: the server answers what it has and closes
  std::string got;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(900);
  while (std::chrono::steady_clock::now() < end && got.size() < (1u << 20)) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[16384];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  // whatever the server sent starts with a status line
  if (!got.empty() && got.compare(0, 7, "HTTP/1.") != 0) {
    std::fprintf(stderr, "http: the answer does not start with a status line: '%s'\n", got.substr(0, 120).c_str());
    abort();
  }
#else
  (void)data;
  (void)size;
#endif
}

const std::vector<Target>& targets() {
  static const std::vector<Target> t = {
      {"onnx", onnx, "ONNX loader + native prepare"},
      {"archive", archive, ".ecz archive reader"},
      {"config", config, "run configs, recipes, task files (YAML)"},
      {"power_csv", power_csv, "power CSV replay"},
      {"sysfs", sysfs, "INA3221 sysfs/IIO discovery and values"},
      {"http", http, "monitoring endpoint (requests over loopback)"},
  };
  return t;
}

}  // namespace ec::fuzz
