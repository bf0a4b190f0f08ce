// The few-input-channel direct convolution (stem.h) on 16-lane AVX-512 F registers: P output pixels x NB
// vectors of 16 output channels of accumulators (P * NB <= 24), NB weight vectors and one broadcast input value
// in the 32 registers. No library templates here: their instances would carry AVX-512 code into other files.
#include <immintrin.h>

#include "stem.h"

namespace ec {
namespace {

// GCC 12's unmasked forms of these intrinsics pass _mm512_undefined_ps() as the merge source, which its
// -Wmaybe-uninitialized reports (GCC bug 105593); the masked forms with every lane set compute the same.
inline __m512 max16(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }
inline __m512 min16(__m512 a, __m512 b) { return _mm512_mask_min_ps(a, 0xFFFF, a, b); }

// Pixels [ox0, ox0 + P) of output row oy, channels [c0, c0 + 16 NB); `rem` valid channels in the last vector.
template <int P, int NB>
__attribute__((always_inline)) inline void tile(const StemConvView& l, const float* xp, int64_t iwp, float* yrow, int64_t oy, int64_t ox0, int64_t c0,
                                                int64_t rem) {
  __m512 acc[P][NB];
#pragma GCC unroll 4
  for (int j = 0; j < NB; ++j) {
    const __m512 b = _mm512_loadu_ps(l.bias + c0 + 16 * j);
#pragma GCC unroll 24
    for (int p = 0; p < P; ++p) acc[p][j] = b;
  }
  const int64_t span = l.kw * l.cin;    // one window row: kw pixels x cin channels, contiguous in xp
  const int64_t step = l.sw * l.cin;    // from one output pixel's window to the next
  for (int64_t ky = 0; ky < l.kh; ++ky) {
    const float* x = xp + ((oy * l.sh + ky) * iwp + ox0 * l.sw) * l.cin;
    const float* w = l.w + ky * span * l.mpad + c0;
    for (int64_t t = 0; t < span; ++t) {
      __m512 wv[NB];
#pragma GCC unroll 4
      for (int j = 0; j < NB; ++j) wv[j] = _mm512_loadu_ps(w + t * l.mpad + 16 * j);
#pragma GCC unroll 24
      for (int p = 0; p < P; ++p) {
        const __m512 a = _mm512_set1_ps(x[p * step + t]);
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) acc[p][j] = _mm512_fmadd_ps(a, wv[j], acc[p][j]);
      }
    }
  }
  const __m512 lo = _mm512_set1_ps(l.lo), hi = _mm512_set1_ps(l.hi);
  const __mmask16 tail = static_cast<__mmask16>((1u << rem) - 1u);
#pragma GCC unroll 24
  for (int p = 0; p < P; ++p) {
    float* y = yrow + (ox0 + p) * l.m + c0;
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) {
      const __m512 v = min16(max16(acc[p][j], lo), hi);
      if (j + 1 < NB || rem == 16) _mm512_storeu_ps(y + 16 * j, v);
      else _mm512_mask_storeu_ps(y + 16 * j, tail, v);
    }
  }
}

// One output row, channels [c0, c0 + 16 NB): blocks of P pixels, then the last < P one at a time.
template <int P, int NB>
void row(const StemConvView& l, const float* xp, int64_t iwp, float* yrow, int64_t oy, int64_t ow, int64_t c0, int64_t rem) {
  int64_t ox = 0;
  for (; ox + P <= ow; ox += P) tile<P, NB>(l, xp, iwp, yrow, oy, ox, c0, rem);
  for (; ox < ow; ++ox) tile<1, NB>(l, xp, iwp, yrow, oy, ox, c0, rem);
}

}  // namespace

void stem_conv_rows(const StemConvView& l, const float* xp, int64_t iwp, float* y, int64_t ow, int64_t oy0, int64_t oy1) {
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    float* yrow = y + oy * ow * l.m;
    for (int64_t c0 = 0; c0 < l.m; c0 += 64) {
      const int64_t left = l.m - c0;
      const int nb = left >= 64 ? 4 : static_cast<int>((left + 15) / 16);
      const int64_t rem = left >= 64 ? 16 : left - 16 * (nb - 1);
      switch (nb) {
        case 4: row<6, 4>(l, xp, iwp, yrow, oy, ow, c0, rem); break;
        case 3: row<8, 3>(l, xp, iwp, yrow, oy, ow, c0, rem); break;
        case 2: row<12, 2>(l, xp, iwp, yrow, oy, ow, c0, rem); break;
        default: row<12, 1>(l, xp, iwp, yrow, oy, ow, c0, rem); break;
      }
    }
  }
}

}  // namespace ec
