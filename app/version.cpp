// `edgecompress --version`: what this build has and which engine paths this CPU takes.
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

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
#if defined(__aarch64__) && defined(__linux__)
  // on ARM the kernel's hwcaps are the truth (under qemu-user /proc/cpuinfo is the host's)
  have.clear();
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  if (hw & HWCAP_ASIMD) have.insert("asimd");
  if (hw & HWCAP_ASIMDDP) have.insert("asimddp");
  if (hw & HWCAP_FPHP) have.insert("fphp");
  if (hw & HWCAP_ASIMDHP) have.insert("asimdhp");
#ifdef HWCAP2_I8MM
  if (hw2 & HWCAP2_I8MM) have.insert("i8mm");
#else
  (void)hw2;
#endif
#endif
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
  const std::string f16 = xnnpack_fp16_status();
  std::string f16_line;
  if (!f16.empty()) f16_line = "off (" + f16 + ")";
  else if (cpu_has_fp16_arith()) f16_line = "on for models that store float16 weights (" + cpu_fp16_features() + ")";
  else f16_line = "with --precision fp16 only (XNNPACK's float16 kernels compute in float32 here: " + cpu_fp16_features() + ")";
  s += "  engine fp16 arithmetic: " + f16_line + "\n";
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
