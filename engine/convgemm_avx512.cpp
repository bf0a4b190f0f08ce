// The blocked convolution GEMM (convgemm.h) on 16-lane AVX-512 F registers: tiles of R <= 7 output pixels x 32
// output channels, 2R accumulators. No library templates here: their instances would carry AVX-512 code into
// other files.
#include <immintrin.h>

#include "convgemm.h"

namespace ec {
namespace {

// GCC 12's unmasked forms of these intrinsics pass _mm512_undefined_ps() as the merge source, which its
// -Wmaybe-uninitialized reports (GCC bug 105593); the masked forms with every lane set compute the same.
inline __m512 max16(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }
inline __m512 min16(__m512 a, __m512 b) { return _mm512_mask_min_ps(a, 0xFFFF, a, b); }

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// y[r][0..32) (row stride ldy, lanes of mask0/mask1 only) of R pixels: starts from the bias (first) or from y,
// adds a [R][kc] (row stride lda) times b [kc][32], clamps to [lo, hi] when last. Meanwhile asks for the
// pf_lines 64-byte lines from pf into L2, one per step of k: the weights the next tiles will read, which
// otherwise come from memory at the first tile that uses them.
template <int R>
void tile(const float* a, int64_t lda, const float* b, int64_t kc, float* y, int64_t ldy, const float* bias, __mmask16 mask0, __mmask16 mask1,
          bool first, bool last, float lo, float hi, const char* pf, int64_t pf_lines) {
  __m512 c0[R], c1[R];
  if (first) {
    const __m512 b0 = _mm512_loadu_ps(bias), b1 = _mm512_loadu_ps(bias + 16);
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
      c0[r] = b0;
      c1[r] = b1;
    }
  } else {
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
      c0[r] = _mm512_maskz_loadu_ps(mask0, y + r * ldy);
      c1[r] = _mm512_maskz_loadu_ps(mask1, y + r * ldy + 16);
    }
  }
  auto step = [&](int64_t k) __attribute__((always_inline)) {
    const __m512 w0 = _mm512_loadu_ps(b + 32 * k), w1 = _mm512_loadu_ps(b + 32 * k + 16);
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
      const __m512 v = _mm512_set1_ps(a[r * lda + k]);
      c0[r] = _mm512_fmadd_ps(v, w0, c0[r]);
      c1[r] = _mm512_fmadd_ps(v, w1, c1[r]);
    }
  };
  const int64_t kp = min64(kc, pf_lines);
  int64_t k = 0;
  for (; k < kp; ++k) {
    _mm_prefetch(pf + 64 * k, _MM_HINT_T1);
    step(k);
  }
  for (; k < kc; ++k) step(k);
  if (last) {
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
      c0[r] = min16(max16(c0[r], vlo), vhi);
      c1[r] = min16(max16(c1[r], vlo), vhi);
    }
  }
#pragma GCC unroll 7
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(y + r * ldy, mask0, c0[r]);
    _mm512_mask_storeu_ps(y + r * ldy + 16, mask1, c1[r]);
  }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, const float*, __mmask16, __mmask16, bool, bool, float, float,
                       const char*, int64_t);
constexpr TileFn kTiles[8] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>, tile<7>};

inline void copy(float* d, const float* s, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_loadu_ps(s + i));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(d + i, m, _mm512_maskz_loadu_ps(m, s + i));
  }
}
inline void zero(float* d, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_setzero_ps());
  if (i < n) _mm512_mask_storeu_ps(d + i, static_cast<__mmask16>((1u << (n - i)) - 1u), _mm512_setzero_ps());
}

// work[r][0..k1-k0) = the input values that reduction entries [k0, k1) of pixel p0 + r multiply (zero where the
// window lies in the padding), for pixels [p0, p1). The window positions of one window row that lie inside the
// input are contiguous in x (NHWC, no dilation): copied as one run.
void gather(const ConvGemmView& l, const ConvGemmImage& g, int64_t k0, int64_t k1, int64_t p0, int64_t p1, float* work) {
  const int64_t kb = k1 - k0;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t oy = p / g.ow, ox = p - oy * g.ow;
    float* dst = work + (p - p0) * kb;
    for (int64_t k = k0; k < k1;) {
      const int64_t t = k / l.c, ci = k - t * l.c, ky = t / l.kw, kx = t - ky * l.kw;
      const int64_t iy = oy * l.sh - g.pt + ky, ix = ox * l.sw - g.pl + kx;
      int64_t len;
      if (iy < 0 || iy >= g.ih) {  // the rest of this window row is padding
        len = min64(k1 - k, (l.kw - kx) * l.c - ci);
        zero(dst, len);
      } else if (ix < 0 || ix >= g.iw) {
        len = min64(k1 - k, l.c - ci);
        zero(dst, len);
      } else {
        len = min64(k1 - k, min64(l.kw - kx, g.iw - ix) * l.c - ci);
        copy(dst, g.x + (iy * g.iw + ix) * l.c + ci, len);
      }
      dst += len;
      k += len;
    }
  }
}

}  // namespace

void conv_gemm_block(const ConvGemmView& l, const ConvGemmImage& g, int64_t kc, int64_t p0, int64_t p1, int64_t n0, int64_t n1, float* work) {
  // a 1x1 stride-1 window without padding reads the input rows in place
  const bool in_place = l.kh == 1 && l.kw == 1 && l.sh == 1 && l.sw == 1 && g.pt == 0 && g.pl == 0 && g.ih == g.oh && g.iw == g.ow;
  for (int64_t k0 = 0; k0 < l.k; k0 += kc) {
    const int64_t kb = min64(kc, l.k - k0);
    const float* a;
    int64_t lda;
    if (in_place) {
      a = g.x + p0 * l.c + k0;
      lda = l.c;
    } else {
      gather(l, g, k0, k0 + kb, p0, p1, work);
      a = work;
      lda = kb;
    }
    const bool first = k0 == 0, last = k0 + kb == l.k;
    for (int64_t n = n0; n < n1; ++n) {
      const int64_t left = l.m - 32 * n;
      const __mmask16 mask0 = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
      const __mmask16 mask1 = left >= 32 ? static_cast<__mmask16>(0xFFFF) : left <= 16 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << (left - 16)) - 1u);
      const float* b = l.w + n * l.k * 32 + k0 * 32;
      // the weights used next: the next panel's in this block, else the first panel's in the next block
      const float* next = n + 1 < n1 ? b + l.k * 32 : last ? nullptr : l.w + n0 * l.k * 32 + (k0 + kb) * 32;
      const int64_t next_kb = n + 1 < n1 ? kb : min64(kc, l.k - k0 - kb);
      const int64_t lines = next ? next_kb * 32 * 4 / 64 : 0, tiles = (p1 - p0 + 6) / 7;
      const int64_t per_tile = (lines + tiles - 1) / tiles;
      for (int64_t p = p0, i = 0; p < p1; p += 7, ++i) {
        const int r = static_cast<int>(min64(7, p1 - p));
        const int64_t from = min64(lines, i * per_tile);
        kTiles[r](a + (p - p0) * lda, lda, b, kb, g.y + p * l.m + 32 * n, l.m, l.bias + 32 * n, mask0, mask1, first, last, l.lo, l.hi,
                  next ? reinterpret_cast<const char*>(next) + 64 * from : nullptr, min64(per_tile, lines - from));
      }
    }
  }
}

}  // namespace ec
