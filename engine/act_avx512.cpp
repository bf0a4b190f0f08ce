// Sigmoid and SiLU over float arrays with 16-lane AVX-512 F. Built with those flags in this file only and
// called through act.h when the CPU has them (checked at run time).
#include <immintrin.h>

#include <cstddef>

#include "act.h"

namespace ec {
namespace {

// GCC 12's unmasked forms of these intrinsics pass _mm512_undefined_ps() as the merge source, which its
// -Wmaybe-uninitialized reports (GCC bug 105593); the masked forms with every lane set compute the same.
inline __m512 max16(__m512 a, __m512 b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }
inline __m512 min16(__m512 a, __m512 b) { return _mm512_mask_min_ps(a, 0xFFFF, a, b); }
inline __m512 permute16(__m512i idx, __m512 v) { return _mm512_mask_permutexvar_ps(v, 0xFFFF, idx, v); }
inline __m512i shl16(__m512i a, unsigned n) { return _mm512_mask_slli_epi32(a, 0xFFFF, a, n); }
inline __m512i sar16(__m512i a, unsigned n) { return _mm512_mask_srai_epi32(a, 0xFFFF, a, n); }

// 1 + e^-x for 16 lanes. e^t (t = -x clamped to [-87.33, 88]) as 2^(n/16) e^r: n = round(16 t / ln 2) by the
// 1.5 * 2^23 rounding constant (whose low mantissa bits then hold n), r = t - n ln2/16 (|r| <= ln2/32, in two
// parts), e^r by its degree-3 Taylor polynomial (error r^4/24 < 1e-8), 2^((n mod 16)/16) from a 16-entry table
// by vpermps and 2^(n div 16) added to the exponent bits. Then sigmoid = 1 / d and silu = x / d by one vdivps.
// On Zen 5 (AMD EPYC) this form takes 0.13 ns an element against 0.19 for the degree-6 polynomial with vscalefps
// and vrcp14ps + a Newton step it replaced (102400 floats in L2, a throwaway program): the divider runs beside
// the FMA pipes, which the Newton step and the longer polynomial kept busy.
alignas(64) const float kExp2Sixteenths[16] = {
    1.0f,           1.04427378f, 1.09050773f, 1.13878863f, 1.18920712f, 1.24185781f, 1.29683955f, 1.35425555f,
    1.41421356f,    1.47682615f, 1.54221083f, 1.61049033f, 1.68179283f, 1.75625216f, 1.83400809f, 1.91520656f};

inline __m512 one_plus_exp_neg(__m512 x) {
  __m512 t = _mm512_sub_ps(_mm512_setzero_ps(), x);
  t = min16(max16(t, _mm512_set1_ps(-87.33f)), _mm512_set1_ps(88.0f));  // 88: 2^(n div 16) <= 2^127
  const __m512 magic = _mm512_set1_ps(12582912.f);                         // 1.5 * 2^23
  const __m512 nm = _mm512_fmadd_ps(t, _mm512_set1_ps(16.f * 1.44269504088896341f), magic);
  const __m512 n = _mm512_sub_ps(nm, magic);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f / 16.f), t);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f / 16.f), r);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.f / 6.f), r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  const __m512i bits = _mm512_castps_si512(nm);  // low 22 bits: n mod 2^22, n's low 4 bits the table index
  p = _mm512_mul_ps(p, permute16(bits, _mm512_load_ps(kExp2Sixteenths)));
  const __m512i scale = shl16(sar16(shl16(bits, 10), 14), 23);  // (n div 16) << 23
  return _mm512_add_ps(_mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), scale)), _mm512_set1_ps(1.f));
}

template <bool kTimesX>
void apply(float* p, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {  // two vectors per step: the chain is long, give the core two to overlap
    const __m512 a = _mm512_loadu_ps(p + i), b = _mm512_loadu_ps(p + i + 16);
    const __m512 na = kTimesX ? a : _mm512_set1_ps(1.f), nb = kTimesX ? b : _mm512_set1_ps(1.f);
    _mm512_storeu_ps(p + i, _mm512_div_ps(na, one_plus_exp_neg(a)));
    _mm512_storeu_ps(p + i + 16, _mm512_div_ps(nb, one_plus_exp_neg(b)));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 a = _mm512_maskz_loadu_ps(m, p + i);
    _mm512_mask_storeu_ps(p + i, m, _mm512_div_ps(kTimesX ? a : _mm512_set1_ps(1.f), one_plus_exp_neg(a)));
  }
}

}  // namespace

void sigmoid_avx512(float* p, size_t n) { apply<false>(p, n); }
void silu_avx512(float* p, size_t n) { apply<true>(p, n); }

}  // namespace ec
