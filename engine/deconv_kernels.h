// Vector kernels for ec-deconv (a ConvTranspose whose stride equals its kernel, ops_nhwc.cpp), built for their
// instructions in their own files and called when the CPU has them; ops_nhwc.cpp's 8-float loop remains the
// reference and the fallback.
#pragma once
#include <cstdint>

namespace ec {

// Input pixels ec-deconv computes at a time.
constexpr int kDeconvPixels = 8;

// True when deconv_pixels_avx512 may run: built in and this CPU has AVX-512 F, unless a test turned it off.
bool deconv_avx512_available();
// Overrides the run-time choice for tests: false = the portable loop even where AVX-512 is present.
void set_deconv_vector_kernel(bool enabled);

#if defined(EC_HAVE_DECONV_AVX512)
// tmp[k * qp + q] = min(hi, max(lo, bias[q] + sum over c < C of xs[k][c] * w[c * qp + q])) for the
// kDeconvPixels input pixels k (xs[k]: a pixel's C channels) and outputs q < qp (a multiple of 8: 16 a
// register, the last step's loads masked; its stores whole: tmp needs 16 floats past kDeconvPixels * qp when qp is
// not a multiple of 16). Requires AVX-512 F at run time.
void deconv_pixels_avx512(const float* const* xs, int64_t C, const float* w, const float* bias, int64_t qp, float lo, float hi, float* tmp);
#endif

}  // namespace ec
