// Subnormal (denormal) floats flushed to zero on the current thread, for the scope of a guard. On x86 a
// subnormal operand or result takes a microcode assist of ~100 cycles per instruction; a network whose
// activations decay towards zero (a flat test pattern, a dark frame) then runs tens of times slower. XNNPACK
// and ONNX Runtime's kernels run with the same setting (pthreadpool's DISABLE_DENORMALS flag), so results only
// differ in values below 1.2e-38, which no model depends on.
#pragma once
#include <cstdint>

namespace ec {

// Sets flush-to-zero and denormals-are-zero (x86: MXCSR FTZ and DAZ; aarch64: FPCR.FZ, which does both) on the
// calling thread and restores the previous mode when destroyed. Elsewhere it does nothing. Nests.
class DenormalsAsZero {
 public:
  DenormalsAsZero();
  ~DenormalsAsZero();
  DenormalsAsZero(const DenormalsAsZero&) = delete;
  DenormalsAsZero& operator=(const DenormalsAsZero&) = delete;
  // Whether this architecture can flush (x86-64 with SSE, aarch64).
  static bool supported();
  // Whether the calling thread flushes now (tests).
  static bool active();

 private:
  uint64_t saved_ = 0;
};

}  // namespace ec
