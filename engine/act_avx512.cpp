// Sigmoid and SiLU over float arrays with 16-lane AVX-512 F (the per-register forms are act_avx512_inl.h's).
// Built with those flags in this file only and called through act.h when the CPU has them (checked at run time).
#include <immintrin.h>

#include <cstddef>

#include "act.h"
#include "act_avx512_inl.h"

namespace ec {
namespace {

template <bool kTimesX>
void apply(float* p, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {  // two vectors per step: the chain is long, give the core two to overlap
    const __m512 a = _mm512_loadu_ps(p + i), b = _mm512_loadu_ps(p + i + 16);
    _mm512_storeu_ps(p + i, kTimesX ? silu16(a) : sigmoid16(a));
    _mm512_storeu_ps(p + i + 16, kTimesX ? silu16(b) : sigmoid16(b));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 a = _mm512_maskz_loadu_ps(m, p + i);
    _mm512_mask_storeu_ps(p + i, m, kTimesX ? silu16(a) : sigmoid16(a));
  }
}

}  // namespace

void sigmoid_avx512(float* p, size_t n) { apply<false>(p, n); }
void silu_avx512(float* p, size_t n) { apply<true>(p, n); }

}  // namespace ec
