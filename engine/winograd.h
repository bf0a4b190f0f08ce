// Winograd F(m x m, 3 x 3) convolution transforms, shared by ops_nhwc.cpp (the convolution: weights, blocks,
// GEMMs, threads) and winograd_avx512.cpp (the per-tile input and output transforms on 16-lane registers).
#pragma once
#include <cstdint>

namespace ec {

// Winograd F(m x m, 3 x 3) transforms (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks"), as
// 1-D steps applied to the rows and then the columns of a tile: kA = m + 2 inputs per side, m outputs.
template <int M>
struct Winograd;
template <>
struct Winograd<2> {
  static constexpr int kA = 4;
  // B^T d
  template <class T>
  static void in(const T* d, int s, T* o, int os) {
    o[0] = d[0] - d[2 * s];
    o[os] = d[s] + d[2 * s];
    o[2 * os] = d[2 * s] - d[s];
    o[3 * os] = d[s] - d[3 * s];
  }
  // G g (3 weights -> 4)
  static void weight(const double* g, int s, double* o, int os) {
    o[0] = g[0];
    o[os] = 0.5 * (g[0] + g[s] + g[2 * s]);
    o[2 * os] = 0.5 * (g[0] - g[s] + g[2 * s]);
    o[3 * os] = g[2 * s];
  }
  // A^T m (4 -> 2)
  template <class T>
  static void out(const T* m, int s, T* o, int os) {
    o[0] = m[0] + m[s] + m[2 * s];
    o[os] = m[s] - m[2 * s] - m[3 * s];
  }
};
template <>
struct Winograd<4> {
  static constexpr int kA = 6;
  template <class T>
  static void in(const T* d, int s, T* o, int os) {
    const T d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    o[0] = 4 * d0 - 5 * d2 + d4;
    o[os] = -4 * d1 - 4 * d2 + d3 + d4;
    o[2 * os] = 4 * d1 - 4 * d2 - d3 + d4;
    o[3 * os] = -2 * d1 - d2 + 2 * d3 + d4;
    o[4 * os] = 2 * d1 - d2 - 2 * d3 + d4;
    o[5 * os] = 4 * d1 - 5 * d3 + d5;
  }
  static void weight(const double* g, int s, double* o, int os) {
    const double g0 = g[0], g1 = g[s], g2 = g[2 * s];
    o[0] = g0 / 4;
    o[os] = -(g0 + g1 + g2) / 6;
    o[2 * os] = -(g0 - g1 + g2) / 6;
    o[3 * os] = g0 / 24 + g1 / 12 + g2 / 6;
    o[4 * os] = g0 / 24 - g1 / 12 + g2 / 6;
    o[5 * os] = g2;
  }
  template <class T>
  static void out(const T* m, int s, T* o, int os) {
    const T m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
    o[0] = m0 + m1 + m2 + m3 + m4;
    o[os] = m1 - m2 + 2 * (m3 - m4);
    o[2 * os] = m1 + m2 + 4 * (m3 + m4);
    o[3 * os] = m1 - m2 + 8 * (m3 - m4) + m5;
  }
};

// Which kernel the Winograd convolutions' per-tile input and output transforms use on this CPU: "avx512"
// (16 channels a register, winograd_avx512.cpp) or "portable" (8-float GCC vectors in ops_nhwc.cpp: one AVX2
// register in the usual -march=native -mno-avx512f build on x86-64, two SSE2 registers in a portable build, two
// NEON registers on aarch64).
const char* winograd_transform_kernel();
// Overrides the run-time choice for tests: false = the portable transforms even where AVX-512 is present.
void set_winograd_vector_transforms(bool enabled);

#if defined(EC_HAVE_WINOGRAD_AVX512)
// One tile's input transform: v[p * ps + c] = (B^T d B)[p] for the kA x kA positions p and channels c < C,
// where d[p] points at the C channels of the tile's input pixel p (row-major; a row of zeros for pixels
// outside the image). Requires AVX-512 F at run time.
template <int M>
void winograd_input_avx512(const float* const* d, int64_t C, float* v, int64_t ps);
// One tile's output transform: o[q][k] = min(hi, max(lo, (A^T m A)[q] + bias[k])) for the m x m output pixels q
// and channels k < K, where m holds position p's K values at m + p * ps and o[q] points at pixel q's first
// channel (a scratch row for pixels past the image's edge). NaN stays NaN. Requires AVX-512 F at run time.
template <int M>
void winograd_output_avx512(const float* m, int64_t ps, int64_t K, const float* bias, float lo, float hi, float* const* o);
#endif

}  // namespace ec
