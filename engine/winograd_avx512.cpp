// The Winograd convolutions' per-tile input and output transforms on 16-lane AVX-512 F registers (16 channels
// a step, the last step masked), built with those flags in this file only and called by ops_nhwc.cpp when the
// CPU has them (checked at run time). The arithmetic is winograd.h's, the same as the portable transforms'.
#include <immintrin.h>

#include "winograd.h"

namespace ec {
namespace {

// The lanes of channels [c, c + 16) that are below n.
inline __mmask16 lanes(int64_t c, int64_t n) {
  return n - c >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - c)) - 1);
}

// GCC 12's unmasked max/min pass _mm512_undefined_ps() as the merge source, which its -Wmaybe-uninitialized
// reports (GCC bug 105593); the masked forms with every lane set compute the same. max(a, b) and min(a, b)
// return b when either is NaN: with the bound first, a NaN output stays NaN (as the portable clamp keeps it).
inline __m512 max16(__m512 bound, __m512 v) { return _mm512_mask_max_ps(bound, 0xFFFF, bound, v); }
inline __m512 min16(__m512 bound, __m512 v) { return _mm512_mask_min_ps(bound, 0xFFFF, bound, v); }

// The 1-D steps on registers: winograd.h's arithmetic for F(2,3) (already a few additions), and for F(4,3) in a
// factored form with fused multiply-adds, 14 operations for B^T d (against 18 GCC makes of winograd.h's form) and
// 10 for A^T m.
template <int M>
struct Steps {
  static void in(const __m512* d, int s, __m512* o, int os) { Winograd<M>::in(d, s, o, os); }
  static void out(const __m512* m, int s, __m512* o, int os) { Winograd<M>::out(m, s, o, os); }
};
template <>
struct Steps<4> {
  static void in(const __m512* d, int s, __m512* o, int os) {
    const __m512 d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    const __m512 four = _mm512_set1_ps(4.f), two = _mm512_set1_ps(2.f), m5 = _mm512_set1_ps(-5.f);
    o[0] = _mm512_fmadd_ps(four, d0, _mm512_fmadd_ps(m5, d2, d4));                                      // 4 d0 - 5 d2 + d4
    o[os] = _mm512_fnmadd_ps(four, _mm512_add_ps(d1, d2), _mm512_add_ps(d3, d4));                       // d3 + d4 - 4 (d1 + d2)
    o[2 * os] = _mm512_fmadd_ps(four, _mm512_sub_ps(d1, d2), _mm512_sub_ps(d4, d3));                    // d4 - d3 + 4 (d1 - d2)
    const __m512 t = _mm512_sub_ps(d4, d2), u = _mm512_sub_ps(d3, d1);
    o[3 * os] = _mm512_fmadd_ps(two, u, t);                                                             // d4 - d2 + 2 (d3 - d1)
    o[4 * os] = _mm512_fnmadd_ps(two, u, t);                                                            // d4 - d2 - 2 (d3 - d1)
    o[5 * os] = _mm512_fmadd_ps(four, d1, _mm512_fmadd_ps(m5, d3, d5));                                 // 4 d1 - 5 d3 + d5
  }
  static void out(const __m512* m, int s, __m512* o, int os) {
    const __m512 m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
    const __m512 a = _mm512_add_ps(m1, m2), b = _mm512_sub_ps(m1, m2), c = _mm512_add_ps(m3, m4), e = _mm512_sub_ps(m3, m4);
    o[0] = _mm512_add_ps(_mm512_add_ps(m0, a), c);                                    // m0 + m1 + m2 + m3 + m4
    o[os] = _mm512_fmadd_ps(_mm512_set1_ps(2.f), e, b);                               // m1 - m2 + 2 (m3 - m4)
    o[2 * os] = _mm512_fmadd_ps(_mm512_set1_ps(4.f), c, a);                           // m1 + m2 + 4 (m3 + m4)
    o[3 * os] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.f), e, b), m5);        // m1 - m2 + 8 (m3 - m4) + m5
  }
};

}  // namespace

template <int M>
void winograd_input_avx512(const float* const* d, int64_t C, float* v, int64_t ps) {
  constexpr int kA = Winograd<M>::kA, kP = kA * kA;
  for (int64_t c = 0; c < C; c += 16) {
    const __mmask16 k = lanes(c, C);
    __m512 a[kP], b[kP], e[kP];
    for (int p = 0; p < kP; ++p) a[p] = _mm512_maskz_loadu_ps(k, d[p] + c);
    for (int q = 0; q < kA; ++q) Steps<M>::in(a + q, kA, b + q, kA);              // B^T d: columns
    for (int r = 0; r < kA; ++r) Steps<M>::in(b + r * kA, 1, e + r * kA, 1);  // (B^T d) B: rows
    for (int p = 0; p < kP; ++p) _mm512_mask_storeu_ps(v + p * ps + c, k, e[p]);
  }
}

template <int M>
void winograd_output_avx512(const float* m, int64_t ps, int64_t K, const float* bias, float lo, float hi, float* const* o) {
  constexpr int kA = Winograd<M>::kA, kP = kA * kA;
  const __m512 lo16 = _mm512_set1_ps(lo), hi16 = _mm512_set1_ps(hi);
  for (int64_t c = 0; c < K; c += 16) {
    const __mmask16 k = lanes(c, K);
    __m512 a[kP], b[M * kA], e[M * M];
    for (int p = 0; p < kP; ++p) a[p] = _mm512_maskz_loadu_ps(k, m + p * ps + c);
    for (int q = 0; q < kA; ++q) Steps<M>::out(a + q, kA, b + q, kA);         // A^T m: columns
    for (int r = 0; r < M; ++r) Steps<M>::out(b + r * kA, 1, e + r * M, 1);  // (A^T m) A: rows
    const __m512 bk = _mm512_maskz_loadu_ps(k, bias + c);
    for (int q = 0; q < M * M; ++q) _mm512_mask_storeu_ps(o[q] + c, k, min16(hi16, max16(lo16, _mm512_add_ps(e[q], bk))));
  }
}

template void winograd_input_avx512<2>(const float* const*, int64_t, float*, int64_t);
template void winograd_input_avx512<4>(const float* const*, int64_t, float*, int64_t);
template void winograd_output_avx512<2>(const float*, int64_t, int64_t, const float*, float, float, float* const*);
template void winograd_output_avx512<4>(const float*, int64_t, int64_t, const float*, float, float, float* const*);

}  // namespace ec
