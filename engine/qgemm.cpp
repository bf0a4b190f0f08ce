#include "qgemm.h"

#include "kernel_switches.h"

namespace ec {

#if defined(__x86_64__) && defined(EC_HAVE_VNNI_KERNEL)
bool qgemm_vnni_available() {
  // switched off, the XNNPACK int8 path runs (the tests run it that way too, so it stays checked on VNNI CPUs)
  static const bool cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vnni");
  return cpu && kernel_switches().vnni_gemm;
}
void qgemm_vnni_rows(const QGemmView& l, const int8_t* x, int8_t* y, int64_t p0, int64_t p1);  // qgemm_vnni.cpp
void qgemm_vnni(const QGemmLayer& l, const int8_t* x, int8_t* y, int64_t p0, int64_t p1, const int8_t* r, int64_t cr) {
  const QGemmView v{l.packed.data(), l.bias_adj.data(), l.scale.data(), l.k, l.n, l.zy, l.lo, l.hi,
                    l.add ? r : nullptr, cr, l.ka, l.kb, l.off, l.rz, l.add_lo, l.add_hi};
  qgemm_vnni_rows(v, x, y, p0, p1);
}
#else
bool qgemm_vnni_available() { return false; }
void qgemm_vnni(const QGemmLayer&, const int8_t*, int8_t*, int64_t, int64_t, const int8_t*, int64_t) {}
#endif

QGemmLayer qgemm_pack(const int8_t* w, int64_t n, int64_t k, const int32_t* bias, int32_t zx, const float* scale, int32_t zy, int8_t lo,
                      int8_t hi) {
  QGemmLayer l;
  l.k = k;
  l.n = n;
  l.zy = zy;
  l.lo = lo;
  l.hi = hi;
  const int64_t nb = (n + 15) / 16, k4 = (k + 3) / 4;
  l.packed.assign(static_cast<size_t>(nb * k4 * 64), 0);
  l.bias_adj.assign(static_cast<size_t>(nb * 16), 0);
  l.scale.assign(static_cast<size_t>(nb * 16), 0.f);
  for (int64_t o = 0; o < n; ++o) {
    int64_t wsum = 0;
    for (int64_t i = 0; i < k; ++i) {
      const int8_t v = w[o * k + i];
      wsum += v;
      l.packed[static_cast<size_t>((((o / 16) * k4 + i / 4) * 16 + o % 16) * 4 + i % 4)] = v;
    }
    l.bias_adj[static_cast<size_t>(o)] = static_cast<int32_t>((bias ? bias[o] : 0) - (zx + 128) * wsum);
    l.scale[static_cast<size_t>(o)] = scale[o];
  }
  return l;
}

}  // namespace ec
