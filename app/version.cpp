// `edgecompress --version`: what this build has and which engine paths this CPU takes.
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "build_features.h"
#include "commands.h"
#include "onnx_check.h"
#include "pointwise.h"
#include "qgemm.h"
#include "xnn.h"

namespace ec {
namespace {

// The CPU's name and the features that pick engine paths, from /proc/cpuinfo.
std::string cpu_line() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, model, flags;
  while (std::getline(f, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon), val = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (model.empty() && (key == "model name" || key == "CPU part" || key == "Hardware")) model = val;
    if (flags.empty() && (key == "flags" || key == "Features")) flags = val;
  }
  std::set<std::string> have;
  std::istringstream ss(flags);
  for (std::string w; ss >> w;) have.insert(w);
  std::string picked;
  for (const char* want : {"avx2", "fma", "avx512f", "avx512vl", "avx512_vnni", "asimd", "asimddp", "fphp", "asimdhp", "i8mm"})
    if (have.count(want)) picked += std::string(picked.empty() ? "" : " ") + want;
#if defined(__aarch64__)
  const char* arch = "aarch64";
#elif defined(__x86_64__)
  const char* arch = "x86_64";
#else
  const char* arch = "other";
#endif
  return std::string(arch) + ", " + (model.empty() ? "unknown model" : model) + " (" + (picked.empty() ? "no listed features" : picked) + ")";
}

}  // namespace

std::string version_text() {
  std::string s = std::string("edgecompress ") + EC_VERSION + "\n";
  s += "  cpu: " + cpu_line() + "\n";
  const std::string xs = xnnpack_status();
  s += "  engine fp32/int8 kernels: " + (xs.empty() ? "XNNPACK " + xnnpack_build() : "reference (" + xs + ")") + "\n";
  s += std::string("  engine int8 VNNI GEMM: ") + (qgemm_vnni_available() ? "on" : "off (not built for, or not on, this CPU)") + "\n";
  s += std::string("  engine fused pointwise conv+add: ") + (pointwise_available() ? "on" : "off (not built for, or not on, this CPU)") + "\n";
  s += "  onnx checker: " + onnx_checker_name() + "\n";
  for (const char* const* f = kBuildFeatures; *f; ++f) {
    const std::string line = *f;
    if (line.rfind("xnnpack:", 0) == 0 || line.rfind("onnx_checker:", 0) == 0) continue;  // shown above, with this CPU
    s += "  " + line + "\n";
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace ec
