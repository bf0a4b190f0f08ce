// depthwise.h's kernel, compiled with AVX-512 F: each output row in blocks of 4 pixels x 16 channels (the last
// channel block masked), the block's window read once per kernel row. No library templates here: their
// instances would carry AVX-512 code into other files.
#include <immintrin.h>

#include "depthwise.h"

namespace ec {
namespace {

typedef float v16 __attribute__((vector_size(64)));

inline __mmask16 lanes16(int64_t m) { return m >= 16 ? static_cast<__mmask16>(0xffff) : m <= 0 ? 0 : static_cast<__mmask16>((1u << m) - 1); }

template <int K, int S>
void row(const DepthwiseView& v, const float* x, float* y, int64_t oy) {
  constexpr int kSpan = 3 * S + K;  // input columns read by four outputs
  const int64_t C = v.c;
  const v16 lo = v16{} + v.lo, hi = v16{} + v.hi;
  // the kernel rows inside the input
  int ky0 = 0, ky1 = K;
  while (ky0 < K && oy * S - v.pt + ky0 < 0) ++ky0;
  while (ky1 > ky0 && oy * S - v.pt + ky1 - 1 >= v.ih) --ky1;
  for (int64_t c0 = 0; c0 < C; c0 += 16) {
    const __mmask16 m = lanes16(C - c0);
    __m512 wv[K * K];
    for (int t = 0; t < K * K; ++t) wv[t] = _mm512_maskz_loadu_ps(m, v.w + t * C + c0);
    const __m512 bv = _mm512_maskz_loadu_ps(m, v.b + c0);
    for (int64_t ox0 = 0; ox0 < v.ow; ox0 += 4) {
      __m512 acc[4] = {bv, bv, bv, bv};
      const int64_t ix0 = ox0 * S - v.pl;
      const bool inside = ix0 >= 0 && ix0 + kSpan <= v.iw;
      for (int ky = ky0; ky < ky1; ++ky) {
        const float* r = x + (oy * S - v.pt + ky) * v.iw * C + c0;
        __m512 in[kSpan];
        if (inside) {
          for (int t = 0; t < kSpan; ++t) in[t] = _mm512_maskz_loadu_ps(m, r + (ix0 + t) * C);
        } else {
          for (int t = 0; t < kSpan; ++t) {
            const int64_t ix = ix0 + t;
            in[t] = ix >= 0 && ix < v.iw ? _mm512_maskz_loadu_ps(m, r + ix * C) : _mm512_setzero_ps();
          }
        }
        for (int j = 0; j < 4; ++j)
          for (int kx = 0; kx < K; ++kx) acc[j] = _mm512_fmadd_ps(in[j * S + kx], wv[ky * K + kx], acc[j]);
      }
      for (int j = 0; j < 4 && ox0 + j < v.ow; ++j) {
        v16 o = reinterpret_cast<v16>(acc[j]);  // the clamp as vector-extension compares (_mm512_max_ps: GCC bug 105593's warning)
        o = o < lo ? lo : o;
        o = o > hi ? hi : o;
        _mm512_mask_storeu_ps(y + (ox0 + j) * C + c0, m, reinterpret_cast<__m512>(o));
      }
    }
  }
}

}  // namespace

void depthwise_rows_avx512(const DepthwiseView& v, const float* x, float* y, int64_t oy0, int64_t oy1) {
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    float* yr = y + (oy - oy0) * v.ow * v.c;
    if (v.k == 3 && v.s == 1) row<3, 1>(v, x, yr, oy);
    else if (v.k == 3) row<3, 2>(v, x, yr, oy);
    else if (v.s == 1) row<5, 1>(v, x, yr, oy);
    else row<5, 2>(v, x, yr, oy);
  }
}

}  // namespace ec
