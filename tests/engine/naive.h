// Naive reference implementations, written from the ONNX operator definitions as plain index loops and
// independent of the engine's kernels, which the kernel tests compare against.
#pragma once
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "tensor.h"

namespace ec::naive {

inline float at4(const Tensor& t, int64_t a, int64_t b, int64_t c, int64_t d) {
  const Shape& s = t.shape();
  return t.ptr<float>()[((a * s[1] + b) * s[2] + c) * s[3] + d];
}

// 2-D convolution, pads = {top, left, bottom, right}.
inline Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, std::vector<int64_t> stride,
                     std::vector<int64_t> pads, std::vector<int64_t> dil, int64_t group) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], M = ws[0], KH = ws[2], KW = ws[3];
  int64_t OH = (H + pads[0] + pads[2] - dil[0] * (KH - 1) - 1) / stride[0] + 1;
  int64_t OW = (W + pads[1] + pads[3] - dil[1] * (KW - 1) - 1) / stride[1] + 1;
  Tensor y(DType::f32, {N, M, OH, OW});
  int64_t cg = C / group, mg = M / group;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double s = b ? b->ptr<float>()[m] : 0.0;
          int64_t g = m / mg;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx) {
                int64_t iy = oy * stride[0] - pads[0] + ky * dil[0];
                int64_t ix = ox * stride[1] - pads[1] + kx * dil[1];
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                s += static_cast<double>(at4(x, n, g * cg + c, iy, ix)) * at4(w, m, c, ky, kx);
              }
          y.ptr<float>()[((n * M + m) * OH + oy) * OW + ox] = static_cast<float>(s);
        }
  return y;
}

// Transposed convolution by scattering every input pixel; pads = {top, left, bottom, right}.
inline Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor* b, std::vector<int64_t> stride,
                               std::vector<int64_t> pads, std::vector<int64_t> dil, std::vector<int64_t> out_pad,
                               int64_t group) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], cog = ws[1], KH = ws[2], KW = ws[3], M = cog * group;
  int64_t OH = stride[0] * (H - 1) + out_pad[0] + (KH - 1) * dil[0] + 1 - pads[0] - pads[2];
  int64_t OW = stride[1] * (W - 1) + out_pad[1] + (KW - 1) * dil[1] + 1 - pads[1] - pads[3];
  std::vector<double> acc(static_cast<size_t>(N * M * OH * OW), 0.0);
  int64_t cig = C / group;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t iy = 0; iy < H; ++iy)
        for (int64_t ix = 0; ix < W; ++ix)
          for (int64_t co = 0; co < cog; ++co)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx) {
                int64_t oy = iy * stride[0] - pads[0] + ky * dil[0], ox = ix * stride[1] - pads[1] + kx * dil[1];
                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                int64_t m = (c / cig) * cog + co;
                acc[static_cast<size_t>(((n * M + m) * OH + oy) * OW + ox)] += static_cast<double>(at4(x, n, c, iy, ix)) * at4(w, c, co, ky, kx);
              }
  Tensor y(DType::f32, {N, M, OH, OW});
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t m = (i / (OH * OW)) % M;
    y.ptr<float>()[i] = static_cast<float>(acc[static_cast<size_t>(i)] + (b ? b->ptr<float>()[m] : 0.0));
  }
  return y;
}

// Max or average pooling over 2-D windows; output size given by the caller (so ceil_mode is tested).
inline Tensor pool2d(const Tensor& x, bool is_max, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> pads,
                     std::vector<int64_t> dil, int64_t OH, int64_t OW, bool count_include_pad) {
  const Shape& xs = x.shape();
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  Tensor y(DType::f32, {N, C, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = is_max ? -DBL_MAX : 0;
          int64_t cnt = 0, padcnt = 0;
          for (int64_t ky = 0; ky < k[0]; ++ky)
            for (int64_t kx = 0; kx < k[1]; ++kx) {
              int64_t iy = oy * s[0] - pads[0] + ky * dil[0], ix = ox * s[1] - pads[1] + kx * dil[1];
              bool in_padded = iy >= -pads[0] && iy < H + pads[2] && ix >= -pads[1] && ix < W + pads[3];
              padcnt += in_padded;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              double v = at4(x, n, c, iy, ix);
              acc = is_max ? std::max(acc, v) : acc + v;
              ++cnt;
            }
          if (!is_max) acc /= static_cast<double>(count_include_pad ? padcnt : cnt);
          y.ptr<float>()[((n * C + c) * OH + oy) * OW + ox] = static_cast<float>(acc);
        }
  return y;
}

// Index of `out_idx` (multi-index of the output) in a tensor of shape `in` broadcast to the output rank.
inline int64_t bcast_index(const std::vector<int64_t>& out_idx, const Shape& in) {
  int64_t off = static_cast<int64_t>(out_idx.size() - in.size()), idx = 0;
  for (size_t d = 0; d < in.size(); ++d) idx = idx * in[d] + (in[d] == 1 ? 0 : out_idx[d + static_cast<size_t>(off)]);
  return idx;
}

// Numpy broadcast of two shapes (assumes they are compatible).
inline Shape broadcast(const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape o(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i + a.size() < r ? 1 : a[i + a.size() - r], db = i + b.size() < r ? 1 : b[i + b.size() - r];
    o[i] = da == 1 ? db : da;
  }
  return o;
}

inline std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> r(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    r[d] = i % s[d];
    i /= s[d];
  }
  return r;
}

template <class F>
Tensor binary(const Tensor& a, const Tensor& b, const Shape& out, F f) {
  Tensor y(DType::f32, out);
  for (int64_t i = 0; i < y.numel(); ++i) {
    auto idx = unravel(i, out);
    y.ptr<float>()[i] = f(a.ptr<float>()[bcast_index(idx, a.shape())], b.ptr<float>()[bcast_index(idx, b.shape())]);
  }
  return y;
}

inline Tensor matmul(const Tensor& a, const Tensor& b, const Shape& out) {
  // a [..., M, K], b [..., K, N] (both rank >= 2 here), batch dims broadcast.
  Tensor y(DType::f32, out);
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  int64_t K = as.back();
  Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  for (int64_t i = 0; i < y.numel(); ++i) {
    auto idx = unravel(i, out);
    int64_t m = idx[idx.size() - 2], n = idx.back();
    std::vector<int64_t> bidx(idx.begin(), idx.end() - 2);
    int64_t ia = bcast_index(bidx, ab), ib = bcast_index(bidx, bb);
    double s = 0;
    for (int64_t k = 0; k < K; ++k)
      s += static_cast<double>(a.ptr<float>()[(ia * as[as.size() - 2] + m) * K + k]) * b.ptr<float>()[(ib * K + k) * bs.back() + n];
    y.ptr<float>()[i] = static_cast<float>(s);
  }
  return y;
}

inline Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  Shape o;
  for (int64_t p : perm) o.push_back(x.shape()[static_cast<size_t>(p)]);
  Tensor y(DType::f32, o);
  for (int64_t i = 0; i < y.numel(); ++i) {
    auto oi = unravel(i, o);
    std::vector<int64_t> ii(perm.size());
    for (size_t d = 0; d < perm.size(); ++d) ii[static_cast<size_t>(perm[d])] = oi[d];
    int64_t src = 0;
    for (size_t d = 0; d < ii.size(); ++d) src = src * x.shape()[d] + ii[d];
    y.ptr<float>()[i] = x.ptr<float>()[src];
  }
  return y;
}

}  // namespace ec::naive
