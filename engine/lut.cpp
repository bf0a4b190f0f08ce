#include "lut.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace ec {

void lut_int8_scalar(const int8_t* x, const int8_t* table, int8_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = table[static_cast<uint8_t>(x[i] ^ static_cast<int8_t>(0x80))];
}

#if defined(__aarch64__) && defined(__ARM_NEON)
namespace {
// Four 64-byte quarters: tbl answers indices 0..63 of the first (0 elsewhere), each tbx the next 64 (keeping
// lanes outside it). x + 128 as uint8 is x with its top bit flipped.
void lut_int8_neon(const int8_t* x, const int8_t* table, int8_t* y, size_t n) {
  const uint8_t* t = reinterpret_cast<const uint8_t*>(table);
  uint8x16x4_t q[4];
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 4; ++j) q[k].val[j] = vld1q_u8(t + 64 * k + 16 * j);
  const uint8x16_t flip = vdupq_n_u8(0x80), step = vdupq_n_u8(64);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8x16_t u0 = veorq_u8(vld1q_u8(reinterpret_cast<const uint8_t*>(x + i)), flip);
    const uint8x16_t u1 = vsubq_u8(u0, step), u2 = vsubq_u8(u1, step), u3 = vsubq_u8(u2, step);
    uint8x16_t r = vqtbl4q_u8(q[0], u0);
    r = vqtbx4q_u8(r, q[1], u1);
    r = vqtbx4q_u8(r, q[2], u2);
    r = vqtbx4q_u8(r, q[3], u3);
    vst1q_u8(reinterpret_cast<uint8_t*>(y + i), r);
  }
  lut_int8_scalar(x + i, table, y + i, n - i);
}
}  // namespace
#endif

#if defined(EC_HAVE_LUT_VBMI)
namespace {
bool cpu_has_vbmi() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi") &&
                          __builtin_cpu_supports("bmi2");
  return has;
}
}  // namespace
#endif

const char* lut_int8_kernel() {
#if defined(EC_HAVE_LUT_VBMI)
  if (cpu_has_vbmi()) return "avx512vbmi";
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
  return "neon";
#else
  return "scalar";
#endif
}

void lut_int8(const int8_t* x, const int8_t* table, int8_t* y, size_t n) {
#if defined(EC_HAVE_LUT_VBMI)
  if (cpu_has_vbmi()) return lut_int8_vbmi(x, table, y, n);
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
  lut_int8_neon(x, table, y, n);
#else
  lut_int8_scalar(x, table, y, n);
#endif
}

}  // namespace ec
