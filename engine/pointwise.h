// fp32 pointwise (1x1, stride 1) convolution on NHWC data as a small GEMM with a fused epilogue: bias, a
// residual tensor added (read with fewer channels than the output when the graph zero-padded it along
// channels; the missing channels count as 0), then clamping (Relu/Clip). It replaces XNNPACK's convolution
// plus a separate Add pass in residual blocks (BlazeFace, MobileNetV2). The kernel keeps 12 rows x 32 outputs
// (16 x 16 for up to 16 outputs) in 16-float AVX-512 registers, outputs past n masked: one file built for it,
// used only when the CPU has AVX-512 F and VL (checked at run time).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

namespace ec {

struct PointwiseLayer {
  int64_t k = 0, n = 0, npad = 0;  // input channels, output channels, n rounded up to 16
  std::vector<float> w;            // [k][npad], zero-padded
  std::vector<float> bias;         // [npad], zero-padded
  float lo = -INFINITY, hi = INFINITY;
};

// Plain pointers into a PointwiseLayer for the AVX-512 translation unit (which must not instantiate library code).
struct PointwiseView {
  const float* w;
  const float* bias;
  int64_t k, n, npad;
  float lo, hi;
};

// True when this CPU runs the fused kernel (x86-64 with AVX-512 F and VL, compiled in) and the switch
// (kernel_switches.h) is on.
bool pointwise_available();

// Packs ONNX weights [n][k] (OIHW with 1x1) and an optional bias [n]; outputs are clamped to [lo, hi].
PointwiseLayer pointwise_pack(const float* w, int64_t n, int64_t k, const float* bias, float lo, float hi);

// Rows [p0, p1) of y [P][n] = clamp(x [P][k] * W + bias + r) with r [P][cr], cr <= n (nullptr: no residual;
// channels cr..n-1 of r count as 0). Row strides k, n and cr. y may be r when cr == n. Needs
// pointwise_available().
void pointwise_run(const PointwiseLayer& l, const float* x, const float* r, int64_t cr, float* y, int64_t p0, int64_t p1);

}  // namespace ec
