// XNNPACK glue for the native engine: one-time library initialisation and the per-engine thread pool.
// Without libxnnpack (EC_HAVE_XNNPACK undefined) every function reports "not available" and the engine
// keeps its reference NCHW kernels.
#pragma once
#include <cstddef>
#include <string>

namespace ec {

// Initialises XNNPACK once per process; true when it is compiled in and supports this CPU.
bool xnnpack_available();
// What configure found: "API 2022-02", "API 2022-12", or "off (reason)".
std::string xnnpack_build();
// Why XNNPACK is not used ("" when it is available): not compiled in, or the CPU is unsupported.
std::string xnnpack_status();

// True when XNNPACK runs float16 convolutions and adds on this CPU (it has float16 kernels for it: ARMv8.2
// FEAT_FP16 in Debian's builds); the engine then runs models that store float16 weights in float16.
bool xnnpack_fp16_available();
// Why float16 arithmetic is not available ("" when it is).
std::string xnnpack_fp16_status();
// The CPU's float16 arithmetic as the kernel reports it (aarch64 HWCAP fphp + asimdhp); false elsewhere.
bool cpu_has_fp16_arith();
// One phrase on the CPU's float16 arithmetic, e.g. "the CPU has no FEAT_FP16: ARMv8.0, such as the Cortex-A57".
std::string cpu_fp16_features();

// A pthreadpool with `threads` workers (the calling thread counts as one); threads <= 1 holds no pool, so
// operators run on the calling thread. Movable, not copyable.
class XnnThreadPool {
 public:
  explicit XnnThreadPool(int threads = 1);
  ~XnnThreadPool();
  XnnThreadPool(XnnThreadPool&& o) noexcept : pool_(o.pool_) { o.pool_ = nullptr; }
  XnnThreadPool& operator=(XnnThreadPool&& o) noexcept;
  XnnThreadPool(const XnnThreadPool&) = delete;
  XnnThreadPool& operator=(const XnnThreadPool&) = delete;
  // The pthreadpool_t (nullptr when running on the calling thread).
  void* get() const { return pool_; }
  // Sends the workers to sleep now instead of letting them spin for the next task (EngineOptions::
  // yield_threads: after each run, so a pipeline's capture and decoder threads get the cores).
  void park();

 private:
  void* pool_ = nullptr;
};

}  // namespace ec
