// int8 pointwise (1x1) convolution as a GEMM with per-output-channel requantization, for CPUs with
// AVX-512 VNNI (vpdpbusd: 64 int8 multiply-adds per instruction). XNNPACK's 2022 x86 int8 kernels predate
// VNNI; elsewhere the engine keeps XNNPACK's qc8 convolution.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "large_alloc.h"

namespace ec {

// True when this CPU runs qgemm_vnni (x86-64 with AVX-512 F/BW/VL and VNNI), it was compiled in and the
// switch (kernel_switches.h) is on.
bool qgemm_vnni_available();

// Weights and requantization of one layer: y[p][n] = clamp(round(scale[n] * (sum_k (x[p][k] - zx) w[n][k]
// + bias[n])) + zy, lo, hi), with x, w, y int8 and bias int32 (in units of x_scale * w_scale[n]).
struct QGemmLayer {
  int64_t k = 0, n = 0;           // input and output channels
  LargeVector<int8_t> packed;     // [ceil(n/16)][ceil(k/4)][16][4]: 16 outputs x 4 inputs per 64 bytes (huge pages)
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
  // n = 8, 24 or 40 (n % 16 == 8): the weights again for two pixels side by side, whose 2n outputs fill
  // 2n / 16 whole 16-lane blocks (lane j of block b: output channel (16 b + j) mod n; the first pixel's in
  // lanes below n, the second's above): BlazeFace's 24-channel layers use 3 blocks per 2 pixels, not 4.
  // [2n/16][ceil(k/4)][16][4]; empty for other n. pair_bias_adj and pair_scale: [2n] the same way.
  LargeVector<int8_t> pair_packed;
  std::vector<int32_t> pair_bias_adj;
  std::vector<float> pair_scale;
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
  const int8_t* pair_packed;  // nullptr: no pixel-pair form
  const int32_t* pair_bias_adj;
  const float* pair_scale;
  float* yf;         // non-null: float output [P][n], sum * scale + yb (qgemm_vnni_f32); y unused
  const float* yb;   // with yf: float bias [ceil(n/16)*16]
};

// Packs OIHW (or [n][k]) int8 weights `w` with their bias (nullptr = 0) and scales.
QGemmLayer qgemm_pack(const int8_t* w, int64_t n, int64_t k, const int32_t* bias, int32_t zx, const float* scale, int32_t zy, int8_t lo,
                      int8_t hi);

// Rows [p0, p1) of y [P][n] from x [P][k] (row strides k and n). With l.add, the residual r [P][cr]
// (cr <= n) is added as QGemmLayer says; y may be r when cr == n. Needs qgemm_vnni_available().
void qgemm_vnni(const QGemmLayer& l, const int8_t* x, int8_t* y, int64_t p0, int64_t p1, const int8_t* r = nullptr, int64_t cr = 0);

// Rows [p0, p1) of float y [P][n] = sum_k (x[p][k] - zx) w[n][k] * scale[n] + bias[n]: an int8 convolution
// whose output is read as float (a detection head), for a layer packed without bias and with scale = x_scale *
// w_scale[n] (zy, lo, hi and the residual unused); the float bias [ceil(n/16)*16] is added as it is, as a QDQ
// graph's float Conv adds it (an int32 bias would round it to units of x_scale * w_scale). The sum is exact (in
// int32), so y is within one rounding of each product of the float convolution of the dequantized values.
// Needs qgemm_vnni_available().
void qgemm_vnni_f32(const QGemmLayer& l, const int8_t* x, float* y, const float* bias, int64_t p0, int64_t p1);

}  // namespace ec

namespace ec {

// int8 depthwise convolution (one kh x kw filter per channel, kw <= 8, any stride, no dilation) on VNNI:
// vpdpbusd multiplies 4 bytes per 32-bit lane, so each lane holds one channel and 4 horizontal taps of its
// window. A padded input row is rearranged once into "quads" (for every column, each channel's 4 consecutive
// values side by side) and read by the kh output rows that use it: a 5x5 window is 10 instructions per 16
// channels of a pixel, a 3x3 window 3. y[oy][ox][c] = clamp(round(scale[c] * (sum (x - zx) w + bias[c])) + zy,
// lo, hi), exactly as XNNPACK's int8 depthwise convolution; padding holds zx (a real 0).
struct QDwLayer {
  int64_t c = 0, blocks = 0;      // channels, ceil(c / 16)
  int64_t kh = 0, kw = 0, sh = 1, sw = 1, groups = 1;  // groups = ceil(kw / 4) quads per window row
  std::vector<int8_t> packed;     // [blocks][kh][groups][16][4]: taps kx = 4g .. 4g+3 (0 beyond kw) of 16 channels
  std::vector<int32_t> bias_adj;  // [blocks*16]: bias[c] - (zx + 128) * sum of c's weights (inputs go in as x + 128)
  std::vector<float> scale;       // [blocks*16]: x_scale * w_scale[c] / y_scale
  int32_t zy = 0;
  int8_t zx = 0, lo = -128, hi = 127;
};

// Plain pointers into a QDwLayer for the AVX-512 translation unit.
struct QDwView {
  const int8_t* packed;
  const int32_t* bias_adj;
  const float* scale;
  int64_t c, blocks, kh, kw, sh, sw, groups;
  int32_t zy;
  int8_t zx, lo, hi;
};

// Packs depthwise weights w [c][1][kh][kw] (ONNX, group = c) with their bias (nullptr = 0) and scales.
QDwLayer qdw_pack(const int8_t* w, int64_t c, int64_t kh, int64_t kw, int64_t sh, int64_t sw, const int32_t* bias, int32_t zx,
                  const float* scale, int32_t zy, int8_t lo, int8_t hi);

// Scratch bytes qdw_vnni needs for output rows `ow` wide (kh + 1 rows of quads: the ring and a row of padding).
size_t qdw_work_bytes(const QDwLayer& l, int64_t ow);

// Output rows [oy0, oy1) of one image: y [oh][ow][c] from x [ih][iw][c], with pt rows and pl columns of
// padding before the input (and as many after it as the output size implies). `work`: qdw_work_bytes(l, ow)
// bytes, 64-byte aligned, private to the calling thread. Needs qgemm_vnni_available().
void qdw_vnni(const QDwLayer& l, const int8_t* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int8_t* y, int64_t ow, int64_t oy0,
              int64_t oy1, int8_t* work);

// int8 convolution (group 1, no dilation, any window and stride) read straight from the input rows, without
// im2col patches: in NHWC a window row of kw pixels of c channels is one contiguous run of kw*c bytes, so its
// quads (4 bytes: one vpdpbusd operand, broadcast to the 16 output lanes) are read in place. The rows a band of
// output rows needs are first copied, padded and made unsigned (x + 128; zx + 128 outside the input), into a
// buffer; each pixel then costs kh * ceil(kw*c/4) multiply-add instructions per 16 output channels. Stems
// (c = 3: 9 of a 3x3 window's 12 bytes used) gain most: their im2col patches cost as much as their products.
// Requantization as QGemmLayer's (bit-equal to the im2col path on the same layer).
struct QDirectLayer {
  QGemmLayer g;  // bias_adj, scale, zy, lo, hi as for the GEMM over k = kh*kw*c; packed [ceil(n/16)][kh][groups][16][4]
  int64_t c = 0, kh = 0, kw = 0, sh = 1, sw = 1, groups = 0;  // groups = ceil(kw*c / 4) quads per window row
  int8_t zx = 0;
};

// Plain pointers into a QDirectLayer for the AVX-512 translation unit.
struct QDirectView {
  const int8_t* packed;
  const int32_t* bias_adj;
  const float* scale;
  int64_t n, c, kh, kw, sh, sw, groups;
  int32_t zy;
  int8_t zx, lo, hi;
};

// Packs OHWI int8 weights w [n][kh][kw][c] with their bias (nullptr = 0) and requantization scales.
QDirectLayer qdirect_pack(const int8_t* w, int64_t n, int64_t c, int64_t kh, int64_t kw, int64_t sh, int64_t sw, const int32_t* bias, int32_t zx,
                          const float* scale, int32_t zy, int8_t lo, int8_t hi);

// Bytes of one padded input row for output rows `ow` wide (the window's reach, plus 4 for the last quad's read).
int64_t qdirect_pitch(const QDirectLayer& l, int64_t ow);
// Scratch bytes qdirect_vnni needs for `rows` output rows `ow` wide.
size_t qdirect_work_bytes(const QDirectLayer& l, int64_t ow, int64_t rows);

// Output rows [oy0, oy1) of one image: y [oh][ow][n] from x [ih][iw][c], with pt rows and pl columns of padding
// before the input (zx; as many after it as the output size implies). `work`: qdirect_work_bytes(l, ow,
// oy1 - oy0) bytes private to the calling thread. Needs qgemm_vnni_available().
void qdirect_vnni(const QDirectLayer& l, const int8_t* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int8_t* y, int64_t ow, int64_t oy0,
                  int64_t oy1, uint8_t* work);

}  // namespace ec
