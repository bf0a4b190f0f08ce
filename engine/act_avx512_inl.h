// Sigmoid, SiLU and HardSwish on one 16-lane AVX-512 F register, for the files built with -mavx512f only
// (act_avx512.cpp over arrays; convgemm_avx512.cpp on a GEMM tile's accumulators before they are stored).
// Internal linkage: every including file gets its own copy, built for its own instructions.
#pragma once
#include <immintrin.h>

namespace ec {
namespace {

// GCC 12's unmasked forms of these intrinsics pass _mm512_undefined_ps() as the merge source, which its
// -Wmaybe-uninitialized reports (GCC bug 105593); the masked forms with every lane set compute the same.
inline __m512 act_max16(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }
inline __m512 act_min16(__m512 a, __m512 b) { return _mm512_mask_min_ps(a, 0xFFFF, a, b); }
inline __m512 act_permute16(__m512i idx, __m512 v) { return _mm512_mask_permutexvar_ps(v, 0xFFFF, idx, v); }
inline __m512i act_shl16(__m512i a, unsigned n) { return _mm512_mask_slli_epi32(a, 0xFFFF, a, n); }

// 2^(i/16) for i = 0..15
alignas(64) const float kExp2Sixteenths[16] = {
    1.0f,           1.04427378f, 1.09050773f, 1.13878863f, 1.18920712f, 1.24185781f, 1.29683955f, 1.35425555f,
    1.41421356f,    1.47682615f, 1.54221083f, 1.61049033f, 1.68179283f, 1.75625216f, 1.83400809f, 1.91520656f};

// 1 + e^-x for 16 lanes. e^-x (x clamped to [-88, 87.33]) as 2^(n/16) e^-r: n = round(-16 x / ln 2) by the
// 1.5 * 2^23 rounding constant (whose low mantissa bits then hold n), r = x + n ln2/16 (|r| <= ln2/32, in two
// parts), e^-r by its degree-3 Taylor polynomial (error r^4/24 < 1e-8), 2^((n mod 16)/16) from a 16-entry table
// by vpermps and 2^(n div 16) added to the exponent bits ((n << 19) with the low 23 bits cleared). Then
// sigmoid = 1 / d and silu = x / d by one vdivps. On Zen 5 (AMD EPYC) this form took 0.13 ns an element against
// 0.19 for the degree-6 polynomial with vscalefps and vrcp14ps + a Newton step it replaced (102400 floats in L2,
// a throwaway program): the divider runs beside the FMA pipes, which the Newton step and the longer polynomial
// kept busy. On Xeon Emerald Rapids, whose 512-bit divider takes about as long as the rest, folding the
// negation into the constants and the exponent into two integer operations took SiLU from 0.210 to 0.191 ns an
// element (204800 floats); vrcp14ps + a Newton step for every other vector made it 0.247.
inline __m512 one_plus_exp_neg16(__m512 x) {
  x = act_min16(act_max16(x, _mm512_set1_ps(-88.0f)), _mm512_set1_ps(87.33f));  // 88: 2^(n div 16) <= 2^127
  const __m512 magic = _mm512_set1_ps(12582912.f);                               // 1.5 * 2^23
  const __m512 nm = _mm512_fmadd_ps(x, _mm512_set1_ps(-16.f * 1.44269504088896341f), magic);
  const __m512 n = _mm512_sub_ps(nm, magic);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(0.693145751953125f / 16.f), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f / 16.f), r);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(-1.f / 6.f), r, _mm512_set1_ps(0.5f));  // 1 - r + r^2/2 - r^3/6
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(-1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  const __m512i bits = _mm512_castps_si512(nm);  // low 22 bits: n mod 2^22, n's low 4 bits the table index
  p = _mm512_mul_ps(p, act_permute16(bits, _mm512_load_ps(kExp2Sixteenths)));
  const __m512i scale = _mm512_maskz_and_epi32(0xFFFF, act_shl16(bits, 19), _mm512_set1_epi32(static_cast<int>(0xFF800000u)));  // (n div 16) << 23
  return _mm512_add_ps(_mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), scale)), _mm512_set1_ps(1.f));
}

// x / (1 + e^-x), relative error below 1e-6 for x in [-87, 88]
inline __m512 silu16(__m512 x) { return _mm512_div_ps(x, one_plus_exp_neg16(x)); }
// 1 / (1 + e^-x)
inline __m512 sigmoid16(__m512 x) { return _mm512_div_ps(_mm512_set1_ps(1.f), one_plus_exp_neg16(x)); }
// x * min(1, max(0, x / 6 + 1/2)), as op.cpp's loop
inline __m512 hard_swish16(__m512 x) {
  const __m512 g = _mm512_fmadd_ps(x, _mm512_set1_ps(1.f / 6.f), _mm512_set1_ps(0.5f));
  return _mm512_mul_ps(x, act_min16(act_max16(g, _mm512_setzero_ps()), _mm512_set1_ps(1.f)));
}

}  // namespace
}  // namespace ec
