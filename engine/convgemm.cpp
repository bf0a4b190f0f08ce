#include "convgemm.h"

#include <algorithm>

namespace ec {

#if (defined(__x86_64__) || defined(__aarch64__)) && defined(EC_HAVE_CONV_GEMM_KERNEL)
#if defined(__x86_64__)
bool conv_gemm_available() {
  static const bool cpu = __builtin_cpu_supports("avx512f");
  return cpu;
}
int64_t conv_gemm_nr() { return 32; }
bool conv_gemm_fuses_act() { return true; }
#else
bool conv_gemm_available() { return true; }  // NEON is part of ARMv8-A
bool conv_gemm_fuses_act() { return false; }
int64_t conv_gemm_nr() { return 16; }
#endif
void conv_gemm_block(const ConvGemmView& l, const ConvGemmImage& g, int64_t kc, int64_t p0, int64_t p1, int64_t n0, int64_t n1,
                     float* work);  // convgemm_avx512.cpp, convgemm_neon.cpp
void conv_gemm_run(const ConvGemmLayer& l, const ConvGemmImage& g, int64_t p0, int64_t p1, int64_t n0, int64_t n1, float* work) {
  const ConvGemmView v{l.weights(), l.bias.data(), l.c, l.m, l.mpad, l.kh, l.kw, l.sh, l.sw, l.k, l.nr, l.lo, l.hi, l.act};
  conv_gemm_block(v, g, conv_gemm_kc(l), p0, p1, n0, n1, work);
}
#else
bool conv_gemm_available() { return false; }
#endif

#if defined(__x86_64__) && defined(EC_HAVE_CONV_GEMM_KERNEL)
bool row_gemm_available() { return conv_gemm_available(); }
void row_gemm_block(const RowGemmView& l, const float* x, int64_t pixels, int64_t p0, int64_t p1, float* y, float* work);  // convgemm_avx512.cpp
void row_gemm_run(const RowGemmLayer& l, const float* x, int64_t pixels, int64_t p0, int64_t p1, float* y, float* work) {
  const RowGemmView v{l.w.data(), l.bias.data(), l.m, l.k, l.groups, l.lo, l.hi};
  row_gemm_block(v, x, pixels, p0, p1, y, work);
}
#else
bool row_gemm_available() { return false; }
void row_gemm_run(const RowGemmLayer&, const float*, int64_t, int64_t, int64_t, float*, float*) {}
#endif

#if !((defined(__x86_64__) || defined(__aarch64__)) && defined(EC_HAVE_CONV_GEMM_KERNEL))
int64_t conv_gemm_nr() { return 32; }
bool conv_gemm_fuses_act() { return false; }
void conv_gemm_run(const ConvGemmLayer&, const ConvGemmImage&, int64_t, int64_t, int64_t, int64_t, float*) {}
#endif

int64_t conv_gemm_kc(const ConvGemmLayer& l) { return l.k <= 1024 ? l.k : 512; }

int64_t conv_gemm_pixels(const ConvGemmLayer& l) {
  const int64_t p = (int64_t{64} << 10) / std::max<int64_t>(1, conv_gemm_kc(l)) / 7 * 7;
  return std::min<int64_t>(252, std::max<int64_t>(7, p));
}

int64_t conv_gemm_work_floats(const ConvGemmLayer& l) { return conv_gemm_pixels(l) * (conv_gemm_kc(l) + l.nr); }

ConvGemmLayer conv_gemm_pack(const float* w, int64_t m, int64_t c, int64_t kh, int64_t kw, int64_t sh, int64_t sw, const float* bias,
                             float lo, float hi) {
  ConvGemmLayer l;
  l.c = c;
  l.m = m;
  l.nr = conv_gemm_nr();
  l.mpad = (m + l.nr - 1) / l.nr * l.nr;
  l.kh = kh;
  l.kw = kw;
  l.sh = sh;
  l.sw = sw;
  l.k = kh * kw * c;
  l.w.assign(static_cast<size_t>(l.mpad * l.k), 0.f);
  for (int64_t o = 0; o < m; ++o) {
    float* panel = l.w.data() + (o / l.nr) * l.k * l.nr + o % l.nr;
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) panel[((i * kw + j) * c + ci) * l.nr] = w[((o * c + ci) * kh + i) * kw + j];
  }
  l.bias.assign(static_cast<size_t>(l.mpad), 0.f);
  if (bias) std::copy(bias, bias + m, l.bias.begin());
  l.lo = lo;
  l.hi = hi;
  return l;
}

RowGemmLayer row_gemm_pack(const float* w, int64_t m, int64_t k, const float* bias, float lo, float hi) {
  RowGemmLayer l;
  l.m = m;
  l.k = k;
  l.groups = (m + 7) / 8;
  l.w.assign(static_cast<size_t>(l.groups * k * 8), 0.f);
  for (int64_t o = 0; o < m; ++o)
    for (int64_t i = 0; i < k; ++i) l.w[static_cast<size_t>(((o / 8) * k + i) * 8 + o % 8)] = w[o * k + i];
  l.bias.assign(static_cast<size_t>(l.groups * 8), 0.f);
  if (bias) std::copy(bias, bias + m, l.bias.begin());
  l.lo = lo;
  l.hi = hi;
  return l;
}

int64_t row_gemm_work_floats(const RowGemmLayer& l) { return 32 * l.k; }

}  // namespace ec
