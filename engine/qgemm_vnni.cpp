// The AVX-512 VNNI kernel of qgemm.h. This file alone is compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512vnni and is only called after qgemm_vnni_available(); it uses no inline library code (no std::
// templates), so nothing compiled for AVX-512 can be shared with the rest of the program.
#include <immintrin.h>

#include "qgemm.h"

namespace ec {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Four bytes of input row `x` at [i, i + 4), zero beyond `k` (the packed weights there are zero anyway;
// this keeps the read inside the row).
inline int32_t load4(const int8_t* x, int64_t i, int64_t k) {
  uint32_t v = 0;
  const int64_t n = min64(4, k - i);
  for (int64_t t = 0; t < n; ++t) v |= static_cast<uint32_t>(static_cast<uint8_t>(x[i + t])) << (8 * t);
  return static_cast<int32_t>(v);
}

// 16 int32 sums that already hold the bias as int8 values in int32 lanes: acc * sc, clamped to [lo, hi] (the
// bounds less the zero point), rounded to nearest even, plus zy.
inline __m512i requant(__m512i acc, __m512 sc, __m512 lo, __m512 hi, __m512i zy) {
  // full-mask maskz forms: GCC 12's plain forms trip a false -Wuninitialized in its headers (PR 105593)
  const __mmask16 all = 0xFFFF;
  __m512 f = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, acc), sc);
  f = _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, f, lo), hi);  // clamp before converting: no int32 overflow
  return _mm512_add_epi32(_mm512_maskz_cvtps_epi32(all, f), zy);     // round to nearest even
}

// The fused residual Add's constants (QGemmLayer::add).
struct AddConsts {
  __m512 ka, kb, off, alo, ahi, zyf;
};

inline AddConsts add_consts(const QGemmView& l) {
  AddConsts a;
  a.ka = _mm512_set1_ps(l.ka);
  a.kb = _mm512_set1_ps(l.kb);
  a.off = _mm512_set1_ps(l.off);
  a.alo = _mm512_set1_ps(static_cast<float>(l.add_lo));
  a.ahi = _mm512_set1_ps(static_cast<float>(l.add_hi));
  a.zyf = _mm512_set1_ps(static_cast<float>(l.zy));
  return a;
}

// The GEMM's int8 output (as requant would give it, zero point included) added to the residual ri (int32
// lanes) as QLinearAdd does: round(ka * y + (kb * r + off)) clamped to [add_lo, add_hi]. acc holds the bias.
// Bit-equal to requant followed by int -> float: the rounded value plus zy is a small integer, exact in float.
inline __m512i requant_add(const AddConsts& a, __m512i acc, __m512 sc, __m512 lo, __m512 hi, __m512i ri) {
  const __mmask16 all = 0xFFFF;
  __m512 f = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, acc), sc);
  f = _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, f, lo), hi);
  const __m512 y = _mm512_add_ps(_mm512_maskz_roundscale_ps(all, f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), a.zyf);
  __m512 g = _mm512_fmadd_ps(a.ka, y, _mm512_fmadd_ps(a.kb, _mm512_maskz_cvtepi32_ps(all, ri), a.off));
  g = _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, g, a.alo), a.ahi);
  return _mm512_maskz_cvtps_epi32(all, g);
}

// The input quad q (bytes 4q .. 4q+3) of row xr broadcast to the 16 lanes as unsigned bytes (x + 128). F: the
// row is already unsigned and k % 4 == 0 (flip_bytes), else it is int8.
template <bool F>
inline __m512i quad(const int8_t* xr, int64_t q, int64_t kfull, int64_t k) {
  int32_t v;
  if (F || q < kfull) __builtin_memcpy(&v, xr + q * 4, 4);
  else v = load4(xr, q * 4, k);
  const __m512i a = _mm512_set1_epi32(v);
  return F ? a : _mm512_xor_si512(a, _mm512_set1_epi32(static_cast<int32_t>(0x80808080u)));
}

// Up to PX pixels x NB blocks of 16 output channels starting at block nb0 (PX * NB accumulators), the input of
// pixel p + r at xs + r * stride (quad<F>). Not inlined: inside the dispatch GCC spilled the accumulators.
template <int NB, int PX, bool F, bool FO = false>
__attribute__((noinline)) void tile(const QGemmView& l, const int8_t* xs, int64_t stride, int8_t* y, int64_t p, int np, int64_t nb0) {
  const int64_t k = l.k, n = l.n, k4n = (k + 3) / 4, kfull = k / 4;
  // Every loop over r and b has a constant trip count and is unrolled, so the accumulators stay in registers
  // (a loop to the run-time np indexed them in memory: 2-3x slower); rows past np repeat the last row and are
  // not stored. The accumulators start at the bias.
  __m512i acc[PX][NB];
#pragma GCC unroll 8
  for (int r = 0; r < PX; ++r)
#pragma GCC unroll 6
    for (int b = 0; b < NB; ++b) acc[r][b] = _mm512_setzero_si512();
  const int8_t* wp = l.packed;
  const int8_t* xrow[PX];
#pragma GCC unroll 8
  for (int r = 0; r < PX; ++r) xrow[r] = xs + (r < np ? r : np - 1) * stride;
  for (int64_t q = 0; q < k4n; ++q) {
    __m512i w[NB];
#pragma GCC unroll 6
    for (int b = 0; b < NB; ++b) w[b] = _mm512_loadu_si512(wp + ((nb0 + b) * k4n + q) * 64);
#pragma GCC unroll 8
    for (int r = 0; r < PX; ++r) {
      const __m512i a = quad<F>(xrow[r], q, kfull, k);
#pragma GCC unroll 6
      for (int b = 0; b < NB; ++b) acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], a, w[b]);
    }
  }
  const __m512 lo = _mm512_set1_ps(static_cast<float>(l.lo - l.zy)), hi = _mm512_set1_ps(static_cast<float>(l.hi - l.zy));
  const __m512i zy = _mm512_set1_epi32(l.zy);
  const AddConsts ac = add_consts(l);
  const __m512i rz = _mm512_set1_epi32(l.rz);
  const __mmask16 all = 0xFFFF;
#pragma GCC unroll 6
  for (int b = 0; b < NB; ++b) {
    const int64_t n0 = (nb0 + b) * 16;
    const int64_t cnt = min64(16, n - n0);
    const __mmask16 m = static_cast<__mmask16>((1u << cnt) - 1u);
    const __m512 sc = _mm512_loadu_ps(l.scale + n0);
    const __m512i bias = _mm512_loadu_si512(l.bias_adj + n0);
#pragma GCC unroll 8
    for (int r = 0; r < PX; ++r) {
      if (r >= np) break;
      acc[r][b] = _mm512_add_epi32(acc[r][b], bias);
      if (FO) {  // float output: the exact sums scaled, plus the float bias (bias_adj holds the zero points only)
        _mm512_mask_storeu_ps(l.yf + (p + r) * n + n0, m, _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(all, acc[r][b]), sc, _mm512_loadu_ps(l.yb + n0)));
        continue;
      }
      __m512i q;
      if (l.r) {  // the fused residual Add: the same int8 y as requant's, then QLinearAdd's arithmetic
        const int64_t rc = l.cr - n0;
        const __mmask16 mr = rc >= 16 ? static_cast<__mmask16>(0xFFFF) : rc > 0 ? static_cast<__mmask16>((1u << rc) - 1u) : static_cast<__mmask16>(0);
        const __m128i rb = _mm_maskz_loadu_epi8(mr, l.r + (p + r) * l.cr + n0);
        const __m512i ri = _mm512_mask_blend_epi32(mr, rz, _mm512_maskz_cvtepi8_epi32(all, rb));
        q = requant_add(ac, acc[r][b], sc, lo, hi, ri);
      } else {
        q = requant(acc[r][b], sc, lo, hi, zy);
      }
      _mm_mask_storeu_epi8(y + (p + r) * n + n0, m, _mm512_maskz_cvtsepi32_epi8(all, q));
    }
  }
}

// Up to 2 PP pixels from p (np of them valid) of a layer with n % 16 == 8, as PP pairs of pixels in NB = 2n/16
// blocks (QGemmLayer::pair_packed): block b < n/16 holds the pair's first pixel, block n/16 the first pixel's
// last 8 channels and the second's first 8, the rest the second pixel. A pair's 2n outputs are contiguous in y
// (rows of n), and so are its residual's (cr == n): each block is one 16-byte load and store. Input as tile's.
template <int NB, int PP, bool F>
__attribute__((noinline)) void pair_tile(const QGemmView& l, const int8_t* xs, int64_t stride, int8_t* y, int64_t p, int np) {
  const int64_t k = l.k, n = l.n, k4n = (k + 3) / 4, kfull = k / 4;
  const int mid = static_cast<int>(n / 16);
  __m512i acc[PP][NB];  // starting at the bias
#pragma GCC unroll 8
  for (int r = 0; r < PP; ++r)
#pragma GCC unroll 6
    for (int b = 0; b < NB; ++b) acc[r][b] = _mm512_loadu_si512(l.pair_bias_adj + 16 * b);
  const int8_t* xrow[2 * PP];
#pragma GCC unroll 16
  for (int r = 0; r < 2 * PP; ++r) xrow[r] = xs + (r < np ? r : np - 1) * stride;
  for (int64_t q = 0; q < k4n; ++q) {
    __m512i w[NB];
#pragma GCC unroll 6
    for (int b = 0; b < NB; ++b) w[b] = _mm512_loadu_si512(l.pair_packed + (b * k4n + q) * 64);
#pragma GCC unroll 8
    for (int r = 0; r < PP; ++r) {
      const __m512i a = quad<F>(xrow[2 * r], q, kfull, k), bb = quad<F>(xrow[2 * r + 1], q, kfull, k);
#pragma GCC unroll 6
      for (int b = 0; b < NB; ++b) {
        const __m512i v = b < mid ? a : b > mid ? bb : _mm512_mask_blend_epi32(static_cast<__mmask16>(0xFF00), a, bb);
        acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], v, w[b]);
      }
    }
  }
  const __m512 lo = _mm512_set1_ps(static_cast<float>(l.lo - l.zy)), hi = _mm512_set1_ps(static_cast<float>(l.hi - l.zy));
  const __m512i zy = _mm512_set1_epi32(l.zy);
  const AddConsts ac = add_consts(l);
  const __mmask16 all = 0xFFFF;
#pragma GCC unroll 6
  for (int b = 0; b < NB; ++b) {
    const __m512 sc = _mm512_loadu_ps(l.pair_scale + 16 * b);
#pragma GCC unroll 8
    for (int r = 0; r < PP; ++r) {
      if (2 * r >= np) break;
      const int64_t bytes = (2 * r + 1 < np ? 2 : 1) * n - 16 * b;  // valid bytes of the pair from this block on
      if (bytes <= 0) break;
      const __mmask16 m = bytes >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << bytes) - 1u);
      const int64_t at = (p + 2 * r) * n + 16 * b;
      __m512i v;
      if (l.r) {  // cr == n: the residual's bytes lie as y's
        const __m512i ri = _mm512_maskz_cvtepi8_epi32(all, _mm_maskz_loadu_epi8(m, l.r + at));
        v = requant_add(ac, acc[r][b], sc, lo, hi, ri);
      } else {
        v = requant(acc[r][b], sc, lo, hi, zy);
      }
      _mm_mask_storeu_epi8(y + at, m, _mm512_maskz_cvtsepi32_epi8(all, v));
    }
  }
}

// Rows [p0, p1) with the input of row p0 at xs and rows `stride` bytes apart (quad<F>).
template <bool F, bool FO = false>
void gemm_rows(const QGemmView& l, const int8_t* xs, int64_t stride, int8_t* y, int64_t p0, int64_t p1) {
  const int64_t nblocks = (l.n + 15) / 16;
  auto at = [&](int64_t p) { return xs + (p - p0) * stride; };
  if (!FO && l.pair_packed && (!l.r || l.cr == l.n)) {  // n = 8, 24, 40: pixel pairs fill whole blocks
    for (int64_t p = p0; p < p1;) {
      const int64_t left = p1 - p;
      if (l.n == 8) {
        pair_tile<1, 8, F>(l, at(p), stride, y, p, static_cast<int>(min64(16, left)));
        p += 16;
      } else if (l.n == 24) {
        pair_tile<3, 4, F>(l, at(p), stride, y, p, static_cast<int>(min64(8, left)));
        p += 8;
      } else {
        pair_tile<5, 2, F>(l, at(p), stride, y, p, static_cast<int>(min64(4, left)));
        p += 4;
      }
    }
    return;
  }
  if (nblocks <= 2) {  // narrow layers: 8 pixels per tile so each weight load feeds more multiply-adds
    for (int64_t p = p0; p < p1; p += 8) {
      const int np = static_cast<int>(min64(8, p1 - p));
      if (nblocks == 1) tile<1, 8, F, FO>(l, at(p), stride, y, p, np, 0);
      else tile<2, 8, F, FO>(l, at(p), stride, y, p, np, 0);
    }
    return;
  }
  for (int64_t p = p0; p < p1; p += 4) {
    const int np = static_cast<int>(min64(4, p1 - p));
    for (int64_t nb0 = 0; nb0 < nblocks; nb0 += 6) {
      switch (min64(6, nblocks - nb0)) {
        case 1: tile<1, 4, F, FO>(l, at(p), stride, y, p, np, nb0); break;
        case 2: tile<2, 4, F, FO>(l, at(p), stride, y, p, np, nb0); break;
        case 3: tile<3, 4, F, FO>(l, at(p), stride, y, p, np, nb0); break;
        case 4: tile<4, 4, F, FO>(l, at(p), stride, y, p, np, nb0); break;
        case 5: tile<5, 4, F, FO>(l, at(p), stride, y, p, np, nb0); break;
        default: tile<6, 4, F, FO>(l, at(p), stride, y, p, np, nb0); break;
      }
    }
  }
}

// n int8 bytes from x as unsigned bytes (x + 128) at d.
void flip_bytes(const int8_t* x, int64_t n, int8_t* d) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512(d + i, _mm512_xor_si512(_mm512_loadu_si512(x + i), flip));
  if (i < n) {
    const __mmask64 m = (~__mmask64{0}) >> (64 - (n - i));
    _mm512_mask_storeu_epi8(d + i, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, x + i), flip));
  }
}

}  // namespace

void qgemm_vnni_rows(const QGemmView& l, const int8_t* x, int8_t* y, int64_t p0, int64_t p1) {
  if (l.yf) {  // float output (detection heads: not worth a flipped copy)
    gemm_rows<false, true>(l, x + p0 * l.k, l.k, y, p0, p1);
    return;
  }
  // Narrow layers (pixel pairs, 1 or 2 blocks) read their input from a 16 KB buffer of unsigned bytes, a whole
  // number of tiles at a time: one xor per 64 bytes instead of one per quad of each pixel, 5-20 % faster on
  // BlazeFace's 24-channel layers. Wide tiles flip as they read: their xor is shared by up to 6 blocks, and
  // GCC 12 spills their 24 accumulators when the xor goes (1.2-1.3x slower); rows of k % 4 != 0 (im2col
  // stems) would be flipped one short row at a time, which cost more than it saved.
  constexpr int64_t kBuf = 16 * 1024;
  const int64_t per = kBuf / l.k / 16 * 16;
  const bool narrow = (l.pair_packed && (!l.r || l.cr == l.n)) || l.n <= 32;
  if (per == 0 || !narrow || l.k % 4 != 0) {
    gemm_rows<false>(l, x + p0 * l.k, l.k, y, p0, p1);
    return;
  }
  alignas(64) int8_t buf[kBuf];
  for (int64_t c = p0; c < p1; c += per) {
    const int64_t e = min64(p1, c + per);
    flip_bytes(x + c * l.k, (e - c) * l.k, buf);
    gemm_rows<true>(l, buf, l.k, y, c, e);
  }
}

namespace {

// Up to PX consecutive output pixels of one row from column ox x NB blocks of 16 output channels from block nb0,
// read from the padded unsigned rows of qdirect_vnni_rows: row0 is the window's first row, pitch bytes apart.
template <int NB, int PX>
void dtile(const QDirectView& l, const uint8_t* row0, int64_t pitch, int64_t ox, int np, int64_t nb0, int8_t* yrow) {
  const int64_t kh = l.kh, g = l.groups, step = l.sw * l.c;
  __m512i acc[PX][NB];  // starting at the bias
#pragma GCC unroll 8
  for (int r = 0; r < PX; ++r)
#pragma GCC unroll 6
    for (int b = 0; b < NB; ++b) acc[r][b] = _mm512_loadu_si512(l.bias_adj + (nb0 + b) * 16);
  const uint8_t* px[PX];  // rows past np repeat the last pixel and are not stored
#pragma GCC unroll 8
  for (int r = 0; r < PX; ++r) px[r] = row0 + (ox + (r < np ? r : np - 1)) * step;
  for (int64_t ky = 0; ky < kh; ++ky) {
    const int8_t* wk = l.packed + (nb0 * kh + ky) * g * 64;
    for (int64_t q = 0; q < g; ++q) {
      __m512i w[NB];
#pragma GCC unroll 6
      for (int b = 0; b < NB; ++b) w[b] = _mm512_loadu_si512(wk + (b * kh * g + q) * 64);
#pragma GCC unroll 8
      for (int r = 0; r < PX; ++r) {
        int32_t v;
        __builtin_memcpy(&v, px[r] + ky * pitch + q * 4, 4);
        const __m512i a = _mm512_set1_epi32(v);
#pragma GCC unroll 6
        for (int b = 0; b < NB; ++b) acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], a, w[b]);
      }
    }
  }
  const __m512 lo = _mm512_set1_ps(static_cast<float>(l.lo - l.zy)), hi = _mm512_set1_ps(static_cast<float>(l.hi - l.zy));
  const __m512i zy = _mm512_set1_epi32(l.zy);
  const __mmask16 all = 0xFFFF;
#pragma GCC unroll 6
  for (int b = 0; b < NB; ++b) {
    const int64_t n0 = (nb0 + b) * 16;
    const int64_t cnt = min64(16, l.n - n0);
    const __mmask16 m = static_cast<__mmask16>((1u << cnt) - 1u);
    const __m512 sc = _mm512_loadu_ps(l.scale + n0);
#pragma GCC unroll 8
    for (int r = 0; r < PX; ++r) {
      if (r >= np) break;
      const __m512i q = requant(acc[r][b], sc, lo, hi, zy);
      _mm_mask_storeu_epi8(yrow + (ox + r) * l.n + n0, m, _mm512_maskz_cvtsepi32_epi8(all, q));
    }
  }
}

// Fills n bytes at d with the byte v.
inline void fill(uint8_t* d, int64_t n, uint8_t v) {
  const __m512i pv = _mm512_set1_epi8(static_cast<char>(v));
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512(d + i, pv);
  if (i < n) _mm512_mask_storeu_epi8(d + i, (~__mmask64{0}) >> (64 - (n - i)), pv);
}

}  // namespace

void qdirect_vnni_rows(const QDirectView& l, const int8_t* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int8_t* y, int64_t ow,
                       int64_t oy0, int64_t oy1, uint8_t* work, int64_t pitch) {
  const int64_t c = l.c, cols = (ow - 1) * l.sw + l.kw;  // padded columns the windows reach
  const uint8_t pad = static_cast<uint8_t>(static_cast<uint8_t>(l.zx) ^ 0x80u);  // a real 0, unsigned
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  // the band's input rows, padded and unsigned: padded column j is input column j - pl (pl >= 0)
  const int64_t iy0 = oy0 * l.sh - pt, rows = (oy1 - 1 - oy0) * l.sh + l.kh;
  const int64_t left = min64(pl, cols), inner = min64(iw, cols - left);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* d = work + r * pitch;
    const int64_t iy = iy0 + r;
    if (iy < 0 || iy >= ih || inner <= 0) {
      fill(d, pitch, pad);
      continue;
    }
    fill(d, left * c, pad);
    const int8_t* s = x + iy * iw * c;
    uint8_t* m = d + left * c;
    const int64_t nb = inner * c;
    int64_t i = 0;
    for (; i + 64 <= nb; i += 64) _mm512_storeu_si512(m + i, _mm512_xor_si512(_mm512_loadu_si512(s + i), flip));
    if (i < nb) {
      const __mmask64 k = (~__mmask64{0}) >> (64 - (nb - i));
      _mm512_mask_storeu_epi8(m + i, k, _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, s + i), flip));
    }
    fill(m + nb, pitch - (left + inner) * c, pad);
  }
  const int64_t nblocks = (l.n + 15) / 16;
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    const uint8_t* row0 = work + (oy - oy0) * l.sh * pitch;
    int8_t* yrow = y + oy * ow * l.n;
    if (nblocks <= 2) {  // narrow layers (stems): 8 pixels per tile so each weight load feeds more multiply-adds
      for (int64_t ox = 0; ox < ow; ox += 8) {
        const int np = static_cast<int>(min64(8, ow - ox));
        if (nblocks == 1) dtile<1, 8>(l, row0, pitch, ox, np, 0, yrow);
        else dtile<2, 8>(l, row0, pitch, ox, np, 0, yrow);
      }
      continue;
    }
    for (int64_t ox = 0; ox < ow; ox += 4) {
      const int np = static_cast<int>(min64(4, ow - ox));
      for (int64_t nb0 = 0; nb0 < nblocks; nb0 += 6) {
        switch (min64(6, nblocks - nb0)) {
          case 1: dtile<1, 4>(l, row0, pitch, ox, np, nb0, yrow); break;
          case 2: dtile<2, 4>(l, row0, pitch, ox, np, nb0, yrow); break;
          case 3: dtile<3, 4>(l, row0, pitch, ox, np, nb0, yrow); break;
          case 4: dtile<4, 4>(l, row0, pitch, ox, np, nb0, yrow); break;
          case 5: dtile<5, 4>(l, row0, pitch, ox, np, nb0, yrow); break;
          default: dtile<6, 4>(l, row0, pitch, ox, np, nb0, yrow); break;
        }
      }
    }
  }
}

}  // namespace ec
