#include "stem.h"

#include <algorithm>

namespace ec {

#if defined(__x86_64__) && defined(EC_HAVE_STEM_KERNEL)
bool stem_conv_available() {
  static const bool cpu = __builtin_cpu_supports("avx512f");
  return cpu;
}
void stem_conv_rows(const StemConvView& l, const float* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, float* y, int64_t ow, int64_t oy0,
                    int64_t oy1, bool nchw);  // stem_avx512.cpp
void stem_conv_run(const StemConvLayer& l, const float* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, float* y, int64_t ow, int64_t oy0,
                   int64_t oy1, bool nchw) {
  const StemConvView v{l.w.data(), l.bias.data(), l.cin, l.m, l.mpad, l.kh, l.kw, l.sh, l.sw, l.lo, l.hi, l.act};
  stem_conv_rows(v, x, ih, iw, pt, pl, y, ow, oy0, oy1, nchw);
}
#else
bool stem_conv_available() { return false; }
void stem_conv_run(const StemConvLayer&, const float*, int64_t, int64_t, int64_t, int64_t, float*, int64_t, int64_t, int64_t, bool) {}
#endif

StemConvLayer stem_conv_pack(const float* w, int64_t m, int64_t cin, int64_t kh, int64_t kw, int64_t sh, int64_t sw, const float* bias,
                             float lo, float hi) {
  StemConvLayer l;
  l.cin = cin;
  l.m = m;
  l.mpad = (m + 15) / 16 * 16;
  l.kh = kh;
  l.kw = kw;
  l.sh = sh;
  l.sw = sw;
  l.w.assign(static_cast<size_t>(kh * kw * cin * l.mpad), 0.f);
  for (int64_t o = 0; o < m; ++o)
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) l.w[static_cast<size_t>(((i * kw + j) * cin + c) * l.mpad + o)] = w[((o * cin + c) * kh + i) * kw + j];
  l.bias.assign(static_cast<size_t>(l.mpad), 0.f);
  if (bias) std::copy(bias, bias + m, l.bias.begin());
  l.lo = lo;
  l.hi = hi;
  return l;
}

}  // namespace ec
