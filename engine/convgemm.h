// fp32 dense convolution as a blocked GEMM on NHWC data, for layers whose weights are large next to their
// output: the deep layers of ResNet-18 (3x3, 512 channels, 7x7 pixels: 9.4 MB of weights for 49 pixels), the
// stride-2 3x3 layers of YOLO-shaped detectors, MobileNetV2's last 1x1 layers. XNNPACK's indirect GEMM walks
// the output in tiles of 7 pixels and streams all of an operator's packed weights for each tile, from L3 once
// they exceed L2; and its threads split the pixel tiles, so each thread streams all of them. Here:
//   - the weights are packed in panels of nr output channels, [panel][k][nr], k = (ky, kx, c) (nr = 32 for
//     AVX-512, 16 for NEON);
//   - the reduction is cut into blocks of at most 512 (one window position of a 512-channel input); for each
//     block, the block's slice of the input is gathered once (im2col of up to 252 pixels) and every panel's
//     slice of weights (64 KB) is read once and used for every 7-pixel tile while it is in L1/L2;
//   - threads take contiguous ranges of panels when there are few pixels, so each weight is read by one thread.
// A 7-pixel x 32-channel tile keeps 14 accumulators in the 32 AVX-512 registers (7 broadcasts and 2 weight
// loads per 14 multiply-adds); on aarch64 a 6-pixel x 16-channel tile keeps 24 in the 32 NEON registers (the
// Jetsons' Cortex-A57 and A78AE). Bias, then clamping to [lo, hi] (Relu/Clip) and the activation (SiLU,
// HardSwish) on the accumulators of the last block, before they are stored. x86-64: one
// file built for AVX-512 F, used only when the CPU has it (checked at run time); other x86 CPUs keep XNNPACK.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "act.h"
#include "large_alloc.h"

namespace ec {

struct ConvGemmLayer {
  int64_t c = 0, m = 0, mpad = 0;  // input channels, output channels, m rounded up to nr
  int64_t nr = 32;                 // output channels per panel (conv_gemm_nr)
  int64_t kh = 0, kw = 0, sh = 1, sw = 1;
  int64_t k = 0;            // kh * kw * c: the reduction length
  LargeVector<float> w;     // [mpad / nr][k][nr], k in (ky, kx, c) order, zero-padded channels (huge pages)
  const float* shared = nullptr;  // when set, the weights (same layout) live there instead, w empty: weights()
  std::vector<float> bias;  // [mpad], zero-padded
  float lo = -INFINITY, hi = INFINITY;
  KernelAct act = KernelAct::none;  // set after packing (conv_gemm_fuses_act)
  const float* weights() const { return shared ? shared : w.data(); }
};

// Plain pointers into a ConvGemmLayer for the AVX-512 translation unit (which must not instantiate library code).
struct ConvGemmView {
  const float* w;
  const float* bias;
  int64_t c, m, mpad, kh, kw, sh, sw, k, nr;
  float lo, hi;
  KernelAct act;
};

// One image's geometry: x [ih][iw][c] with pt rows and pl columns of zero padding before it; y [oh][ow][m], or
// [m][oh][ow] when nchw (only for layers whose reduction is one block: conv_gemm_kc(l) == l.k).
struct ConvGemmImage {
  const float* x;
  int64_t ih, iw, pt, pl;
  float* y;
  int64_t oh, ow;
  bool nchw = false;
};

// True when this CPU runs the kernel (x86-64 with AVX-512 F, or aarch64; compiled in).
bool conv_gemm_available();
// True when the kernel applies ConvGemmLayer::act in its registers (AVX-512). The NEON kernel applies it too,
// but by a plain loop over each stored tile: there the caller's vector loop (Activation::apply) is faster.
bool conv_gemm_fuses_act();
// Output channels per weight panel on this CPU: 32 (AVX-512), 16 (NEON).
int64_t conv_gemm_nr();

// Packs ONNX weights [m][c][kh][kw] (OIHW) and an optional bias [m]; outputs are clamped to [lo, hi].
ConvGemmLayer conv_gemm_pack(const float* w, int64_t m, int64_t c, int64_t kh, int64_t kw, int64_t sh, int64_t sw, const float* bias,
                             float lo, float hi);

// Reduction values per block (at most 512, all of k when k <= 1024) and output pixels per block (a multiple of
// 7, at most 252, the block's gathered input within 256 KB).
int64_t conv_gemm_kc(const ConvGemmLayer& l);
int64_t conv_gemm_pixels(const ConvGemmLayer& l);
// Floats of work space one call of conv_gemm_run needs: conv_gemm_pixels * (conv_gemm_kc + nr) (the gathered
// input, and one panel's tiles before they are stored as NCHW rows).
int64_t conv_gemm_work_floats(const ConvGemmLayer& l);

// Output pixels [p0, p1) (p = oy * ow + ox, p1 - p0 <= conv_gemm_pixels) of panels [n0, n1) (output channels
// [nr n0, min(nr n1, m))) of one image. `work`: conv_gemm_work_floats floats, unused by 1x1 stride-1 layers
// without padding (their input rows are read in place). Needs conv_gemm_available().
void conv_gemm_run(const ConvGemmLayer& l, const ConvGemmImage& g, int64_t p0, int64_t p1, int64_t n0, int64_t n1, float* work);

// A 1x1 stride-1 convolution whose output goes to NCHW (a detector's raw heads: 255 channels of 40 x 40) as
// Y = W X^T: rows of 8 output channels times 32 pixels, so each output channel's row of pixels is stored as it
// is, contiguous, with no transposition of the output. Per block of 32 pixels their input rows are transposed
// once into [k][32] (in L1) and every group of 8 output channels runs over it: 2 loads and 8 broadcasts per 16
// multiply-adds. AVX-512 F only (x86-64); the other kernels stay elsewhere.
struct RowGemmLayer {
  int64_t m = 0, k = 0, groups = 0;  // output channels, input channels, ceil(m / 8)
  LargeVector<float> w;              // [groups][k][8], zero rows past m
  std::vector<float> bias;           // [groups * 8]
  float lo = -INFINITY, hi = INFINITY;
};

// Plain pointers into a RowGemmLayer for the AVX-512 translation unit.
struct RowGemmView {
  const float* w;
  const float* bias;
  int64_t m, k, groups;
  float lo, hi;
};

// True when this CPU runs row_gemm_run (x86-64 with AVX-512 F, compiled in).
bool row_gemm_available();
// Packs ONNX weights [m][k][1][1] and an optional bias [m]; outputs are clamped to [lo, hi].
RowGemmLayer row_gemm_pack(const float* w, int64_t m, int64_t k, const float* bias, float lo, float hi);
// Floats of work space one call of row_gemm_run needs (the block's transposed input).
int64_t row_gemm_work_floats(const RowGemmLayer& l);
// Pixels [p0, p1) (p1 - p0 <= 32) of one image: y [m][pixels] from x [pixels][k]. Needs row_gemm_available().
void row_gemm_run(const RowGemmLayer& l, const float* x, int64_t pixels, int64_t p0, int64_t p1, float* y, float* work);

}  // namespace ec
