// Bilinear Resize rows on NHWC data with 16-lane AVX-512 F registers (resize_kernels.h), built with those flags
// in this file only.
#include <immintrin.h>

#include "resize_kernels.h"

namespace ec {

void resize_blend_row_avx512(const float* r0, const float* r1, const int64_t* o0, const int64_t* o1, const float* wx, float fy, int64_t ow,
                             int64_t run, float* d) {
  const __m512 vy = _mm512_set1_ps(fy);
  for (int64_t j = 0; j < ow; ++j, d += run) {
    const __m512 vx = _mm512_set1_ps(wx[j]);
    const float *a = r0 + o0[j], *b = r0 + o1[j], *c = r1 + o0[j], *e = r1 + o1[j];
    for (int64_t k = 0; k < run; k += 16) {
      const __mmask16 m = run - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (run - k)) - 1);
      const __m512 va = _mm512_maskz_loadu_ps(m, a + k), vc = _mm512_maskz_loadu_ps(m, c + k);
      const __m512 top = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, b + k), va), vx, va);
      const __m512 bot = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, e + k), vc), vx, vc);
      _mm512_mask_storeu_ps(d + k, m, _mm512_fmadd_ps(_mm512_sub_ps(bot, top), vy, top));
    }
  }
}

}  // namespace ec
