// int8 pointwise (1x1) convolution as a GEMM with per-output-channel requantization, for CPUs with
// AVX-512 VNNI (vpdpbusd: 64 int8 multiply-adds per instruction). XNNPACK's 2022 x86 int8 kernels predate
// VNNI; elsewhere the engine keeps XNNPACK's qc8 convolution.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ec {

// True when this CPU runs qgemm_vnni (x86-64 with AVX-512 F/BW/VL and VNNI), it was compiled in and the
// switch (kernel_switches.h) is on.
bool qgemm_vnni_available();

// Weights and requantization of one layer: y[p][n] = clamp(round(scale[n] * (sum_k (x[p][k] - zx) w[n][k]
// + bias[n])) + zy, lo, hi), with x, w, y int8 and bias int32 (in units of x_scale * w_scale[n]).
struct QGemmLayer {
  int64_t k = 0, n = 0;           // input and output channels
  std::vector<int8_t> packed;     // [ceil(n/16)][ceil(k/4)][16][4]: 16 outputs x 4 inputs per 64 bytes
  std::vector<int32_t> bias_adj;  // [ceil(n/16)*16]: bias[n] - (zx + 128) * sum_k w[n][k] (inputs go in as x + 128)
  std::vector<float> scale;       // [ceil(n/16)*16]: x_scale * w_scale[n] / y_scale
  int32_t zy = 0;
  int8_t lo = -128, hi = 127;
  // A residual int8 Add fused after the requantization (QLinearAdd of the GEMM's int8 output y and a
  // residual r): out = clamp(round(ka * y + kb * r + off), add_lo, add_hi); r channels beyond its width
  // count as its zero point rz (a channel-zero-padded residual read unpadded).
  bool add = false;
  float ka = 1, kb = 1, off = 0;
  int32_t rz = 0;
  int8_t add_lo = -128, add_hi = 127;
};

// Plain pointers into a QGemmLayer for the AVX-512 translation unit (which must not instantiate library code).
struct QGemmView {
  const int8_t* packed;
  const int32_t* bias_adj;
  const float* scale;
  int64_t k, n;
  int32_t zy;
  int8_t lo, hi;
  const int8_t* r;  // residual [P][cr] or nullptr
  int64_t cr;
  float ka, kb, off;
  int32_t rz;
  int8_t add_lo, add_hi;
};

// Packs OIHW (or [n][k]) int8 weights `w` with their bias (nullptr = 0) and scales.
QGemmLayer qgemm_pack(const int8_t* w, int64_t n, int64_t k, const int32_t* bias, int32_t zx, const float* scale, int32_t zy, int8_t lo,
                      int8_t hi);

// Rows [p0, p1) of y [P][n] from x [P][k] (row strides k and n). With l.add, the residual r [P][cr]
// (cr <= n) is added as QGemmLayer says; y may be r when cr == n. Needs qgemm_vnni_available().
void qgemm_vnni(const QGemmLayer& l, const int8_t* x, int8_t* y, int64_t p0, int64_t p1, const int8_t* r = nullptr, int64_t cr = 0);

}  // namespace ec
