// The blocked convolution GEMM (convgemm.h) on 128-bit NEON registers (aarch64): tiles of R <= 6 output pixels x
// 16 output channels (panels of 16), 4R accumulators, 4 weight vectors and a broadcast input value in the 32
// registers; the loops are convgemm_driver.h's. The last panel of a layer whose channel count is not a multiple
// of 16 goes through a 16-wide copy on the stack (NEON has no masked loads or stores).
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "convgemm.h"
#include "convgemm_driver.h"

namespace ec {
namespace {

// y[r][0..cols) (row stride ldy) of R pixels: starts from the bias (first) or from y, adds a [R][kc] (row stride
// lda) times b [kc][16], clamps to [lo, hi] when last, then applies act by a plain loop over the stored values;
// asks for pf_lines 64-byte lines from pf meanwhile.
template <int R>
void reg_tile(const float* a, int64_t lda, const float* b, int64_t kc, float* y, int64_t ldy, const float* bias, int64_t cols, bool first, bool last,
              float lo, float hi, KernelAct act, const char* pf, int64_t pf_lines) {
  float32x4_t c[R][4];
  if (first) {
    float32x4_t bv[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) bv[q] = vld1q_f32(bias + 4 * q);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) c[r][q] = bv[q];
  } else {
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      float row[16] = {};
      const float* src = y + r * ldy;
      if (cols < 16) {
        std::memcpy(row, src, static_cast<size_t>(cols) * sizeof(float));
        src = row;
      }
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) c[r][q] = vld1q_f32(src + 4 * q);
    }
  }
  for (int64_t k = 0; k < kc; ++k) {
    if (k < pf_lines) __builtin_prefetch(pf + 64 * k);
    float32x4_t w[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) w[q] = vld1q_f32(b + 16 * k + 4 * q);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const float32x4_t v = vdupq_n_f32(a[r * lda + k]);
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) c[r][q] = vfmaq_f32(c[r][q], v, w[q]);
    }
  }
  if (last) {
    const float32x4_t vlo = vdupq_n_f32(lo), vhi = vdupq_n_f32(hi);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) c[r][q] = vminq_f32(vmaxq_f32(c[r][q], vlo), vhi);
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* dst = y + r * ldy;
    if (cols >= 16) {
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) vst1q_f32(dst + 4 * q, c[r][q]);
    } else {
      float row[16];
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) vst1q_f32(row + 4 * q, c[r][q]);
      std::memcpy(dst, row, static_cast<size_t>(cols) * sizeof(float));
    }
  }
  if (!last || act == KernelAct::none) return;
  for (int r = 0; r < R; ++r) {
    float* dst = y + r * ldy;
    for (int64_t j = 0; j < cols; ++j) {
      const float v = dst[j];
      dst[j] = act == KernelAct::silu ? v / (1.f + std::exp(-v)) : v * std::min(1.f, std::max(0.f, v / 6.f + 0.5f));
    }
  }
}

struct NeonKernel {
  static constexpr int64_t kMR = 6;
  static void tile(int r, const float* a, int64_t lda, const float* b, int64_t kc, float* y, int64_t ldy, const float* bias, int64_t cols, bool first,
                   bool last, float lo, float hi, KernelAct act, const char* pf, int64_t pf_lines) {
    using Fn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, const float*, int64_t, bool, bool, float, float, KernelAct,
                        const char*, int64_t);
    static constexpr Fn kTiles[7] = {nullptr, reg_tile<1>, reg_tile<2>, reg_tile<3>, reg_tile<4>, reg_tile<5>, reg_tile<6>};
    kTiles[r](a, lda, b, kc, y, ldy, bias, cols, first, last, lo, hi, act, pf, pf_lines);
  }
  static void copy(float* d, const float* s, int64_t n) { std::memcpy(d, s, static_cast<size_t>(n) * sizeof(float)); }
  static void zero(float* d, int64_t n) { std::memset(d, 0, static_cast<size_t>(n) * sizeof(float)); }
  // y[j * ldy + i] = s[i * lds + j]: one channel row at a time (NCHW heads only; their GEMM dominates)
  static void store_rows(const float* s, int64_t rows, int64_t cols, int64_t lds, float* y, int64_t ldy) {
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t i = 0; i < rows; ++i) y[j * ldy + i] = s[i * lds + j];
  }
};

}  // namespace

void conv_gemm_block(const ConvGemmView& l, const ConvGemmImage& g, int64_t kc, int64_t p0, int64_t p1, int64_t n0, int64_t n1, float* work) {
  cg_block<NeonKernel>(l, g, kc, p0, p1, n0, n1, work);
}

}  // namespace ec
