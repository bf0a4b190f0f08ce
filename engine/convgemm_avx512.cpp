// The blocked convolution GEMM (convgemm.h) on 16-lane AVX-512 F registers: tiles of R <= 7 output pixels x 32
// output channels (panels of 32), 2R accumulators; the loops are convgemm_driver.h's. No library templates here: their instances would carry AVX-512 code into
// other files.
#include <immintrin.h>

#include "act_avx512_inl.h"
#include "convgemm.h"
#include "convgemm_driver.h"

namespace ec {
namespace {

// GCC 12's unmasked forms of these intrinsics pass _mm512_undefined_ps() as the merge source, which its
// -Wmaybe-uninitialized reports (GCC bug 105593); the masked forms with every lane set compute the same.
inline __m512 max16(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }
inline __m512 min16(__m512 a, __m512 b) { return _mm512_mask_min_ps(a, 0xFFFF, a, b); }
inline __m512 unpacklo16(__m512 a, __m512 b) { return _mm512_mask_unpacklo_ps(a, 0xFFFF, a, b); }
inline __m512 unpackhi16(__m512 a, __m512 b) { return _mm512_mask_unpackhi_ps(a, 0xFFFF, a, b); }
template <int kImm>
inline __m512 lanes16(__m512 a, __m512 b) { return _mm512_mask_shuffle_f32x4(a, 0xFFFF, a, b, kImm); }

// Clamps the 2R accumulators (R when H: c0 only) to [lo, hi], applies act, and stores them to y[r][0..32) (row
// stride ldy, lanes of mask0/mask1 only).
template <int R, bool H>
__attribute__((always_inline)) inline void store_tile(__m512 (&c0)[R], __m512 (&c1)[R], float* y, int64_t ldy, __mmask16 mask0, __mmask16 mask1, float lo,
                                                      float hi, KernelAct act) {
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
#pragma GCC unroll 7
  for (int r = 0; r < R; ++r) {
    c0[r] = min16(max16(c0[r], vlo), vhi);
    if constexpr (!H) c1[r] = min16(max16(c1[r], vlo), vhi);
  }
  if (act == KernelAct::silu) {  // 2R independent chains: the divider and the FMA pipes overlap them
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
      c0[r] = silu16(c0[r]);
      if constexpr (!H) c1[r] = silu16(c1[r]);
    }
  } else if (act == KernelAct::hard_swish) {
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
      c0[r] = hard_swish16(c0[r]);
      if constexpr (!H) c1[r] = hard_swish16(c1[r]);
    }
  }
#pragma GCC unroll 7
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(y + r * ldy, mask0, c0[r]);
    if constexpr (!H) _mm512_mask_storeu_ps(y + r * ldy + 16, mask1, c1[r]);
  }
}

// y[r][0..32) (row stride ldy, lanes of mask0/mask1 only) of R pixels: starts from the bias (first) or from y,
// adds a [R][kc] (row stride lda) times b [kc][32], clamps to [lo, hi] and applies act when last. Meanwhile asks
// for the pf_lines 64-byte lines from pf into L2, one per step of k: the weights the next tiles will read, which
// otherwise come from memory at the first tile that uses them. H (a panel of at most 16 valid columns: layers of
// 16 output channels, the last panel of 40 or 48): only the first 16 columns' accumulators, loads and multiply-adds
// (the others would be thrown away by mask1 = 0).
template <int R, bool H>
void reg_tile(const float* a, int64_t lda, const float* b, int64_t kc, float* y, int64_t ldy, const float* bias, __mmask16 mask0, __mmask16 mask1,
          bool first, bool last, float lo, float hi, KernelAct act, const char* pf, int64_t pf_lines) {
  __m512 c0[R], c1[R];
  if (first) {
    const __m512 b0 = _mm512_loadu_ps(bias), b1 = H ? b0 : _mm512_loadu_ps(bias + 16);
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
      c0[r] = b0;
      if constexpr (!H) c1[r] = b1;
    }
  } else {
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
      c0[r] = _mm512_maskz_loadu_ps(mask0, y + r * ldy);
      if constexpr (!H) c1[r] = _mm512_maskz_loadu_ps(mask1, y + r * ldy + 16);
    }
  }
  auto step = [&](int64_t k) __attribute__((always_inline)) {
    const __m512 w0 = _mm512_loadu_ps(b + 32 * k);
    __m512 w1 = w0;
    if constexpr (!H) w1 = _mm512_loadu_ps(b + 32 * k + 16);
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
      const __m512 v = _mm512_set1_ps(a[r * lda + k]);
      c0[r] = _mm512_fmadd_ps(v, w0, c0[r]);
      if constexpr (!H) c1[r] = _mm512_fmadd_ps(v, w1, c1[r]);
    }
  };
  const int64_t kp = cg_min(kc, pf_lines);
  int64_t k = 0;
  for (; k < kp; ++k) {
    _mm_prefetch(pf + 64 * k, _MM_HINT_T1);
    step(k);
  }
  for (; k < kc; ++k) step(k);
  if (last) return store_tile<R, H>(c0, c1, y, ldy, mask0, mask1, lo, hi, act);
#pragma GCC unroll 7
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(y + r * ldy, mask0, c0[r]);
    if constexpr (!H) _mm512_mask_storeu_ps(y + r * ldy + 16, mask1, c1[r]);
  }
}

inline void copy16(float* d, const float* s, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_loadu_ps(s + i));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(d + i, m, _mm512_maskz_loadu_ps(m, s + i));
  }
}
inline void zero16(float* d, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_setzero_ps());
  if (i < n) _mm512_mask_storeu_ps(d + i, static_cast<__mmask16>((1u << (n - i)) - 1u), _mm512_setzero_ps());
}

// y[j * ldy + i] = s[i * lds + j] for i < rows, j < cols: blocks of 16 x 16 transposed in registers (unpack,
// shuffle, two rounds of 128-bit lane shuffles), the rows past `rows` read as zeros and not stored.
void store_rows16(const float* s, int64_t rows, int64_t cols, int64_t lds, float* y, int64_t ldy) {
  for (int64_t i0 = 0; i0 < rows; i0 += 16) {
    const int64_t ni = cg_min(16, rows - i0);
    const __mmask16 im = static_cast<__mmask16>((1u << ni) - 1u);
    for (int64_t j0 = 0; j0 < cols; j0 += 16) {
      const int64_t nj = cg_min(16, cols - j0);
      __m512 r[16], t[16];
      for (int k = 0; k < 16; ++k) r[k] = k < ni ? _mm512_loadu_ps(s + (i0 + k) * lds + j0) : _mm512_setzero_ps();
      for (int k = 0; k < 16; k += 2) {  // row pairs: (a0 b0 a1 b1 | a4 b4 a5 b5 | ...), (a2 b2 a3 b3 | ...)
        t[k] = unpacklo16(r[k], r[k + 1]);
        t[k + 1] = unpackhi16(r[k], r[k + 1]);
      }
      for (int k = 0; k < 16; k += 4) {  // four rows per 128-bit lane: columns c, c + 4, c + 8, c + 12 (c = 0..3)
        r[k] = _mm512_shuffle_ps(t[k], t[k + 2], 0x44);
        r[k + 1] = _mm512_shuffle_ps(t[k], t[k + 2], 0xEE);
        r[k + 2] = _mm512_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        r[k + 3] = _mm512_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
      }
      for (int c = 0; c < 4; ++c) {  // r[4q + c]: rows 4q..4q+3 of columns c, c + 4, c + 8, c + 12 (one per lane)
        const __m512 v0 = lanes16<0x88>(r[c], r[4 + c]), v1 = lanes16<0xDD>(r[c], r[4 + c]);
        const __m512 w0 = lanes16<0x88>(r[8 + c], r[12 + c]), w1 = lanes16<0xDD>(r[8 + c], r[12 + c]);
        t[c] = lanes16<0x88>(v0, w0);       // column c
        t[c + 8] = lanes16<0xDD>(v0, w0);   // column c + 8
        t[c + 4] = lanes16<0x88>(v1, w1);   // column c + 4
        t[c + 12] = lanes16<0xDD>(v1, w1);  // column c + 12
      }
      for (int64_t j = 0; j < nj; ++j) _mm512_mask_storeu_ps(y + (j0 + j) * ldy + i0, im, t[j]);
    }
  }
}

struct Avx512Kernel {
  static constexpr int64_t kMR = 7;
  static void tile(int r, const float* a, int64_t lda, const float* b, int64_t kc, float* y, int64_t ldy, const float* bias, int64_t cols, bool first,
                   bool last, float lo, float hi, KernelAct act, const char* pf, int64_t pf_lines) {
    using Fn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, const float*, __mmask16, __mmask16, bool, bool, float, float,
                        KernelAct, const char*, int64_t);
    static constexpr Fn kTiles[8] = {nullptr, reg_tile<1, false>, reg_tile<2, false>, reg_tile<3, false>, reg_tile<4, false>,
                                     reg_tile<5, false>, reg_tile<6, false>, reg_tile<7, false>};
    static constexpr Fn kHalf[8] = {nullptr, reg_tile<1, true>, reg_tile<2, true>, reg_tile<3, true>, reg_tile<4, true>,
                                    reg_tile<5, true>, reg_tile<6, true>, reg_tile<7, true>};
    const __mmask16 mask0 = cols >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << cols) - 1u);
    const __mmask16 mask1 = cols >= 32 ? static_cast<__mmask16>(0xFFFF) : cols <= 16 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << (cols - 16)) - 1u);
    (cols <= 16 ? kHalf : kTiles)[r](a, lda, b, kc, y, ldy, bias, mask0, mask1, first, last, lo, hi, act, pf, pf_lines);
  }
  static void copy(float* d, const float* s, int64_t n) { copy16(d, s, n); }
  static void zero(float* d, int64_t n) { zero16(d, n); }
  static void store_rows(const float* s, int64_t rows, int64_t cols, int64_t lds, float* y, int64_t ldy) { store_rows16(s, rows, cols, lds, y, ldy); }
};

}  // namespace

void conv_gemm_block(const ConvGemmView& l, const ConvGemmImage& g, int64_t kc, int64_t p0, int64_t p1, int64_t n0, int64_t n1, float* work) {
  cg_block<Avx512Kernel>(l, g, kc, p0, p1, n0, n1, work);
}

void row_gemm_block(const RowGemmView& l, const float* x, int64_t pixels, int64_t p0, int64_t p1, float* y, float* work) {
  const int64_t np = p1 - p0, k = l.k;
  // the block's input rows as [k][32] (pixels past np are not read: the loads below are masked)
  store_rows16(x + p0 * k, np, k, k, work, 32);
  const __mmask16 m0 = np >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << np) - 1u);
  const __mmask16 m1 = np >= 32 ? static_cast<__mmask16>(0xFFFF) : np <= 16 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << (np - 16)) - 1u);
  const __m512 vlo = _mm512_set1_ps(l.lo), vhi = _mm512_set1_ps(l.hi);
  for (int64_t g = 0; g < l.groups; ++g) {
    __m512 a0[8], a1[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) a0[i] = a1[i] = _mm512_set1_ps(l.bias[g * 8 + i]);
    const float* wg = l.w + g * k * 8;
    for (int64_t t = 0; t < k; ++t) {
      const __m512 x0 = _mm512_maskz_loadu_ps(m0, work + t * 32), x1 = _mm512_maskz_loadu_ps(m1, work + t * 32 + 16);
#pragma GCC unroll 8
      for (int i = 0; i < 8; ++i) {
        const __m512 wv = _mm512_set1_ps(wg[t * 8 + i]);
        a0[i] = _mm512_fmadd_ps(wv, x0, a0[i]);
        a1[i] = _mm512_fmadd_ps(wv, x1, a1[i]);
      }
    }
    const int rows = static_cast<int>(cg_min(8, l.m - g * 8));
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      if (i >= rows) break;
      float* yr = y + (g * 8 + i) * pixels + p0;
      _mm512_mask_storeu_ps(yr, m0, min16(max16(a0[i], vlo), vhi));
      _mm512_mask_storeu_ps(yr + 16, m1, min16(max16(a1[i], vlo), vhi));
    }
  }
}

}  // namespace ec
