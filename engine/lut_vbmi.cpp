// AVX-512 VBMI table lookup, built with -mavx512f -mavx512bw -mavx512vbmi and called only when the CPU has them
// (lut.cpp checks). vpermi2b picks from 128 bytes by the low 7 index bits: one for table[0..127], one for
// table[128..255], the index's top bit chooses between them.
#include <immintrin.h>

#include "lut.h"

namespace ec {

void lut_int8_vbmi(const int8_t* x, const int8_t* table, int8_t* y, size_t n) {
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64), t2 = _mm512_loadu_si512(table + 128),
                t3 = _mm512_loadu_si512(table + 192);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  size_t i = 0;
  auto one = [&](__m512i v) {
    const __m512i u = _mm512_xor_si512(v, flip);  // x + 128 as an unsigned index
    const __m512i lo = _mm512_permutex2var_epi8(t0, u, t1);
    const __m512i hi = _mm512_permutex2var_epi8(t2, u, t3);
    return _mm512_mask_blend_epi8(_mm512_movepi8_mask(u), lo, hi);
  };
  for (; i + 64 <= n; i += 64) _mm512_storeu_si512(y + i, one(_mm512_loadu_si512(x + i)));
  if (i < n) {
    const __mmask64 m = _bzhi_u64(~0ULL, static_cast<unsigned>(n - i));
    _mm512_mask_storeu_epi8(y + i, m, one(_mm512_maskz_loadu_epi8(m, x + i)));
  }
}

}  // namespace ec
