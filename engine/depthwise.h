// fp32 depthwise (one filter per channel) 3x3 / 5x5 convolution rows on NHWC data with 16-lane AVX-512
// vectors, for the depthwise layers of MobileNet- and BlazeFace-style models (ops_nhwc.cpp's DepthwiseConv runs
// it where the CPU has AVX-512 F; its own 8-float loops elsewhere).
#pragma once
#include <cstdint>

namespace ec {

// Plain pointers and sizes (the AVX-512 translation unit must not instantiate library code).
struct DepthwiseView {
  const float* w;  // [k * k][c]: tap-major, channels contiguous
  const float* b;  // [c]
  int64_t c;       // channels
  int k, s;        // window k x k (3 or 5), stride s (1 or 2), no dilation
  int64_t ih, iw, oh, ow, pt, pl;  // input and output size, top and left padding (pixels)
  float lo, hi;    // output clamp
};

// True when this CPU runs depthwise_rows_avx512 (x86-64 with AVX-512 F, compiled in).
bool depthwise_avx512_available();

// Output rows [oy0, oy1) of one image x ([ih][iw][c]) into y, one row of ow x c floats after the other.
// Needs depthwise_avx512_available().
void depthwise_rows_avx512(const DepthwiseView& v, const float* x, float* y, int64_t oy0, int64_t oy1);

}  // namespace ec
