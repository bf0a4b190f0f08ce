#include "denormals.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace ec {
namespace {

#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
constexpr uint64_t kFlush = (1u << 15) | (1u << 6);  // MXCSR.FTZ | MXCSR.DAZ
uint64_t get_mode() { return _mm_getcsr(); }
void set_mode(uint64_t m) { _mm_setcsr(static_cast<unsigned>(m)); }
constexpr bool kSupported = true;
#elif defined(__aarch64__)
constexpr uint64_t kFlush = uint64_t{1} << 24;  // FPCR.FZ: subnormal inputs and results are zero
uint64_t get_mode() {
  uint64_t v;
  __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
  return v;
}
void set_mode(uint64_t m) { __asm__ __volatile__("msr fpcr, %0" : : "r"(m)); }
constexpr bool kSupported = true;
#else
constexpr uint64_t kFlush = 0;
uint64_t get_mode() { return 0; }
void set_mode(uint64_t) {}
constexpr bool kSupported = false;
#endif

}  // namespace

DenormalsAsZero::DenormalsAsZero() : saved_(get_mode()) {
  if ((saved_ & kFlush) != kFlush) set_mode(saved_ | kFlush);
}
DenormalsAsZero::~DenormalsAsZero() {
  if ((saved_ & kFlush) != kFlush) set_mode(saved_);
}
bool DenormalsAsZero::supported() { return kSupported; }
bool DenormalsAsZero::active() { return kSupported && (get_mode() & kFlush) == kFlush; }

}  // namespace ec
