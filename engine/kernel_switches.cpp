#include "kernel_switches.h"

#include <atomic>

namespace ec {
namespace {
std::atomic<bool> g_vnni{true}, g_pointwise{true};
}

void set_kernel_switches(const KernelSwitches& s) {
  g_vnni = s.vnni_gemm;
  g_pointwise = s.fused_pointwise;
}

KernelSwitches kernel_switches() { return {g_vnni.load(), g_pointwise.load()}; }

}  // namespace ec
