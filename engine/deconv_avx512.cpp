// ec-deconv's multiply-adds (a ConvTranspose whose stride equals its kernel, ops_nhwc.cpp) on 16-lane AVX-512 F
// registers, built with those flags in this file only and called when the CPU has them (checked at run time).
#include <immintrin.h>

#include "deconv_kernels.h"

namespace ec {

void deconv_pixels_avx512(const float* const* xs, int64_t C, const float* w, const float* bias, int64_t qp, float lo, float hi, float* tmp) {
  constexpr int P = kDeconvPixels;
  const __m512 l = _mm512_set1_ps(lo), h = _mm512_set1_ps(hi);
  for (int64_t q = (qp - 1) / 16 * 16; q >= 0; q -= 16) {  // the partial register first (see the stores)
    const __mmask16 m = qp - q >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (qp - q)) - 1);
    __m512 acc[P];
    acc[0] = _mm512_maskz_loadu_ps(m, bias + q);
    for (int k = 1; k < P; ++k) acc[k] = acc[0];
    const float* wc = w + q;
    for (int64_t c = 0; c < C; ++c, wc += qp) {
      const __m512 wv = _mm512_maskz_loadu_ps(m, wc);
      for (int k = 0; k < P; ++k) acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(xs[k][c]), wv, acc[k]);
    }
    // max(lo, v) and min(hi, v) return v when it is NaN, as the portable clamp keeps it. Whole registers are
    // stored: the partial one's spare lanes land on the next pixel's first outputs, which the full registers
    // after it overwrite (or on the 16 spare floats past the last pixel);
    // the caller's copies read tmp at once, and a load cannot take its data from a masked store still in
    // flight (the 256 x 256 head layer of 4 outputs a pixel spent 64 % of its time on that, perf annotate).
    for (int k = 0; k < P; ++k)
      _mm512_storeu_ps(tmp + k * qp + q, _mm512_mask_min_ps(h, 0xFFFF, h, _mm512_mask_max_ps(l, 0xFFFF, l, acc[k])));
  }
}

}  // namespace ec
