#include "common.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "error.h"

namespace ec {

static Shape parse_dims(const std::string& s, const std::string& spec) {
  Shape r;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    try {
      size_t used = 0;
      long long v = std::stoll(tok, &used);
      if (used != tok.size() || v <= 0) throw std::invalid_argument("bad");
      r.push_back(v);
    } catch (const std::exception&) {
      throw Error("--shape '" + spec + "': '" + tok + "' is not a positive integer");
    }
  }
  if (r.empty()) throw Error("--shape '" + spec + "': no dimensions");
  return r;
}

std::map<std::string, Shape> parse_shapes(const std::vector<std::string>& specs, const Model& m) {
  std::map<std::string, Shape> r;
  for (const std::string& spec : specs) {
    auto eq = spec.rfind('=');
    if (eq == std::string::npos) {
      if (m.graph.inputs.empty()) throw Error("--shape '" + spec + "': the model has no inputs");
      r[m.graph.inputs[0].name] = parse_dims(spec, spec);
    } else {
      r[spec.substr(0, eq)] = parse_dims(spec.substr(eq + 1), spec);
    }
  }
  return r;
}

void fill_seeded(Tensor& t, uint32_t seed) {
  if (t.dtype() != DType::f32) throw Error("seeded inputs are float32 only, input has " + std::string(dtype_name(t.dtype())));
  float* p = t.ptr<float>();
  uint32_t s = seed;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s += 0x6d2b79f5u;
    uint32_t x = (s ^ (s >> 15)) * (1u | s);
    x = (x + ((x ^ (x >> 7)) * (61u | x))) ^ x;
    double u = static_cast<double>(x ^ (x >> 14)) / 4294967296.0;
    p[i] = static_cast<float>(u * 2 - 1);
  }
}

LatencyStats summarize_ms(std::vector<double> ms) {
  LatencyStats st;
  st.runs = ms.size();
  if (ms.empty()) return st;
  std::sort(ms.begin(), ms.end());
  auto q = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())))]; };
  st.min_ms = ms.front();
  st.median_ms = q(0.5);
  st.p95_ms = q(0.95);
  double sum = 0;
  for (double v : ms) sum += v;
  st.mean_ms = sum / static_cast<double>(ms.size());
  return st;
}

size_t peak_rss_bytes() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;
}

size_t current_rss_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  if (!(f >> pages >> resident)) return 0;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.flush();
  if (!f) throw Error(path + ": write failed");
}

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace ec

namespace ec {
std::string self_exe_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<size_t>(n));
}
}  // namespace ec
