#include "pointwise.h"

#include <algorithm>
#include <string>

#include "kernel_switches.h"

namespace ec {

#if defined(__x86_64__) && defined(EC_HAVE_POINTWISE_KERNEL)
bool pointwise_available() {
  static const bool cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  return cpu && kernel_switches().fused_pointwise;
}
void pointwise_rows(const PointwiseView& l, const float* x, const float* r, int64_t cr, float* y, int64_t p0, int64_t p1);  // pointwise_avx512.cpp
void pointwise_run(const PointwiseLayer& l, const float* x, const float* r, int64_t cr, float* y, int64_t p0, int64_t p1) {
  const PointwiseView v{l.w.data(), l.bias.data(), l.k, l.n, l.npad, l.lo, l.hi};
  pointwise_rows(v, x, r, cr, y, p0, p1);
}
#else
bool pointwise_available() { return false; }
void pointwise_run(const PointwiseLayer&, const float*, const float*, int64_t, float*, int64_t, int64_t) {}
#endif

PointwiseLayer pointwise_pack(const float* w, int64_t n, int64_t k, const float* bias, float lo, float hi) {
  PointwiseLayer l;
  l.k = k;
  l.n = n;
  l.npad = (n + 15) / 16 * 16;  // 16-float vectors (pointwise_avx512.cpp)
  l.w.assign(static_cast<size_t>(k * l.npad), 0.f);
  for (int64_t o = 0; o < n; ++o)
    for (int64_t i = 0; i < k; ++i) l.w[static_cast<size_t>(i * l.npad + o)] = w[o * k + i];
  l.bias.assign(static_cast<size_t>(l.npad), 0.f);
  if (bias) std::copy(bias, bias + n, l.bias.begin());
  l.lo = lo;
  l.hi = hi;
  return l;
}

}  // namespace ec
