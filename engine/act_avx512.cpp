// Activations over float arrays with 16-lane AVX-512 F (the per-register forms are act_avx512_inl.h's): Sigmoid,
// SiLU, Relu, Clip, HardSigmoid, HardSwish.
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

// f over n floats in place, 16 a step, the tail masked
template <class F>
void each16(float* p, size_t n, F&& f) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(p + i, m, f(_mm512_maskz_loadu_ps(m, p + i)));
  }
}

}  // namespace

// max(v, lo) and min(v, hi) return their second operand when either is NaN: NaN stays NaN through a clip (as
// std::min(std::max(v, lo), hi) keeps it), and relu's max(v, 0) gives 0 (as v > 0 ? v : 0 does).
void clip_avx512(float* p, size_t n, float lo, float hi) {
  const __m512 l = _mm512_set1_ps(lo), h = _mm512_set1_ps(hi);
  each16(p, n, [&](__m512 v) { return act_min16(h, act_max16(l, v)); });
}
void relu_avx512(float* p, size_t n) {
  const __m512 z = _mm512_setzero_ps();
  each16(p, n, [&](__m512 v) { return act_max16(v, z); });
}
void hard_sigmoid_avx512(float* p, size_t n, float alpha, float beta) {
  const __m512 a = _mm512_set1_ps(alpha), b = _mm512_set1_ps(beta), z = _mm512_setzero_ps(), one = _mm512_set1_ps(1.f);
  each16(p, n, [&](__m512 v) { return act_min16(act_max16(_mm512_fmadd_ps(a, v, b), z), one); });
}
void hard_swish_avx512(float* p, size_t n) { each16(p, n, [](__m512 v) { return hard_swish16(v); }); }

void sigmoid_avx512(float* p, size_t n) { apply<false>(p, n); }
void silu_avx512(float* p, size_t n) { apply<true>(p, n); }

}  // namespace ec
