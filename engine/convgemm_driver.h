// The blocked convolution GEMM's loops (convgemm.h), shared by its per-ISA files (convgemm_avx512.cpp,
// convgemm_neon.cpp), each of which includes this once and supplies the register tile. Everything here has
// internal linkage, so each file gets its own copy built for its own instructions.
#pragma once
#include <cstdint>

#include "convgemm.h"

namespace ec {
namespace {

inline int64_t cg_min(int64_t a, int64_t b) { return a < b ? a : b; }

// work[r][0..k1-k0) = the input values that reduction entries [k0, k1) of pixel p0 + r multiply (zero where the
// window lies in the padding), for pixels [p0, p1). The window positions of one window row that lie inside the
// input are contiguous in x (NHWC, no dilation): copied as one run (Kernel::copy, Kernel::zero).
template <class Kernel>
void cg_gather(const ConvGemmView& l, const ConvGemmImage& g, int64_t k0, int64_t k1, int64_t p0, int64_t p1, float* work) {
  const int64_t kb = k1 - k0;
  if (k0 == 0 && k1 == l.k) {  // whole windows (a reduction of one block): window row by row, no divisions per run
    const int64_t run = l.kw * l.c;
    int64_t oy = p0 / g.ow, ox = p0 - oy * g.ow;
    float* dst = work;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t ix0 = ox * l.sw - g.pl;
      const int64_t kx0 = ix0 < 0 ? cg_min(l.kw, -ix0) : 0, kx1 = cg_min(l.kw, g.iw - ix0);
      for (int64_t ky = 0; ky < l.kh; ++ky, dst += run) {
        const int64_t iy = oy * l.sh - g.pt + ky;
        if (iy < 0 || iy >= g.ih || kx1 <= kx0) {
          Kernel::zero(dst, run);
          continue;
        }
        if (kx0 > 0) Kernel::zero(dst, kx0 * l.c);
        Kernel::copy(dst + kx0 * l.c, g.x + (iy * g.iw + ix0 + kx0) * l.c, (kx1 - kx0) * l.c);
        if (kx1 < l.kw) Kernel::zero(dst + kx1 * l.c, (l.kw - kx1) * l.c);
      }
      if (++ox == g.ow) {
        ox = 0;
        ++oy;
      }
    }
    return;
  }
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t oy = p / g.ow, ox = p - oy * g.ow;
    float* dst = work + (p - p0) * kb;
    for (int64_t k = k0; k < k1;) {
      const int64_t t = k / l.c, ci = k - t * l.c, ky = t / l.kw, kx = t - ky * l.kw;
      const int64_t iy = oy * l.sh - g.pt + ky, ix = ox * l.sw - g.pl + kx;
      int64_t len;
      if (iy < 0 || iy >= g.ih) {  // the rest of this window row is padding
        len = cg_min(k1 - k, (l.kw - kx) * l.c - ci);
        Kernel::zero(dst, len);
      } else if (ix < 0 || ix >= g.iw) {
        len = cg_min(k1 - k, l.c - ci);
        Kernel::zero(dst, len);
      } else {
        len = cg_min(k1 - k, cg_min(l.kw - kx, g.iw - ix) * l.c - ci);
        Kernel::copy(dst, g.x + (iy * g.iw + ix) * l.c + ci, len);
      }
      dst += len;
      k += len;
    }
  }
}

// Output pixels [p0, p1) of panels [n0, n1) (conv_gemm_run), in tiles of Kernel::kMR pixels x l.nr channels:
// Kernel::tile(rows, a, lda, b, kc, y, ldy, bias, cols, first, last, lo, hi, act, pf, pf_lines) adds a [rows][kc]
// x b [kc][nr] to y (from the bias when first; clamped, then through act, when last; `cols` valid columns) and meanwhile asks for the
// pf_lines 64-byte lines from pf: the weights the next tiles read. NCHW output (g.nchw, one reduction block): a
// panel's tiles go to work space [pixel][nr] (in L1: 252 x 32 floats), which Kernel::store_rows(s, rows, cols,
// lds, y, ldy) then writes as `cols` channel rows y[j * ldy + i] = s[i * lds + j].
template <class Kernel>
void cg_block(const ConvGemmView& l, const ConvGemmImage& g, int64_t kc, int64_t p0, int64_t p1, int64_t n0, int64_t n1, float* work) {
  constexpr int64_t mr = Kernel::kMR;
  const int64_t nr = l.nr;
  // a 1x1 stride-1 window without padding reads the input rows in place
  const bool in_place = l.kh == 1 && l.kw == 1 && l.sh == 1 && l.sw == 1 && g.pt == 0 && g.pl == 0 && g.ih == g.oh && g.iw == g.ow;
  for (int64_t k0 = 0; k0 < l.k; k0 += kc) {
    const int64_t kb = cg_min(kc, l.k - k0);
    const float* a;
    int64_t lda;
    if (in_place) {
      a = g.x + p0 * l.c + k0;
      lda = l.c;
    } else {
      cg_gather<Kernel>(l, g, k0, k0 + kb, p0, p1, work);
      a = work;
      lda = kb;
    }
    const bool first = k0 == 0, last = k0 + kb == l.k;
    const int64_t hw = g.oh * g.ow;
    float* const staged = g.nchw ? work + (p1 - p0) * kb : nullptr;  // past the gathered input
    const int64_t ldy = g.nchw ? nr : l.m;
    for (int64_t n = n0; n < n1; ++n) {
      const int64_t cols = cg_min(nr, l.m - nr * n);
      const float* b = l.w + n * l.k * nr + k0 * nr;
      // the weights used next: the next panel's in this block, else the first panel's in the next block
      const float* next = n + 1 < n1 ? b + l.k * nr : last ? nullptr : l.w + n0 * l.k * nr + (k0 + kb) * nr;
      const int64_t next_kb = n + 1 < n1 ? kb : cg_min(kc, l.k - k0 - kb);
      const int64_t lines = next ? next_kb * nr * 4 / 64 : 0, tiles = (p1 - p0 + mr - 1) / mr;
      const int64_t per_tile = (lines + tiles - 1) / tiles;
      for (int64_t p = p0, i = 0; p < p1; p += mr, ++i) {
        const int r = static_cast<int>(cg_min(mr, p1 - p));
        const int64_t from = cg_min(lines, i * per_tile);
        float* y = g.nchw ? staged + (p - p0) * nr : g.y + p * l.m + nr * n;
        Kernel::tile(r, a + (p - p0) * lda, lda, b, kb, y, ldy, l.bias + nr * n, cols, first, last, l.lo, l.hi, l.act,
                     next ? reinterpret_cast<const char*>(next) + 64 * from : nullptr, cg_min(per_tile, lines - from));
      }
      if (g.nchw) Kernel::store_rows(staged, p1 - p0, cols, nr, g.y + nr * n * hw + p0, hw);
    }
  }
}

}  // namespace
}  // namespace ec
