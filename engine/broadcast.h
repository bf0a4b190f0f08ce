// Broadcast iteration for N-input elementwise kernels (internal to the native kernels).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "tensor.h"

namespace ec {

// Calls f(out_offset, in_offsets, inner_count, inner_strides) for each run of the innermost dimension of
// `out`; in_offsets/inner_strides are in elements for each of the N inputs (stride 0 = broadcast).
template <size_t N, class F>
void broadcast_for_each(const Shape& out, const std::array<std::vector<int64_t>, N>& strides, F&& f) {
  const size_t r = out.size();
  std::array<int64_t, N> off{}, inner{};
  if (r == 0) {
    f(int64_t{0}, off, int64_t{1}, inner);
    return;
  }
  for (size_t k = 0; k < N; ++k) inner[k] = strides[k][r - 1];
  const int64_t n_inner = out[r - 1];
  int64_t outer = 1;
  for (size_t i = 0; i + 1 < r; ++i) outer *= out[i];
  if (outer == 0 || n_inner == 0) return;
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < outer; ++o) {
    f(o * n_inner, off, n_inner, inner);
    // advance the odometer over dims [0, r-1)
    for (size_t d = r - 1; d-- > 0;) {
      ++idx[d];
      for (size_t k = 0; k < N; ++k) off[k] += strides[k][d];
      if (idx[d] < out[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= strides[k][d] * out[d];
      idx[d] = 0;
    }
  }
}

}  // namespace ec
