// The fused pointwise kernel (pointwise.h), compiled with AVX-512 F/VL: GCC vector extensions of 16 floats,
// MR rows x NZ vectors of accumulators, the weight vectors and a broadcast in the 32 registers. No library
// templates here: their instances would carry AVX-512 code into other files.
#include <immintrin.h>

#include "pointwise.h"

namespace ec {
namespace {

typedef float v16 __attribute__((vector_size(64)));

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Lanes [0, m) of 16 (m clipped to 0..16) as a mask.
inline __mmask16 lanes16(int64_t m) { return m >= 16 ? static_cast<__mmask16>(0xffff) : m <= 0 ? 0 : static_cast<__mmask16>((1u << m) - 1); }

// MR rows x 16 NZ outputs from column c0 (outputs past n masked): on a CPU with full-width 512-bit units (AMD
// Zen 5) a 16-float multiply-add costs what an 8-float one does. 24 outputs padded to 32 ran 1.2x the earlier
// kernel's three 8-float vectors (in L1: 56 against 46 GMAC/s) and a 16 + 8 split 50; 32 outputs 1.7x (83
// against 50).
template <int MR, int NZ>
__attribute__((always_inline)) inline void tile_wide(const PointwiseView& l, const float* x, const float* r, int64_t cr, float* y, int64_t p,
                                                     int64_t rows, int64_t c0) {
  v16 az[MR][NZ];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < NZ; ++j) __builtin_memcpy(&az[i][j], l.bias + c0 + 16 * j, sizeof(v16));
  const float* xr[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) xr[i] = x + (p + min64(i, rows - 1)) * l.k;  // short tiles repeat their last row
  const float* w = l.w + c0;
  for (int64_t kk = 0; kk < l.k; ++kk, w += l.npad) {
    v16 wz[NZ];
#pragma GCC unroll 2
    for (int j = 0; j < NZ; ++j) __builtin_memcpy(&wz[j], w + 16 * j, sizeof(v16));
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const float a = xr[i][kk];
#pragma GCC unroll 2
      for (int j = 0; j < NZ; ++j) az[i][j] += a * wz[j];
    }
  }
  const v16 lo16 = v16{} + l.lo, hi16 = v16{} + l.hi;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= rows) break;
    float* yr = y + (p + i) * l.n;
    const float* rr = r ? r + (p + i) * cr : nullptr;
#pragma GCC unroll 2
    for (int j = 0; j < NZ; ++j) {
      const int64_t c = c0 + 16 * j;
      v16 v = az[i][j];
      if (rr) v += reinterpret_cast<v16>(_mm512_maskz_loadu_ps(lanes16(cr - c), rr + c));  // read before the store: y may be r
      v = v < lo16 ? lo16 : v;
      v = v > hi16 ? hi16 : v;
      _mm512_mask_storeu_ps(yr + c, lanes16(l.n - c), reinterpret_cast<__m512>(v));
    }
  }
}

template <int MR, int NZ>
void columns_wide(const PointwiseView& l, const float* x, const float* r, int64_t cr, float* y, int64_t p0, int64_t p1, int64_t c0) {
  for (int64_t p = p0; p < p1; p += MR) tile_wide<MR, NZ>(l, x, r, cr, y, p, min64(MR, p1 - p), c0);
}

}  // namespace

void pointwise_rows(const PointwiseView& l, const float* x, const float* r, int64_t cr, float* y, int64_t p0, int64_t p1) {
  // column blocks of 32 outputs, the last one 16 or 32 wide (npad: a multiple of 16)
  for (int64_t c0 = 0; c0 < l.npad; c0 += 32) {
    if (l.npad - c0 >= 32) columns_wide<12, 2>(l, x, r, cr, y, p0, p1, c0);
    else columns_wide<16, 1>(l, x, r, cr, y, p0, p1, c0);
  }
}

}  // namespace ec
