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
                    l.add ? r : nullptr, cr, l.ka, l.kb, l.off, l.rz, l.add_lo, l.add_hi,
                    l.pair_packed.empty() ? nullptr : l.pair_packed.data(), l.pair_bias_adj.data(), l.pair_scale.data(), nullptr, nullptr};
  qgemm_vnni_rows(v, x, y, p0, p1);
}
void qgemm_vnni_f32(const QGemmLayer& l, const int8_t* x, float* y, const float* bias, int64_t p0, int64_t p1) {
  const QGemmView v{l.packed.data(), l.bias_adj.data(), l.scale.data(), l.k, l.n, l.zy, l.lo, l.hi, nullptr, 0, l.ka, l.kb, l.off, l.rz,
                    l.add_lo, l.add_hi, nullptr, nullptr, nullptr, y, bias};
  qgemm_vnni_rows(v, x, nullptr, p0, p1);
}
void qdw_vnni_rows(const QDwView& l, const int8_t* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int8_t* y, int64_t ow, int64_t oy0,
                   int64_t oy1, int8_t* work);
void qdw_vnni(const QDwLayer& l, const int8_t* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int8_t* y, int64_t ow, int64_t oy0,
              int64_t oy1, int8_t* work) {
  const QDwView v{l.packed.data(), l.bias_adj.data(), l.scale.data(), l.c, l.blocks, l.kh, l.kw, l.sh, l.sw, l.groups, l.zy, l.zx, l.lo, l.hi};
  qdw_vnni_rows(v, x, ih, iw, pt, pl, y, ow, oy0, oy1, work);
}
void qdirect_vnni_rows(const QDirectView& l, const int8_t* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int8_t* y, int64_t ow,
                       int64_t oy0, int64_t oy1, uint8_t* work, int64_t pitch);
void qdirect_vnni(const QDirectLayer& l, const int8_t* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int8_t* y, int64_t ow, int64_t oy0,
                  int64_t oy1, uint8_t* work) {
  const QDirectView v{l.g.packed.data(), l.g.bias_adj.data(), l.g.scale.data(), l.g.n, l.c, l.kh, l.kw, l.sh, l.sw, l.groups, l.g.zy, l.zx, l.g.lo, l.g.hi};
  qdirect_vnni_rows(v, x, ih, iw, pt, pl, y, ow, oy0, oy1, work, qdirect_pitch(l, ow));
}
#else
bool qgemm_vnni_available() { return false; }
void qdirect_vnni(const QDirectLayer&, const int8_t*, int64_t, int64_t, int64_t, int64_t, int8_t*, int64_t, int64_t, int64_t, uint8_t*) {}
void qgemm_vnni(const QGemmLayer&, const int8_t*, int8_t*, int64_t, int64_t, const int8_t*, int64_t) {}
void qgemm_vnni_f32(const QGemmLayer&, const int8_t*, float*, const float*, int64_t, int64_t) {}
void qdw_vnni(const QDwLayer&, const int8_t*, int64_t, int64_t, int64_t, int64_t, int8_t*, int64_t, int64_t, int64_t, int8_t*) {}
#endif

QDwLayer qdw_pack(const int8_t* w, int64_t c, int64_t kh, int64_t kw, int64_t sh, int64_t sw, const int32_t* bias, int32_t zx,
                  const float* scale, int32_t zy, int8_t lo, int8_t hi) {
  QDwLayer l;
  l.c = c;
  l.blocks = (c + 15) / 16;
  l.kh = kh;
  l.kw = kw;
  l.sh = sh;
  l.sw = sw;
  l.groups = (kw + 3) / 4;
  l.zx = static_cast<int8_t>(zx);
  l.zy = zy;
  l.lo = lo;
  l.hi = hi;
  l.packed.assign(static_cast<size_t>(l.blocks * kh * l.groups * 64), 0);
  l.bias_adj.assign(static_cast<size_t>(l.blocks * 16), 0);
  l.scale.assign(static_cast<size_t>(l.blocks * 16), 0.f);
  for (int64_t ch = 0; ch < c; ++ch) {
    int64_t wsum = 0;
    for (int64_t ky = 0; ky < kh; ++ky)
      for (int64_t kx = 0; kx < kw; ++kx) {
        const int8_t v = w[(ch * kh + ky) * kw + kx];
        wsum += v;
        l.packed[static_cast<size_t>((((ch / 16) * kh + ky) * l.groups + kx / 4) * 64 + (ch % 16) * 4 + kx % 4)] = v;
      }
    l.bias_adj[static_cast<size_t>(ch)] = static_cast<int32_t>((bias ? bias[ch] : 0) - (zx + 128) * wsum);
    l.scale[static_cast<size_t>(ch)] = scale[ch];
  }
  return l;
}

size_t qdw_work_bytes(const QDwLayer& l, int64_t ow) {
  const int64_t tw = (ow - 1) * l.sw + 4 * (l.groups - 1) + 1;
  return static_cast<size_t>((l.kh + 1) * l.blocks * tw * 64);
}

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
  if (n % 16 == 8 && n <= 40) {  // the pixel-pair form: lane (16 b + j) of a pair holds channel (16 b + j) mod n
    l.pair_packed.assign(static_cast<size_t>(2 * n * k4 * 4), 0);
    l.pair_bias_adj.resize(static_cast<size_t>(2 * n));
    l.pair_scale.resize(static_cast<size_t>(2 * n));
    for (int64_t lane = 0; lane < 2 * n; ++lane) {
      const int64_t o = lane % n, b = lane / 16, j = lane % 16;
      for (int64_t i = 0; i < k; ++i) l.pair_packed[static_cast<size_t>(((b * k4 + i / 4) * 16 + j) * 4 + i % 4)] = w[o * k + i];
      l.pair_bias_adj[static_cast<size_t>(lane)] = l.bias_adj[static_cast<size_t>(o)];
      l.pair_scale[static_cast<size_t>(lane)] = l.scale[static_cast<size_t>(o)];
    }
  }
  return l;
}

QDirectLayer qdirect_pack(const int8_t* w, int64_t n, int64_t c, int64_t kh, int64_t kw, int64_t sh, int64_t sw, const int32_t* bias, int32_t zx,
                          const float* scale, int32_t zy, int8_t lo, int8_t hi) {
  QDirectLayer l;
  l.g = qgemm_pack(w, n, kh * kw * c, bias, zx, scale, zy, lo, hi);  // the requantization terms; the packing is redone
  l.g.pair_packed = {};  // the direct kernel has no pixel-pair form
  l.g.pair_bias_adj.clear();
  l.g.pair_scale.clear();
  l.c = c;
  l.kh = kh;
  l.kw = kw;
  l.sh = sh;
  l.sw = sw;
  l.groups = (kw * c + 3) / 4;
  l.zx = static_cast<int8_t>(zx);
  const int64_t nb = (n + 15) / 16, run = kw * c;
  l.g.packed.assign(static_cast<size_t>(nb * kh * l.groups * 64), 0);
  for (int64_t o = 0; o < n; ++o)
    for (int64_t ky = 0; ky < kh; ++ky)
      for (int64_t i = 0; i < run; ++i)
        l.g.packed[static_cast<size_t>((((o / 16) * kh + ky) * l.groups + i / 4) * 64 + (o % 16) * 4 + i % 4)] = w[(o * kh + ky) * run + i];
  return l;
}

int64_t qdirect_pitch(const QDirectLayer& l, int64_t ow) { return ((ow - 1) * l.sw + l.kw) * l.c + 4; }

size_t qdirect_work_bytes(const QDirectLayer& l, int64_t ow, int64_t rows) {
  return static_cast<size_t>(((rows - 1) * l.sh + l.kh) * qdirect_pitch(l, ow));
}

}  // namespace ec
