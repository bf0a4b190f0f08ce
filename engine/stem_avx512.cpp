// The direct convolution (stem.h) on 16-lane AVX-512 F registers: P output pixels x NB vectors of 16 output
// channels of accumulators (P * NB <= 24), NB weight vectors and one broadcast input value in the 32
// registers. Window rows above or below the input are skipped and window columns beyond its sides are
// clipped (padding is zero, so both add nothing): pixels whose window is whole go in blocks of P, the few at
// the sides one at a time. The clamp and the activation (SiLU, HardSwish) are applied to the accumulators before
// they are stored. No library templates here: their instances would carry AVX-512 code into other files.
#include <immintrin.h>

#include "act_avx512_inl.h"
#include "stem.h"

namespace ec {
namespace {

// GCC 12's unmasked forms of these intrinsics pass _mm512_undefined_ps() as the merge source, which its
// -Wmaybe-uninitialized reports (GCC bug 105593); the masked forms with every lane set compute the same.
inline __m512 max16(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }
inline __m512 min16(__m512 a, __m512 b) { return _mm512_mask_min_ps(a, 0xFFFF, a, b); }

inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// v clamped to [lo, hi], then through act
__attribute__((always_inline)) inline __m512 epilogue(__m512 v, __m512 lo, __m512 hi, KernelAct act) {
  v = min16(max16(v, lo), hi);
  if (act == KernelAct::silu) return silu16(v);
  if (act == KernelAct::hard_swish) return hard_swish16(v);
  return v;
}

struct Geometry {
  const float* x;  // one image [ih][iw][cin] (NHWC) or [cin][ih][iw] (NCHW)
  int64_t ih, iw, pt, pl;
  float* y;  // one image [oh][ow][m]
  int64_t ow;
  int64_t ps, cs, rs;  // floats from one input column to the next, one channel to the next, one row to the next
};

// Pixels [ox0, ox0 + P) of output row oy, channels [c0, c0 + 16 NB) (`rem` valid lanes in the last vector),
// window rows [ky0, ky1) and columns [kx0, kx1), which the caller keeps inside the input for every pixel.
// STEP: floats from one pixel's window to the next (l.sw * g.ps) when known at compile time, else 0: with it
// known, the P pixels' inputs are fixed displacements from one pointer, not P addresses the compiler keeps in
// (and spills from) general registers.
template <int P, int NB, int STEP = 0>
__attribute__((always_inline)) inline void tile(const StemConvView& l, const Geometry& g, int64_t oy, int64_t ox0, int64_t c0, int64_t rem,
                                                int64_t ky0, int64_t ky1, int64_t kx0, int64_t kx1) {
  __m512 acc[P][NB];
#pragma GCC unroll 4
  for (int j = 0; j < NB; ++j) {
    const __m512 b = _mm512_loadu_ps(l.bias + c0 + 16 * j);
#pragma GCC unroll 24
    for (int p = 0; p < P; ++p) acc[p][j] = b;
  }
  const int64_t step = STEP ? STEP : l.sw * g.ps;  // from one pixel's window to the next
  for (int64_t ky = ky0; ky < ky1; ++ky) {
    const float* xr = g.x + (oy * l.sh - g.pt + ky) * g.rs + (ox0 * l.sw - g.pl) * g.ps;
    for (int64_t kx = kx0; kx < kx1; ++kx)
      for (int64_t c = 0; c < l.cin; ++c) {
        const float* x = xr + kx * g.ps + c * g.cs;
        const float* w = l.w + ((ky * l.kw + kx) * l.cin + c) * l.mpad + c0;
        __m512 wv[NB];
#pragma GCC unroll 4
        for (int j = 0; j < NB; ++j) wv[j] = _mm512_loadu_ps(w + 16 * j);
#pragma GCC unroll 24
        for (int p = 0; p < P; ++p) {
          const __m512 a = _mm512_set1_ps(x[p * step]);
#pragma GCC unroll 4
          for (int j = 0; j < NB; ++j) acc[p][j] = _mm512_fmadd_ps(a, wv[j], acc[p][j]);
        }
      }
  }
  const __m512 lo = _mm512_set1_ps(l.lo), hi = _mm512_set1_ps(l.hi);
  const __mmask16 tail = static_cast<__mmask16>((1u << rem) - 1u);
#pragma GCC unroll 24
  for (int p = 0; p < P; ++p) {
    float* y = g.y + (oy * g.ow + ox0 + p) * l.m + c0;
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) {
      const __m512 v = epilogue(acc[p][j], lo, hi, l.act);
      if (j + 1 < NB || rem == 16) _mm512_storeu_ps(y + 16 * j, v);
      else _mm512_mask_storeu_ps(y + 16 * j, tail, v);
    }
  }
}

// A 3x3 window at stride 2 onto one vector of output channels (a CNN's first layer onto 16 channels: YOLO's,
// MobileNetV3's): pixels [ox0, ox0 + P) of output row oy, whole windows, rows [ky0, ky1). tile<P, 1> spends one
// broadcast of an input value per multiply-add, and the broadcasts bound it (50 GMAC/s on Zen 5, of the 110 it
// reaches onto 2 vectors). Here each input value is broadcast once for the 1 or 2 pixels whose windows hold it
// (column 2p + 1: pixel p's middle column; column 2p + 2: pixel p's right and pixel p + 1's left), with the
// window row's 3 weight vectors per input channel in registers: 2P + 1 broadcasts per 3P multiply-adds.
// PS: g.ps when known at compile time (as STEP in tile), else 0.
template <int P, int PS = 0>
__attribute__((always_inline)) inline void tile_k3s2(const StemConvView& l, const Geometry& g, int64_t oy, int64_t ox0, int64_t rem, int64_t ky0,
                                                     int64_t ky1) {
  __m512 acc[P];
  const __m512 b = _mm512_loadu_ps(l.bias);
#pragma GCC unroll 24
  for (int p = 0; p < P; ++p) acc[p] = b;
  const int64_t cin = l.cin, ps = PS ? PS : g.ps;
  for (int64_t ky = ky0; ky < ky1; ++ky) {
    const float* xr = g.x + (oy * 2 - g.pt + ky) * g.rs + (ox0 * 2 - g.pl) * ps;
    const float* w = l.w + ky * 3 * cin * l.mpad;  // [kx][c][mpad]
    for (int64_t c = 0; c < cin; ++c) {
      const float* x = xr + c * g.cs;
      const __m512 w0 = _mm512_loadu_ps(w + c * l.mpad), w1 = _mm512_loadu_ps(w + (cin + c) * l.mpad),
                   w2 = _mm512_loadu_ps(w + (2 * cin + c) * l.mpad);
      acc[0] = _mm512_fmadd_ps(_mm512_set1_ps(x[0]), w0, acc[0]);
#pragma GCC unroll 24
      for (int p = 0; p < P; ++p) {
        acc[p] = _mm512_fmadd_ps(_mm512_set1_ps(x[(2 * p + 1) * ps]), w1, acc[p]);
        const __m512 a = _mm512_set1_ps(x[(2 * p + 2) * ps]);
        acc[p] = _mm512_fmadd_ps(a, w2, acc[p]);
        if (p + 1 < P) acc[p + 1] = _mm512_fmadd_ps(a, w0, acc[p + 1]);
      }
    }
  }
  const __m512 lo = _mm512_set1_ps(l.lo), hi = _mm512_set1_ps(l.hi);
  const __mmask16 tail = static_cast<__mmask16>((1u << rem) - 1u);
#pragma GCC unroll 24
  for (int p = 0; p < P; ++p) {
    const __m512 v = epilogue(acc[p], lo, hi, l.act);
    float* y = g.y + (oy * g.ow + ox0 + p) * l.m;
    if (rem == 16) _mm512_storeu_ps(y, v);
    else _mm512_mask_storeu_ps(y, tail, v);
  }
}

// One output row, channels [c0, c0 + 16 NB); STEP as in tile (0: not known at compile time).
template <int P, int NB, int STEP>
void row(const StemConvView& l, const Geometry& g, int64_t oy, int64_t c0, int64_t rem) {
  const int64_t iy0 = oy * l.sh - g.pt;
  const int64_t ky0 = max64(0, -iy0), ky1 = min64(l.kh, g.ih - iy0);
  // pixels whose window columns all lie inside the input: [lo, hi)
  const int64_t lo = min64(g.ow, (g.pl + l.sw - 1) / l.sw);
  const int64_t hi = max64(lo, min64(g.ow, g.iw + g.pl - l.kw >= 0 ? (g.iw + g.pl - l.kw) / l.sw + 1 : 0));
  auto side = [&](int64_t ox) {
    const int64_t ix0 = ox * l.sw - g.pl;
    const int64_t kx0 = max64(0, -ix0), kx1 = min64(l.kw, g.iw - ix0);
    if (kx0 < kx1) tile<1, NB>(l, g, oy, ox, c0, rem, ky0, ky1, kx0, kx1);
    else tile<1, NB>(l, g, oy, ox, c0, rem, 0, 0, 0, 0);  // the window misses the input: bias only
  };
  for (int64_t ox = 0; ox < lo; ++ox) side(ox);
  int64_t ox = lo;
  if (NB == 1 && l.kh == 3 && l.kw == 3 && l.sh == 2 && l.sw == 2) {  // one vector of channels: c0 == 0
    constexpr int kPs = STEP / 2;  // sw == 2 here
    for (; ox + 16 <= hi; ox += 16) tile_k3s2<16, kPs>(l, g, oy, ox, rem, ky0, ky1);
    if (ox + 8 <= hi) {
      tile_k3s2<8, kPs>(l, g, oy, ox, rem, ky0, ky1);
      ox += 8;
    }
    if (ox + 4 <= hi) {
      tile_k3s2<4, kPs>(l, g, oy, ox, rem, ky0, ky1);
      ox += 4;
    }
  }
  for (; ox + P <= hi; ox += P) tile<P, NB, STEP>(l, g, oy, ox, c0, rem, ky0, ky1, 0, l.kw);
  for (; ox < hi; ++ox) tile<1, NB>(l, g, oy, ox, c0, rem, ky0, ky1, 0, l.kw);
  for (ox = hi; ox < g.ow; ++ox) side(ox);
}

// row<P, NB, STEP> for the steps between pixels' windows that stems and few-channel layers have: NCHW input at
// stride 1 or 2 (1, 2), 3 channels (3, 6), 16 channels (16, 32); any other runs with the step in a register.
template <int P, int NB>
void row_of(const StemConvView& l, const Geometry& g, int64_t oy, int64_t c0, int64_t rem) {
  switch (l.sw * g.ps) {
    case 1: row<P, NB, 1>(l, g, oy, c0, rem); break;
    case 2: row<P, NB, 2>(l, g, oy, c0, rem); break;
    case 3: row<P, NB, 3>(l, g, oy, c0, rem); break;
    case 6: row<P, NB, 6>(l, g, oy, c0, rem); break;
    case 16: row<P, NB, 16>(l, g, oy, c0, rem); break;
    case 32: row<P, NB, 32>(l, g, oy, c0, rem); break;
    default: row<P, NB, 0>(l, g, oy, c0, rem); break;
  }
}

}  // namespace

void stem_conv_rows(const StemConvView& l, const float* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, float* y, int64_t ow, int64_t oy0,
                    int64_t oy1, bool nchw) {
  const Geometry g = nchw ? Geometry{x, ih, iw, pt, pl, y, ow, 1, ih * iw, iw} : Geometry{x, ih, iw, pt, pl, y, ow, l.cin, 1, iw * l.cin};
  for (int64_t oy = oy0; oy < oy1; ++oy)
    for (int64_t c0 = 0; c0 < l.m; c0 += 64) {
      const int64_t left = l.m - c0;
      const int nb = left >= 64 ? 4 : static_cast<int>((left + 15) / 16);
      const int64_t rem = left >= 64 ? 16 : left - 16 * (nb - 1);
      switch (nb) {
        case 4: row_of<6, 4>(l, g, oy, c0, rem); break;
        case 3: row_of<8, 3>(l, g, oy, c0, rem); break;
        case 2: row_of<12, 2>(l, g, oy, c0, rem); break;
        default: row_of<12, 1>(l, g, oy, c0, rem); break;
      }
    }
}

}  // namespace ec
