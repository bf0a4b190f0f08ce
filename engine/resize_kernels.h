// Vector kernels for Resize (ops_nn.cpp), built for their instructions in their own files and called when the
// CPU has them (checked at run time); ops_nn.cpp's loops remain the reference and the fallback.
#pragma once
#include <cstdint>

namespace ec {

// True when resize_blend_row_avx512 may run: built in and this CPU has AVX-512 F, unless a test turned it off.
bool resize_avx512_available();
// Overrides the run-time choice for tests: false = the portable loops even where AVX-512 is present.
void set_resize_vector_kernel(bool enabled);

#if defined(EC_HAVE_RESIZE_AVX512)
// One output row of a bilinear Resize on NHWC data, `run` channels per pixel: for each output pixel j < ow,
// d[j * run + k] = top + (bottom - top) * fy with top = a + (b - a) * wx[j] over input row r0's pixels at
// element offsets o0[j] (a) and o1[j] (b), bottom the same over row r1. 16 channels a register, the last step
// masked. Requires AVX-512 F at run time.
void resize_blend_row_avx512(const float* r0, const float* r1, const int64_t* o0, const int64_t* o1, const float* wx, float fy, int64_t ow,
                             int64_t run, float* d);
#endif

}  // namespace ec
