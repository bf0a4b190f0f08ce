#include "depthwise.h"

namespace ec {

#if defined(__x86_64__) && defined(EC_HAVE_DEPTHWISE_AVX512)
bool depthwise_avx512_available() {
  static const bool cpu = __builtin_cpu_supports("avx512f");
  return cpu;
}
#else
bool depthwise_avx512_available() { return false; }
void depthwise_rows_avx512(const DepthwiseView&, const float*, float*, int64_t, int64_t) {}
#endif

}  // namespace ec
