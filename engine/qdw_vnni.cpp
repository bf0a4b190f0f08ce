// The AVX-512 VNNI int8 depthwise convolution of qgemm.h. Built with -mavx512f -mavx512bw -mavx512vl
// -mavx512vnni like qgemm_vnni.cpp, called only after qgemm_vnni_available(), and free of inline library code.
//
// Data: T, one input row padded to the window's reach and rearranged as quads: for column xp and channel block
// b, 64 bytes whose 32-bit lane j holds channel 16b + j at padded columns xp .. xp+3, as unsigned bytes (x + 128;
// zx + 128 outside the input). One vpdpbusd of a quad and the packed weights adds 4 taps of 16 channels. The kh
// rows of T an output row needs live in a ring indexed by input row, so each input row is rearranged once
// however many output rows read it.
#include <immintrin.h>

#include "qgemm.h"

namespace ec {

namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

struct Rows {
  int64_t ih, iw, pt, pl, ow;
  int64_t tw;  // quad columns
};

// Channel blocks [b0, b1) of input row `xrow` (nullptr: a row of padding) as quads T [b1 - b0][tw][64], at the columns the windows start
// from (every sw-th when sw divides 4). Column xp of the padded row is input column xp - pl; outside the input
// it holds zx. Bytes go in as x + 128 (unsigned, what vpdpbusd multiplies); channel lanes beyond c hold
// something, which their zero weights ignore.
void make_quads(const QDwView& l, const Rows& g, const int8_t* xrow, uint8_t* t, int64_t b0, int64_t b1) {
  // (full-mask maskz forms here and below: GCC 12's plain forms trip a false -Wuninitialized, PR 105593)
  // a 4x4 transpose of 32-bit words across the 128-bit lanes, then of bytes within each lane: byte 4c + j of
  // the result is byte c of column xp + j
  const __m512i words = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  const __m512i bytes = _mm512_maskz_broadcast_i32x4(0xFFFF, _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m128i zx = _mm_set1_epi8(static_cast<char>(l.zx));
  const int64_t step = 4 % l.sw == 0 ? l.sw : 1;
  const int64_t c = l.c;
  if (!xrow) {
    const __m512i pad = _mm512_xor_si512(_mm512_maskz_broadcast_i32x4(0xFFFF, zx), flip);
    for (int64_t i = 0; i < (b1 - b0) * g.tw; ++i) _mm512_storeu_si512(t + i * 64, pad);
    return;
  }
  // columns whose 4 values all lie inside the input: [in0, in1)
  const int64_t in0 = g.pl, in1 = g.iw - 3 + g.pl > in0 ? g.iw - 3 + g.pl : in0;
  for (int64_t b = b0; b < b1; ++b) {
    uint8_t* tb = t + (b - b0) * g.tw * 64;
    const int64_t c0 = b * 16;
    const __mmask16 m = c - c0 >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (c - c0)) - 1u);
    const int8_t* xb = xrow + c0;
    auto chunk = [&](int64_t ix) { return ix < 0 || ix >= g.iw ? zx : _mm_maskz_loadu_epi8(m, xb + ix * c); };
    auto put = [&](int64_t xp, __m512i z) {
      z = _mm512_shuffle_epi8(_mm512_maskz_permutexvar_epi32(0xFFFF, words, z), bytes);
      _mm512_storeu_si512(tb + xp * 64, _mm512_xor_si512(z, flip));
    };
    int64_t xp = 0;
    for (; xp < g.tw && xp < in0; xp += step) {
      const int64_t ix = xp - g.pl;
      __m512i z = _mm512_castsi128_si512(chunk(ix));
      z = _mm512_inserti32x4(z, chunk(ix + 1), 1);
      z = _mm512_inserti32x4(z, chunk(ix + 2), 2);
      put(xp, _mm512_inserti32x4(z, chunk(ix + 3), 3));
    }
    if (c == 16) {  // the 4 columns are 64 contiguous bytes
      for (; xp < g.tw && xp < in1; xp += step) put(xp, _mm512_loadu_si512(xb + (xp - g.pl) * 16));
    } else if (c % 4 == 0 && 3 * c + 16 <= 128) {
      // the 4 columns' 16-channel chunks lie within 128 bytes: two (masked: nothing read past the 4th chunk)
      // loads, and one two-source word permute gathers the chunks into the 4 lanes
      const int64_t need = (3 * c + min64(16, c - c0)) / 4;  // words
      const __mmask16 ma = static_cast<__mmask16>(need >= 16 ? 0xFFFF : (1u << need) - 1u);
      const __mmask16 mb = static_cast<__mmask16>(need <= 16 ? 0 : (1u << (need - 16)) - 1u);
      alignas(64) int32_t idx[16];
      for (int j = 0; j < 4; ++j)
        for (int q = 0; q < 4; ++q) idx[4 * q + j] = static_cast<int32_t>(j * c / 4 + q);  // word q of column j's chunk
      const __m512i gather = _mm512_load_si512(idx);
      for (; xp < g.tw && xp < in1; xp += step) {
        const int8_t* s = xb + (xp - g.pl) * c;
        const __m512i a = _mm512_maskz_loadu_epi32(ma, s), bb = _mm512_maskz_loadu_epi32(mb, s + 64);
        const __m512i z = _mm512_shuffle_epi8(_mm512_permutex2var_epi32(a, gather, bb), bytes);
        _mm512_storeu_si512(tb + xp * 64, _mm512_xor_si512(z, flip));
      }
    } else {
      for (; xp < g.tw && xp < in1; xp += step) {
        const int8_t* s = xb + (xp - g.pl) * c;
        __m512i z = _mm512_castsi128_si512(_mm_maskz_loadu_epi8(m, s));
        z = _mm512_inserti32x4(z, _mm_maskz_loadu_epi8(m, s + c), 1);
        z = _mm512_inserti32x4(z, _mm_maskz_loadu_epi8(m, s + 2 * c), 2);
        put(xp, _mm512_inserti32x4(z, _mm_maskz_loadu_epi8(m, s + 3 * c), 3));
      }
    }
    for (; xp < g.tw; xp += step) {
      const int64_t ix = xp - g.pl;
      __m512i z = _mm512_castsi128_si512(chunk(ix));
      z = _mm512_inserti32x4(z, chunk(ix + 1), 1);
      z = _mm512_inserti32x4(z, chunk(ix + 2), 2);
      put(xp, _mm512_inserti32x4(z, chunk(ix + 3), 3));
    }
  }
}

struct Epilogue {
  __m512i bias;
  __m512 sc, lo, hi;
  __m512i zy;
  __mmask16 store;
};

// Requantizes 16 channels of one pixel (sums that start at the bias) and stores them.
__attribute__((always_inline)) inline void finish(const Epilogue& e, __m512i acc, int8_t* y) {
  const __mmask16 all = 0xFFFF;
  __m512 f = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, acc), e.sc);
  f = _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, f, e.lo), e.hi);  // clamp before converting: no int32 overflow
  const __m512i q = _mm512_add_epi32(_mm512_maskz_cvtps_epi32(all, f), e.zy);  // round to nearest even
  _mm_mask_storeu_epi8(y, e.store, _mm512_maskz_cvtsepi32_epi8(all, q));
}

// The last channel block of a layer whose last rem = c % 16 channels are at most 8 (BlazeFace's 24-channel
// layers), two pixels at a time: after pair_quads, the upper 8 lanes of quad column xp hold the lower 8 of
// column xp + sw, the next pixel's window, so one vpdpbusd of the weights repeated in both halves adds 4 taps
// of rem channels of two pixels. Half the multiply-adds and requantizations of that block.
void pair_quads(uint8_t* t, const Rows& g, int64_t sw, int64_t step) {
  for (int64_t xp = 0; xp + sw < g.tw; xp += step)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(t + xp * 64 + 32), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t + (xp + sw) * 64)));
}

// Requantizes rem channels of two pixels (lanes 0-7: the first, 8-15: the second; sums that start at the
// bias) and stores them at y and y + c.
__attribute__((always_inline)) inline void finish_pair(const Epilogue& e, __m512i acc, int8_t* y, int64_t c) {
  const __mmask16 all = 0xFFFF;
  __m512 f = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, acc), e.sc);
  f = _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, f, e.lo), e.hi);
  const __m128i q = _mm512_maskz_cvtsepi32_epi8(all, _mm512_add_epi32(_mm512_maskz_cvtps_epi32(all, f), e.zy));
  _mm_mask_storeu_epi8(y, e.store, q);
  _mm_mask_storeu_epi8(y + c - 8, static_cast<__mmask16>(e.store << 8), q);  // bytes 8.. land at y + c
}

// Output row oy, channel block b, from the kh quad rows `rows` (already offset to block b): tiles of P
// accumulators, KH x G weight vectors in registers (KH = 0: kh from the layer, weights read per use). An
// accumulator holds one pixel, or with PAIR two (the last block of at most 8 channels, after pair_quads: lanes
// 0-7 the first pixel, 8-15 the next, the weights and requantization repeated in both halves). A row shorter than
// a tile goes one accumulator at a time; the last tile (and with PAIR the last pair) of a longer one ends at the
// row's end and overlaps the one before it (writing the same values again), so every tile has constant offsets.
template <int KH, int G, int P, bool PAIR>
void out_row(const QDwView& l, const Rows& g, const uint8_t* const* rows, int64_t b, int8_t* yrow) {
  const int8_t* wb = l.packed + b * l.kh * G * 64;
  const int64_t c0 = b * 16, kh = KH ? KH : l.kh, sw64 = l.sw * 64, px = PAIR ? 2 : 1;
  // with PAIR, lanes 0-7 again in 8-15 (the full-mask maskz form: see make_quads)
  auto wide = [](__m512i v) { return PAIR ? _mm512_maskz_shuffle_i64x2(0xFF, v, v, 0x44) : v; };
  Epilogue e;
  e.bias = wide(_mm512_loadu_si512(l.bias_adj + c0));
  e.sc = _mm512_castsi512_ps(wide(_mm512_castps_si512(_mm512_loadu_ps(l.scale + c0))));
  e.lo = _mm512_set1_ps(static_cast<float>(l.lo - l.zy));
  e.hi = _mm512_set1_ps(static_cast<float>(l.hi - l.zy));
  e.zy = _mm512_set1_epi32(l.zy);
  e.store = static_cast<__mmask16>((1u << min64(16, l.c - c0)) - 1u);
  auto store = [&](__m512i acc, int64_t ox) __attribute__((always_inline)) {
    if (PAIR) finish_pair(e, acc, yrow + ox * l.c + c0, l.c);
    else finish(e, acc, yrow + ox * l.c + c0);
  };
  __m512i w[KH ? KH * G : 1];
  if (KH) {
#pragma GCC unroll 16
    for (int i = 0; i < KH * G; ++i) w[i] = wide(_mm512_loadu_si512(wb + i * 64));
  }
  if (g.ow < P * px) {
    for (int64_t ox1 = 0; ox1 < g.ow; ox1 += px) {
      const int64_t ox = ox1 + px > g.ow ? g.ow - px : ox1;
      __m512i acc = e.bias;
      for (int64_t ky = 0; ky < kh; ++ky)
        for (int q = 0; q < G; ++q)
          acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(rows[ky] + ox * sw64 + q * 256), wide(_mm512_loadu_si512(wb + (ky * G + q) * 64)));
      store(acc, ox);
    }
    return;
  }
  for (int64_t ox0 = 0; ox0 < g.ow; ox0 += P * px) {
    if (ox0 + P * px > g.ow) ox0 = g.ow - P * px;
    const int64_t base = ox0 * sw64;
    __m512i acc[P];
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) acc[p] = e.bias;
#pragma GCC unroll 8
    for (int64_t ky = 0; ky < kh; ++ky) {
      const uint8_t* r = rows[ky] + base;
#pragma GCC unroll 2
      for (int q = 0; q < G; ++q) {
        const __m512i wv = KH ? w[ky * G + q] : wide(_mm512_loadu_si512(wb + (ky * G + q) * 64));
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p) acc[p] = _mm512_dpbusd_epi32(acc[p], _mm512_loadu_si512(r + p * px * sw64 + q * 256), wv);
      }
    }
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) store(acc[p], ox0 + p * px);
  }
}

}  // namespace

void qdw_vnni_rows(const QDwView& l, const int8_t* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int8_t* y, int64_t ow, int64_t oy0,
                   int64_t oy1, int8_t* work) {
  const Rows g{ih, iw, pt, pl, ow, (ow - 1) * l.sw + 4 * (l.groups - 1) + 1};
  const int64_t brow = g.tw * 64;  // bytes of one row of quads of one channel block
  // channel blocks in groups whose kh + 1 quad rows fit in about 32 KB (L1), each group over all the rows: with
  // every block at once, BlazeFace-256's 128 x 128 x 24 layers kept 4 x 16.6 KB of quads, more than L1 holds
  const int64_t fit = (32 * 1024) / ((l.kh + 1) * brow), per = fit < 1 ? 1 : min64(l.blocks, fit);
  // the last block two pixels at a time when it holds at most 8 channels (pair_quads)
  const int64_t last = l.blocks - 1, step = 4 % l.sw == 0 ? l.sw : 1;
  const bool paired = l.c - 16 * last <= 8 && ow >= 2;
  for (int64_t b0 = 0; b0 < l.blocks; b0 += per) {
    const int64_t b1 = min64(l.blocks, b0 + per), trow = (b1 - b0) * brow;
    uint8_t* pad = reinterpret_cast<uint8_t*>(work);
    uint8_t* ring = pad + trow;
    make_quads(l, g, nullptr, pad, b0, b1);
    int64_t held[16];  // the input row in each ring slot (kh <= 16)
    for (int64_t k = 0; k < l.kh; ++k) held[k] = -1;
    const uint8_t* rows[16];
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      for (int64_t ky = 0; ky < l.kh; ++ky) {
        const int64_t iy = oy * l.sh - pt + ky;
        if (iy < 0 || iy >= ih) {
          rows[ky] = pad;
          continue;
        }
        const int64_t s = iy % l.kh;  // kh consecutive rows land in kh different slots
        uint8_t* t = ring + s * trow;
        if (held[s] != iy) {
          make_quads(l, g, x + iy * iw * l.c, t, b0, b1);
          if (paired && last < b1) pair_quads(t + (last - b0) * brow, g, l.sw, step);
          held[s] = iy;
        }
        rows[ky] = t;
      }
      int8_t* yrow = y + oy * ow * l.c;
      for (int64_t b = b0; b < b1; ++b) {
        const uint8_t* rb[16];
        for (int64_t ky = 0; ky < l.kh; ++ky) rb[ky] = rows[ky] + (b - b0) * brow;
        if (paired && b == last) {
          if (l.kh == 3 && l.groups == 1) out_row<3, 1, 6, true>(l, g, rb, b, yrow);
          else if (l.kh == 5 && l.groups == 2) out_row<5, 2, 4, true>(l, g, rb, b, yrow);
          else if (l.groups == 1) out_row<0, 1, 4, true>(l, g, rb, b, yrow);
          else out_row<0, 2, 4, true>(l, g, rb, b, yrow);
        } else if (l.kh == 3 && l.groups == 1) out_row<3, 1, 12, false>(l, g, rb, b, yrow);
        else if (l.kh == 5 && l.groups == 2) out_row<5, 2, 8, false>(l, g, rb, b, yrow);
        else if (l.groups == 1) out_row<0, 1, 8, false>(l, g, rb, b, yrow);
        else out_row<0, 2, 8, false>(l, g, rb, b, yrow);
      }
    }
  }
}

}  // namespace ec
