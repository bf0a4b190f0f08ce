// Vector kernels for the activations a convolution's output goes through when XNNPACK cannot fuse them.
// Activation::apply (op.h) dispatches here; the plain loops in op.cpp remain the reference and the fallback.
#pragma once
#include <cstddef>

namespace ec {

// An activation a convolution kernel applies to its accumulators before storing them (after clamping to its
// [lo, hi]): nothing, SiLU x / (1 + e^-x), HardSwish x * min(1, max(0, x/6 + 1/2)).
enum class KernelAct : int { none = 0, silu = 1, hard_swish = 2 };

// Which kernel Activation::apply uses for Sigmoid and SiLU on this CPU: "avx512" or "auto-vectorised".
const char* activation_kernel();

// Overrides the run-time choice for tests: false = the plain loops even where AVX-512 is present.
void set_activation_vector_kernel(bool enabled);

#if defined(EC_HAVE_ACT_AVX512)
// In place over n floats: p[i] = 1 / (1 + e^-p[i]) (sigmoid) or p[i] * that (silu); relative error below 1e-6
// against exact arithmetic for inputs in [-87, 88] (outside, the result saturates as the plain loops do).
// Require AVX-512 F at run time.
void sigmoid_avx512(float* p, size_t n);
void silu_avx512(float* p, size_t n);
// In place over n floats, as op.cpp's loops (NaN handling included): min(hi, max(lo, x)); max(x, 0);
// min(1, max(0, alpha x + beta)) (one rounding: fused multiply-add); x min(1, max(0, x/6 + 1/2)) (x/6 + 1/2 as
// one fused multiply-add by 1/6: within an ulp of the loop's division). Require AVX-512 F at run time.
void clip_avx512(float* p, size_t n, float lo, float hi);
void relu_avx512(float* p, size_t n);
void hard_sigmoid_avx512(float* p, size_t n, float alpha, float beta);
void hard_swish_avx512(float* p, size_t n);
#endif

}  // namespace ec
