// Direct float convolution for layers with few input channels, such as a CNN's first layer on 3 colour
// channels, on NHWC data. XNNPACK runs those as an indirect GEMM whose inner loop covers one pixel's channels
// (3 multiply-adds per pointer it follows): ResNet-18's 7x7 stem reached 49 GMAC/s of the core's 109. This
// kernel keeps up to 6 output pixels x 64 output channels in AVX-512 registers and walks the kernel window
// over a zero-padded copy of the input, whose rows hold a window row's kw x cin values contiguously: per input
// value one broadcast, per weight vector one load shared by the 6 pixels. One file built for AVX-512 F, used
// only when the CPU has it (checked at run time); elsewhere the layer stays on XNNPACK.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "act.h"

namespace ec {

struct StemConvLayer {
  int64_t cin = 0, m = 0, mpad = 0;  // input channels, output channels, m rounded up to 16
  int64_t kh = 0, kw = 0, sh = 1, sw = 1;
  std::vector<float> w;     // [kh][kw][cin][mpad], zero-padded channels
  std::vector<float> bias;  // [mpad], zero-padded
  float lo = -INFINITY, hi = INFINITY;
  KernelAct act = KernelAct::none;  // applied after the clamp, in registers; set after packing
};

// Plain pointers into a StemConvLayer for the AVX-512 translation unit (which must not instantiate library code).
struct StemConvView {
  const float* w;
  const float* bias;
  int64_t cin, m, mpad, kh, kw, sh, sw;
  float lo, hi;
  KernelAct act;
};

// True when this CPU runs the kernel (x86-64 with AVX-512 F, compiled in).
bool stem_conv_available();

// Packs ONNX weights [m][cin][kh][kw] (OIHW) and an optional bias [m]; outputs are clamped to [lo, hi].
StemConvLayer stem_conv_pack(const float* w, int64_t m, int64_t cin, int64_t kh, int64_t kw, int64_t sh, int64_t sw, const float* bias,
                             float lo, float hi);

// Output rows [oy0, oy1) of one image: y [oh][ow][m] from x [ih][iw][cin] (or [cin][ih][iw] when nchw: a model's
// input read as it is given, without transposing it first), with pt rows and pl columns of zero padding before
// the input (and as many after it as the output size implies). Needs stem_conv_available().
void stem_conv_run(const StemConvLayer& l, const float* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, float* y, int64_t ow, int64_t oy0,
                   int64_t oy1, bool nchw = false);

}  // namespace ec
