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
inline __m512 scalef16(__m512 a, __m512 b) { return _mm512_mask_scalef_ps(a, 0xFFFF, a, b); }
inline __m512 rcp16(__m512 a) { return _mm512_mask_rcp14_ps(a, 0xFFFF, a); }
inline __m512 round16(__m512 a) { return _mm512_mask_roundscale_ps(a, 0xFFFF, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

// 1 / (1 + e^-x) for 16 lanes: e^t by range reduction t = n ln2 + r (|r| <= ln2/2), the degree-6 Taylor polynomial
// of e^r (as exp_approx in op.h), times 2^n with vscalefps (no exponent arithmetic), and the reciprocal by
// vrcp14ps plus one Newton step (relative error ~2^-28, below float rounding).
inline __m512 sigmoid16(__m512 x) {
  __m512 t = _mm512_sub_ps(_mm512_setzero_ps(), x);
  t = min16(max16(t, _mm512_set1_ps(-87.33f)), _mm512_set1_ps(88.72f));
  const __m512 n = round16(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)));
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), t);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.f / 720.f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  const __m512 d = _mm512_add_ps(scalef16(p, n), _mm512_set1_ps(1.f));  // 1 + e^-x, in [1, 3.4e38]
  const __m512 y0 = rcp16(d);
  return _mm512_fmadd_ps(_mm512_fnmadd_ps(d, y0, _mm512_set1_ps(1.f)), y0, y0);
}

template <bool kTimesX>
void apply(float* p, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {  // two vectors per step: the chain is long, give the core two to overlap
    const __m512 a = _mm512_loadu_ps(p + i), b = _mm512_loadu_ps(p + i + 16);
    __m512 sa = sigmoid16(a), sb = sigmoid16(b);
    if (kTimesX) {
      sa = _mm512_mul_ps(sa, a);
      sb = _mm512_mul_ps(sb, b);
    }
    _mm512_storeu_ps(p + i, sa);
    _mm512_storeu_ps(p + i + 16, sb);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 a = _mm512_maskz_loadu_ps(m, p + i);
    __m512 s = sigmoid16(a);
    if (kTimesX) s = _mm512_mul_ps(s, a);
    _mm512_mask_storeu_ps(p + i, m, s);
  }
}

}  // namespace

void sigmoid_avx512(float* p, size_t n) { apply<false>(p, n); }
void silu_avx512(float* p, size_t n) { apply<true>(p, n); }

}  // namespace ec
