// Switches for the engine's own x86 kernels (the VNNI int8 GEMM and the fused AVX-512 pointwise conv + Add),
// process-wide: the layout pass and the int8 convolution read them when a model is prepared, so set them
// before creating engines. Both are on by default and only take effect where the CPU has the instructions.
// app/ sets them from its environment (EC_NO_VNNI=1, EC_NO_POINTWISE=1); the engine never reads the
// environment itself.
#pragma once

namespace ec {

struct KernelSwitches {
  bool vnni_gemm = true;        // int8 1x1 convolutions and stems on our VNNI GEMM (else XNNPACK's int8 kernels)
  bool fused_pointwise = true;  // float 1x1 convolution + residual Add fused into one kernel (else XNNPACK + Add)
};

void set_kernel_switches(const KernelSwitches& s);
KernelSwitches kernel_switches();

}  // namespace ec
