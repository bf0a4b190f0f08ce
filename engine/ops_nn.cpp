// Neural-network kernels: Conv (im2col + Eigen GEMM, direct depthwise), ConvTranspose, BatchNormalization,
// pooling, Gemm, MatMul, Softmax, reductions, Resize/Upsample. NCHW layout, float32.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "denormals.h"
#include "op.h"
#include "resize_kernels.h"
#include "window.h"

namespace ec {

Window make_window(const Node& n, const Shape& x, std::vector<int64_t> kernel, bool ceil_mode) {
  const size_t sr = x.size() - 2;
  if (sr < 1 || sr > 2) throw Error(n.label() + ": input " + shape_str(x) + ": only 1-D and 2-D spatial inputs are supported");
  auto strides = n.attr_ints("strides", std::vector<int64_t>(sr, 1));
  auto dil = n.attr_ints("dilations", std::vector<int64_t>(sr, 1));
  auto pads = n.attr_ints("pads", std::vector<int64_t>(2 * sr, 0));
  if (kernel.size() != sr || strides.size() != sr || dil.size() != sr || pads.size() != 2 * sr)
    throw Error(n.label() + ": kernel/strides/dilations/pads do not match input rank " + std::to_string(x.size()));
  Window w;
  if (sr == 1) {
    w.kw = kernel[0]; w.sw = strides[0]; w.dw = dil[0]; w.pl = pads[0]; w.pr = pads[1]; w.iw = x[2];
  } else {
    w.kh = kernel[0]; w.kw = kernel[1]; w.sh = strides[0]; w.sw = strides[1]; w.dh = dil[0]; w.dw = dil[1];
    w.pt = pads[0]; w.pl = pads[1]; w.pb = pads[2]; w.pr = pads[3]; w.ih = x[2]; w.iw = x[3];
  }
  if (w.sh < 1 || w.sw < 1 || w.dh < 1 || w.dw < 1 || w.kh < 1 || w.kw < 1)
    throw Error(n.label() + ": kernel, strides and dilations must be >= 1");
  std::string ap = n.attr_s("auto_pad", "NOTSET");
  auto same = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t& b, int64_t& e) {
    int64_t out = (in + s - 1) / s;
    int64_t total = std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
    if (ap == "SAME_UPPER") { b = total / 2; e = total - b; }
    else { e = total / 2; b = total - e; }
  };
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    same(w.ih, w.kh, w.sh, w.dh, w.pt, w.pb);
    same(w.iw, w.kw, w.sw, w.dw, w.pl, w.pr);
  } else if (ap == "VALID") {
    w.pt = w.pl = w.pb = w.pr = 0;
  } else if (ap != "NOTSET" && !ap.empty()) {
    throw Error(n.label() + ": auto_pad '" + ap + "' is not supported");
  }
  auto out_size = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t b, int64_t e) {
    int64_t span = in + b + e - ((k - 1) * d + 1);
    if (span < 0) throw Error(n.label() + ": kernel is larger than the padded input " + shape_str(x));
    int64_t o = ceil_mode ? (span + s - 1) / s + 1 : span / s + 1;
    if (ceil_mode && (o - 1) * s >= in + b) --o;  // last window must start inside the input or left pad
    return o;
  };
  w.oh = out_size(w.ih, w.kh, w.sh, w.dh, w.pt, w.pb);
  w.ow = out_size(w.iw, w.kw, w.sw, w.dw, w.pl, w.pr);
  return w;
}

Shape window_out_shape(const Shape& x, int64_t c, const Window& w) {
  Shape o{x[0], c};
  if (x.size() == 4) o.push_back(w.oh);
  o.push_back(w.ow);
  return o;
}

namespace {

using MatCM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using MatRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using StridedMap = Eigen::Map<MatCM, 0, Eigen::OuterStride<>>;
using ConstStridedMap = Eigen::Map<const MatCM, 0, Eigen::OuterStride<>>;

std::vector<int64_t> spatial(const Shape& s) { return std::vector<int64_t>(s.begin() + 2, s.end()); }

// y = a * b (Eigen matrices or expressions) on up to `threads` threads, split along y's longer side. The
// engine builds Eigen with EIGEN_DONT_PARALLELIZE: Eigen's own OpenMP split takes every core whatever the
// engine was given (threads: 1 ran on two), and inside one of our regions it started a second team; the
// threads of a GEMM are ours to give. Below ~256k multiply-adds one thread does it all.
template <class A, class B, class Y>
void gemm_parallel(const A& a, const B& b, Y&& y, const Op& op, int threads) {
  const int64_t m = y.rows(), n = y.cols(), k = a.cols();
  // 4 parts per thread: with one per thread, a worker still asleep when the region starts leaves its part to the
  // caller (ResNet-18's classifier, a 512x1000 GEMV: 0.08 ms at 1 thread, 0.22 at 2)
  const int64_t parts = m * n * k < (int64_t{1} << 18) ? 1 : std::min<int64_t>(4 * threads, std::max<int64_t>(1, std::max(m, n) / 8));
  if (parts <= 1) {
    y.noalias() = a * b;
    return;
  }
  // on the engine's threads (Op::parallel_for: its pthreadpool in XNNPACK graphs, else OpenMP)
  op.parallel_for(parts, [&](int64_t t) {
    if (n >= m) {
      const int64_t c0 = n * t / parts, c1 = n * (t + 1) / parts;
      if (c1 > c0) y.middleCols(c0, c1 - c0).noalias() = a * b.middleCols(c0, c1 - c0);
    } else {
      const int64_t r0 = m * t / parts, r1 = m * (t + 1) / parts;
      if (r1 > r0) y.middleRows(r0, r1 - r0).noalias() = a.middleRows(r0, r1 - r0) * b;
    }
  });
}

// Output pixels per GEMM block: about 64k floats of im2col panel (L2-sized), at least 256, at most 4096.
inline int64_t col_block(int64_t k) { return std::clamp<int64_t>((65536 / std::max<int64_t>(k, 1)) / 64 * 64, 256, 4096); }

class ConvOp : public Op {
 public:
  ConvOp(const Node& n, int64_t o) : Op(n, o), act_(Activation::from_node(n)) {}

  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    need_f32(in, 1);
    const Shape& x = in.t[0]->shape();
    const Shape& wt = in.t[1]->shape();
    group_ = node_.attr_i("group", 1);
    if (x.size() != wt.size() || x.size() < 3) fail("input " + shape_str(x) + " and weight " + shape_str(wt) + " ranks differ");
    if (group_ < 1 || x[1] % group_ || wt[0] % group_ || x[1] / group_ != wt[1])
      fail("group=" + std::to_string(group_) + " does not fit input " + shape_str(x) + " and weight " + shape_str(wt));
    auto kernel = node_.attr_ints("kernel_shape", spatial(wt));
    if (kernel != spatial(wt)) fail("kernel_shape " + shape_str(kernel) + " does not match weight " + shape_str(wt));
    w_ = make_window(node_, x, kernel, false);
    if (in.has(2)) {
      need_f32(in, 2);
      if (in.t[2]->numel() != wt[0]) fail("bias " + shape_str(in.t[2]->shape()) + " does not match " + std::to_string(wt[0]) + " output channels");
    }
    c_ = x[1];
    m_ = wt[0];
    depthwise_ = group_ == c_ && m_ == c_;
    pointwise_ = w_.kh == 1 && w_.kw == 1 && w_.sh == 1 && w_.sw == 1 && w_.pt == 0 && w_.pl == 0 && w_.pb == 0 && w_.pr == 0;
    k_ = (c_ / group_) * w_.kh * w_.kw;
    out[0] = {DType::f32, window_out_shape(x, m_, w_)};
  }

  size_t workspace_bytes() const override {
    if (depthwise_ || pointwise_) return 0;
    return static_cast<size_t>(threads_) * static_cast<size_t>(k_ * col_block(k_)) * sizeof(float);
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void* ws) override {
    const float* x = in[0]->ptr<float>();
    const float* wt = in[1]->ptr<float>();
    const float* bias = in.size() > 2 && in[2] ? in[2]->ptr<float>() : nullptr;
    float* y = out[0]->ptr<float>();
    const int64_t batch = in[0]->dim(0);
    const int64_t ihw = w_.ih * w_.iw, ohw = w_.oh * w_.ow;
    for (int64_t b = 0; b < batch; ++b) {
      const float* xb = x + b * c_ * ihw;
      float* yb = y + b * m_ * ohw;
      if (depthwise_) run_depthwise(xb, wt, bias, yb);
      else run_gemm(xb, wt, bias, yb, static_cast<float*>(ws));
    }
  }

 private:
  // Direct depthwise convolution: per channel, accumulate kernel taps over contiguous output rows with the
  // valid output-column range computed per tap, so the inner loop has no bounds checks.
  void run_depthwise(const float* x, const float* wt, const float* bias, float* y) const {
    const Window w = w_;
    const int64_t ihw = w.ih * w.iw, ohw = w.oh * w.ow;
    const TsanRegion tsan_region;  // op.h: the pool's hand-off, for ThreadSanitizer builds
#pragma omp parallel num_threads(threads_)
    {
      const TsanTask tsan_task;
      const DenormalsAsZero flush;  // each thread of the region (base/denormals.h)
#pragma omp for schedule(static)
      for (int64_t c = 0; c < c_; ++c) {
        const float* xc = x + c * ihw;
        const float* wc = wt + c * w.kh * w.kw;
        float* yc = y + c * ohw;
        std::fill(yc, yc + ohw, bias ? bias[c] : 0.f);
        for (int64_t kx = 0; kx < w.kw; ++kx) {
          // ox valid when 0 <= ox*sw - pl + kx*dw < iw
          const int64_t off = kx * w.dw - w.pl;
          int64_t lo = off >= 0 ? 0 : (-off + w.sw - 1) / w.sw;
          int64_t hi = (w.iw - 1 - off) < 0 ? 0 : (w.iw - 1 - off) / w.sw + 1;
          hi = std::min(hi, w.ow);
          if (lo >= hi) continue;
          for (int64_t oy = 0; oy < w.oh; ++oy) {
            float* yr = yc + oy * w.ow;
            for (int64_t ky = 0; ky < w.kh; ++ky) {
              const int64_t iy = oy * w.sh - w.pt + ky * w.dh;
              if (iy < 0 || iy >= w.ih) continue;
              const float wv = wc[ky * w.kw + kx];
              const float* xr = xc + iy * w.iw + off;
              if (w.sw == 1) {
                for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xr[ox];
              } else {
                for (int64_t ox = lo; ox < hi; ++ox) yr[ox] += wv * xr[ox * w.sw];
              }
            }
          }
        }
        act_.apply(yc, static_cast<size_t>(ohw));
      }
    }
  }

  void run_gemm(const float* x, const float* wt, const float* bias, float* y, float* ws) const {
    const Window w = w_;
    const int64_t ihw = w.ih * w.iw, ohw = w.oh * w.ow;
    const int64_t cg = c_ / group_, mg = m_ / group_;
    // Enough blocks to keep every thread busy, each no larger than the L2-sized panel.
    int64_t blk_size = std::min(col_block(k_), (ohw + threads_ - 1) / threads_);
    blk_size = std::max<int64_t>(blk_size, std::min<int64_t>(ohw, 64));
    const int64_t nblk = (ohw + blk_size - 1) / blk_size;
    const int64_t jobs = group_ * nblk;
    const TsanRegion tsan_region;  // op.h: the pool's hand-off, for ThreadSanitizer builds
#pragma omp parallel num_threads(threads_)
    {
      const TsanTask tsan_task;
      const DenormalsAsZero flush;  // each thread of the region (base/denormals.h)
#pragma omp for schedule(dynamic)
      for (int64_t job = 0; job < jobs; ++job) {
        const int64_t g = job / nblk, blk = job % nblk;
        const int64_t p0 = blk * blk_size, np = std::min(blk_size, ohw - p0);
        const float* xg = x + g * cg * ihw;
        Eigen::Map<const MatCM> wmat(wt + g * mg * k_, k_, mg);  // (K x Mg) view of [Mg][K]
        StridedMap ymat(y + g * mg * ohw + p0, np, mg, Eigen::OuterStride<>(ohw));
        if (pointwise_) {
          ConstStridedMap xmat(xg + p0, np, cg, Eigen::OuterStride<>(ihw));
          ymat.noalias() = xmat * wmat;
        } else {
          float* col = ws + static_cast<int64_t>(omp_get_thread_num()) * k_ * col_block(k_);
          im2col(xg, cg, p0, np, col);
          Eigen::Map<const MatCM> cmat(col, np, k_);
          ymat.noalias() = cmat * wmat;
        }
        for (int64_t m = 0; m < mg; ++m) {
          float* yr = y + (g * mg + m) * ohw + p0;
          if (bias) {
            const float bv = bias[g * mg + m];
            for (int64_t i = 0; i < np; ++i) yr[i] += bv;
          }
          act_.apply(yr, static_cast<size_t>(np));
        }
      }
    }
  }

  // Fills col (np x K, column-major: one column per (c, ky, kx)) for output pixels [p0, p0+np). Works a
  // row of output pixels at a time with the valid column range computed once per tap, so the inner loop
  // has no bounds checks.
  void im2col(const float* x, int64_t cg, int64_t p0, int64_t np, float* col) const {
    const Window& w = w_;
    int64_t k = 0;
    for (int64_t c = 0; c < cg; ++c) {
      const float* xc = x + c * w.ih * w.iw;
      for (int64_t ky = 0; ky < w.kh; ++ky)
        for (int64_t kx = 0; kx < w.kw; ++kx, ++k) {
          float* dst = col + k * np;
          const int64_t off = kx * w.dw - w.pl;  // ix = ox * sw + off
          const int64_t lo = off >= 0 ? 0 : (-off + w.sw - 1) / w.sw;
          const int64_t hi = std::min(w.ow, w.iw - 1 - off < 0 ? int64_t{0} : (w.iw - 1 - off) / w.sw + 1);
          int64_t p = p0;
          const int64_t end = p0 + np;
          while (p < end) {
            const int64_t oy = p / w.ow, ox0 = p % w.ow;
            const int64_t n = std::min(w.ow - ox0, end - p);  // pixels of this output row in the block
            float* d = dst + (p - p0);
            const int64_t iy = oy * w.sh - w.pt + ky * w.dh;
            if (iy < 0 || iy >= w.ih) {
              std::fill(d, d + n, 0.f);
            } else {
              const float* xr = xc + iy * w.iw + off;
              const int64_t a = std::max(ox0, lo), b = std::min(ox0 + n, std::max(lo, hi));
              for (int64_t ox = ox0; ox < a && ox < ox0 + n; ++ox) d[ox - ox0] = 0.f;
              if (w.sw == 1)
                for (int64_t ox = a; ox < b; ++ox) d[ox - ox0] = xr[ox];
              else
                for (int64_t ox = a; ox < b; ++ox) d[ox - ox0] = xr[ox * w.sw];
              for (int64_t ox = std::max(a, b); ox < ox0 + n; ++ox) d[ox - ox0] = 0.f;
            }
            p += n;
          }
        }
    }
  }

  Activation act_;
  Window w_;
  int64_t group_ = 1, c_ = 0, m_ = 0, k_ = 0;
  bool depthwise_ = false, pointwise_ = false;
};

class ConvTransposeOp : public Op {
 public:
  ConvTransposeOp(const Node& n, int64_t o) : Op(n, o), act_(Activation::from_node(n)) {}
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    need_f32(in, 1);
    const Shape& x = in.t[0]->shape();
    const Shape& wt = in.t[1]->shape();
    if (x.size() != 4 || wt.size() != 4) fail("only 2-D ConvTranspose is supported (input " + shape_str(x) + ")");
    group_ = node_.attr_i("group", 1);
    if (group_ < 1 || x[1] % group_ || wt[0] != x[1])
      fail("group=" + std::to_string(group_) + " does not fit input " + shape_str(x) + " and weight " + shape_str(wt));
    cin_ = x[1];
    cout_ = wt[1] * group_;
    kh_ = wt[2]; kw_ = wt[3];
    auto ks = node_.attr_ints("kernel_shape", {kh_, kw_});
    if (ks != std::vector<int64_t>{kh_, kw_}) fail("kernel_shape does not match weight " + shape_str(wt));
    auto st = node_.attr_ints("strides", {1, 1});
    auto di = node_.attr_ints("dilations", {1, 1});
    auto op = node_.attr_ints("output_padding", {0, 0});
    auto pads = node_.attr_ints("pads", {0, 0, 0, 0});
    sh_ = st[0]; sw_ = st[1]; dh_ = di[0]; dw_ = di[1];
    ih_ = x[2]; iw_ = x[3];
    const std::string ap = node_.attr_s("auto_pad", "NOTSET");
    auto full = [&](int64_t i, int64_t s, int64_t k, int64_t d, int64_t opd) { return s * (i - 1) + opd + (k - 1) * d + 1; };
    int64_t fh = full(ih_, sh_, kh_, dh_, op[0]), fw = full(iw_, sw_, kw_, dw_, op[1]);
    auto split = [&](int64_t total, int64_t& b, int64_t& e) {
      if (ap == "SAME_UPPER") { b = total / 2; e = total - b; }
      else { e = total / 2; b = total - e; }
    };
    if (node_.has("output_shape")) {
      auto os = node_.attr_ints("output_shape");
      if (os.size() == 4) os = {os[2], os[3]};
      if (os.size() != 2) fail("output_shape must have 2 spatial entries");
      split(fh - os[0], pt_, pb_);
      split(fw - os[1], pl_, pr_);
    } else if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      split(fh - ih_ * sh_, pt_, pb_);
      split(fw - iw_ * sw_, pl_, pr_);
    } else {
      pt_ = pads[0]; pl_ = pads[1]; pb_ = pads[2]; pr_ = pads[3];
    }
    oh_ = fh - pt_ - pb_;
    ow_ = fw - pl_ - pr_;
    if (oh_ <= 0 || ow_ <= 0) fail("output size is not positive");
    if (in.has(2) && in.t[2]->numel() != cout_) fail("bias does not match " + std::to_string(cout_) + " output channels");
    out[0] = {DType::f32, {x[0], cout_, oh_, ow_}};
  }
  size_t workspace_bytes() const override {
    return static_cast<size_t>((cout_ / group_) * kh_ * kw_ * ih_ * iw_) * sizeof(float);
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void* ws) override {
    const int64_t cig = cin_ / group_, cog = cout_ / group_, ihw = ih_ * iw_, ohw = oh_ * ow_;
    const int64_t kt = cog * kh_ * kw_;
    float* col = static_cast<float*>(ws);
    const float* bias = in.size() > 2 && in[2] ? in[2]->ptr<float>() : nullptr;
    for (int64_t b = 0; b < in[0]->dim(0); ++b) {
      float* y = out[0]->ptr<float>() + b * cout_ * ohw;
      for (int64_t co = 0; co < cout_; ++co) std::fill(y + co * ohw, y + (co + 1) * ohw, bias ? bias[co] : 0.f);
      for (int64_t g = 0; g < group_; ++g) {
        Eigen::Map<const MatCM> xt(in[0]->ptr<float>() + (b * cin_ + g * cig) * ihw, ihw, cig);
        Eigen::Map<const MatCM> wt(in[1]->ptr<float>() + g * cig * kt, kt, cig);  // [cig][kt] row-major
        Eigen::Map<MatCM> ct(col, ihw, kt);
        gemm_parallel(xt, wt.transpose(), ct, *this, threads_);
        const TsanRegion tsan_region;  // op.h: the pool's hand-off, for ThreadSanitizer builds
#pragma omp parallel num_threads(threads_)
        {
          const TsanTask tsan_task;
          const DenormalsAsZero flush;  // each thread of the region (base/denormals.h)
#pragma omp for schedule(static)
          for (int64_t co = 0; co < cog; ++co) {
            float* yc = y + (g * cog + co) * ohw;
            for (int64_t ky = 0; ky < kh_; ++ky)
              for (int64_t kx = 0; kx < kw_; ++kx) {
                const float* src = col + ((co * kh_ + ky) * kw_ + kx) * ihw;
                for (int64_t iy = 0; iy < ih_; ++iy) {
                  const int64_t oy = iy * sh_ - pt_ + ky * dh_;
                  if (oy < 0 || oy >= oh_) continue;
                  for (int64_t ix = 0; ix < iw_; ++ix) {
                    const int64_t ox = ix * sw_ - pl_ + kx * dw_;
                    if (ox >= 0 && ox < ow_) yc[oy * ow_ + ox] += src[iy * iw_ + ix];
                  }
                }
              }
          }
        }
      }
      act_.apply(y, static_cast<size_t>(cout_ * ohw));
    }
  }
  Activation act_;
  int64_t group_ = 1, cin_ = 0, cout_ = 0, kh_ = 1, kw_ = 1, sh_ = 1, sw_ = 1, dh_ = 1, dw_ = 1;
  int64_t pt_ = 0, pl_ = 0, pb_ = 0, pr_ = 0, ih_ = 0, iw_ = 0, oh_ = 0, ow_ = 0;
};

class BatchNormOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    for (size_t i = 0; i < 5; ++i) need_f32(in, i);
    const Shape& x = in.t[0]->shape();
    if (x.size() < 2) fail("input " + shape_str(x) + " has no channel dim");
    for (size_t i = 1; i < 5; ++i)
      if (in.t[i]->numel() != x[1]) fail("parameter " + std::to_string(i) + " does not have " + std::to_string(x[1]) + " values");
    out[0] = {DType::f32, x};
    for (size_t i = 1; i < out.size(); ++i) out[i] = {DType::f32, in.t[1]->shape()};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& x = in[0]->shape();
    const float eps = node_.attr_f("epsilon", 1e-5f);
    int64_t inner = 1;
    for (size_t d = 2; d < x.size(); ++d) inner *= x[d];
    const float *sc = in[1]->ptr<float>(), *bi = in[2]->ptr<float>(), *mu = in[3]->ptr<float>(), *var = in[4]->ptr<float>();
    for (int64_t b = 0; b < x[0]; ++b)
      for (int64_t c = 0; c < x[1]; ++c) {
        const float s = sc[c] / std::sqrt(var[c] + eps), t = bi[c] - mu[c] * s;
        const float* xp = in[0]->ptr<float>() + (b * x[1] + c) * inner;
        float* yp = out[0]->ptr<float>() + (b * x[1] + c) * inner;
        for (int64_t i = 0; i < inner; ++i) yp[i] = xp[i] * s + t;
      }
    for (size_t i = 1; i < out.size(); ++i)
      if (out[i]) std::memcpy(out[i]->data(), in[std::min<size_t>(i + 2, 4)]->data(), out[i]->size_bytes());
  }
};

class PoolOp : public Op {
 public:
  PoolOp(const Node& n, int64_t o, bool is_max, bool global) : Op(n, o), max_(is_max), global_(global) {}
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    const Shape& x = in.t[0]->shape();
    if (out.size() > 1) fail("the Indices output is not supported");
    if (x.size() < 3) fail("input " + shape_str(x) + " has no spatial dims");
    if (global_) {
      Shape o = x;
      for (size_t d = 2; d < o.size(); ++d) o[d] = 1;
      out[0] = {DType::f32, o};
      return;
    }
    auto kernel = node_.attr_ints("kernel_shape");
    if (kernel.empty()) fail("kernel_shape is missing");
    if (!max_ && node_.has("dilations")) {
      for (int64_t d : node_.attr_ints("dilations"))
        if (d != 1) fail("dilated AveragePool is not supported");
    }
    w_ = make_window(node_, x, kernel, node_.attr_i("ceil_mode", 0) != 0);
    count_pad_ = node_.attr_i("count_include_pad", 0) != 0;
    out[0] = {DType::f32, window_out_shape(x, x[1], w_)};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& x = in[0]->shape();
    const int64_t planes = x[0] * x[1];
    const float* xp = in[0]->ptr<float>();
    float* yp = out[0]->ptr<float>();
    if (global_) {
      int64_t inner = 1;
      for (size_t d = 2; d < x.size(); ++d) inner *= x[d];
      for (int64_t p = 0; p < planes; ++p) {
        const float* s = xp + p * inner;
        float acc = max_ ? -FLT_MAX : 0.f;
        for (int64_t i = 0; i < inner; ++i) acc = max_ ? std::max(acc, s[i]) : acc + s[i];
        yp[p] = max_ ? acc : acc / static_cast<float>(inner);
      }
      return;
    }
    const Window w = w_;
    if (max_ && w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 && w.dh == 1 && w.dw == 1 && w.pt == 0 && w.pl == 0 &&
        w.oh * 2 <= w.ih && w.ow * 2 <= w.iw) {  // the common 2x2 stride-2 max pool: no bounds checks
      const TsanRegion tsan_region;  // op.h: the pool's hand-off, for ThreadSanitizer builds
#pragma omp parallel num_threads(threads_)
      {
        const TsanTask tsan_task;
        const DenormalsAsZero flush;  // each thread of the region (base/denormals.h)
#pragma omp for schedule(static)
        for (int64_t p = 0; p < planes; ++p) {
          const float* s = xp + p * w.ih * w.iw;
          float* d = yp + p * w.oh * w.ow;
          for (int64_t oy = 0; oy < w.oh; ++oy) {
            const float* r0 = s + 2 * oy * w.iw;
            const float* r1 = r0 + w.iw;
            for (int64_t ox = 0; ox < w.ow; ++ox)
              d[oy * w.ow + ox] = std::max(std::max(r0[2 * ox], r0[2 * ox + 1]), std::max(r1[2 * ox], r1[2 * ox + 1]));
          }
        }
      }
      return;
    }
    const TsanRegion tsan_region;  // op.h: the pool's hand-off, for ThreadSanitizer builds
#pragma omp parallel num_threads(threads_)
    {
      const TsanTask tsan_task;
      const DenormalsAsZero flush;  // each thread of the region (base/denormals.h)
#pragma omp for schedule(static)
      for (int64_t p = 0; p < planes; ++p) {
        const float* s = xp + p * w.ih * w.iw;
        float* d = yp + p * w.oh * w.ow;
        for (int64_t oy = 0; oy < w.oh; ++oy)
          for (int64_t ox = 0; ox < w.ow; ++ox) {
            float acc = max_ ? -FLT_MAX : 0.f;
            int64_t cnt = 0;
            for (int64_t ky = 0; ky < w.kh; ++ky) {
              const int64_t iy = oy * w.sh - w.pt + ky * w.dh;
              for (int64_t kx = 0; kx < w.kw; ++kx) {
                const int64_t ix = ox * w.sw - w.pl + kx * w.dw;
                if (iy < 0 || iy >= w.ih || ix < 0 || ix >= w.iw) continue;
                const float v = s[iy * w.iw + ix];
                acc = max_ ? std::max(acc, v) : acc + v;
                ++cnt;
              }
            }
            if (!max_) {
              if (count_pad_) {  // window clipped to the padded input, not beyond it (ceil_mode overhang excluded)
                const int64_t y0 = oy * w.sh - w.pt, x0 = ox * w.sw - w.pl;
                const int64_t y1 = std::min(y0 + w.kh, w.ih + w.pb), x1 = std::min(x0 + w.kw, w.iw + w.pr);
                cnt = (y1 - y0) * (x1 - x0);
              }
              acc = cnt ? acc / static_cast<float>(cnt) : 0.f;
            }
            d[oy * w.ow + ox] = acc;
          }
      }
    }
  }
  bool max_, global_, count_pad_ = false;
  Window w_;
};

// Gemm: Y = alpha * A' B' + beta * C (row-major, 2-D).
class GemmOp : public Op {
 public:
  GemmOp(const Node& n, int64_t o) : Op(n, o), act_(Activation::from_node(n)) {}
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    need_f32(in, 1);
    const Shape& a = in.t[0]->shape();
    const Shape& b = in.t[1]->shape();
    if (a.size() != 2 || b.size() != 2) fail("inputs " + shape_str(a) + " and " + shape_str(b) + " must be 2-D");
    ta_ = node_.attr_i("transA", 0) != 0;
    tb_ = node_.attr_i("transB", 0) != 0;
    m_ = ta_ ? a[1] : a[0];
    k_ = ta_ ? a[0] : a[1];
    n_ = tb_ ? b[0] : b[1];
    if ((tb_ ? b[1] : b[0]) != k_) fail("inner dims differ: " + shape_str(a) + " x " + shape_str(b));
    alpha_ = node_.attr_f("alpha", 1.f);
    beta_ = node_.attr_f("beta", 1.f);
    if (in.has(2)) {
      need_f32(in, 2);
      Shape bc = broadcast_shapes(in.t[2]->shape(), {m_, n_}, node_);
      if (bc != Shape{m_, n_}) fail("C " + shape_str(in.t[2]->shape()) + " does not broadcast to " + shape_str({m_, n_}));
    }
    out[0] = {DType::f32, {m_, n_}};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    Eigen::Map<const MatRM> a(in[0]->ptr<float>(), in[0]->dim(0), in[0]->dim(1));
    Eigen::Map<const MatRM> b(in[1]->ptr<float>(), in[1]->dim(0), in[1]->dim(1));
    Eigen::Map<MatRM> y(out[0]->ptr<float>(), m_, n_);
    if (!ta_ && !tb_) gemm_parallel(a, b, y, *this, threads_);
    else if (!ta_ && tb_) gemm_parallel(a, b.transpose(), y, *this, threads_);
    else if (ta_ && !tb_) gemm_parallel(a.transpose(), b, y, *this, threads_);
    else gemm_parallel(a.transpose(), b.transpose(), y, *this, threads_);
    if (alpha_ != 1.f) y *= alpha_;
    if (in.size() > 2 && in[2] && beta_ != 0.f) {
      const Tensor& c = *in[2];
      auto st = broadcast_strides(c.shape(), {m_, n_});
      const float* cp = c.ptr<float>();
      for (int64_t i = 0; i < m_; ++i)
        for (int64_t j = 0; j < n_; ++j) y(i, j) += beta_ * cp[i * st[0] + j * st[1]];
    }
    act_.apply(out[0]->ptr<float>(), static_cast<size_t>(m_ * n_));
  }
  Activation act_;
  bool ta_ = false, tb_ = false;
  int64_t m_ = 0, k_ = 0, n_ = 0;
  float alpha_ = 1, beta_ = 1;
};

// MatMul with numpy semantics: 1-D promotion and broadcast batch dims.
class MatMulOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    need_f32(in, 1);
    Shape a = in.t[0]->shape(), b = in.t[1]->shape();
    if (a.empty() || b.empty()) fail("scalar inputs are not allowed");
    const bool a1 = a.size() == 1, b1 = b.size() == 1;
    if (a1) a.insert(a.begin(), 1);
    if (b1) b.push_back(1);
    m_ = a[a.size() - 2];
    k_ = a.back();
    n_ = b.back();
    if (b[b.size() - 2] != k_) fail("inner dims differ: " + shape_str(in.t[0]->shape()) + " x " + shape_str(in.t[1]->shape()));
    Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
    batch_ = broadcast_shapes(ab, bb, node_);
    sa_ = broadcast_strides(ab, batch_);
    sb_ = broadcast_strides(bb, batch_);
    Shape o = batch_;
    if (!a1) o.push_back(m_);
    if (!b1) o.push_back(n_);
    out[0] = {DType::f32, o};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const int64_t nb = numel(batch_);
    if (nb == 1) {  // one product: its columns or rows across the threads
      Eigen::Map<const MatRM> a(in[0]->ptr<float>(), m_, k_);
      Eigen::Map<const MatRM> b(in[1]->ptr<float>(), k_, n_);
      Eigen::Map<MatRM> y(out[0]->ptr<float>(), m_, n_);
      gemm_parallel(a, b, y, *this, threads_);
      return;
    }
    auto bst = contiguous_strides(batch_);
    const TsanRegion tsan_region;  // op.h: the pool's hand-off, for ThreadSanitizer builds
#pragma omp parallel num_threads(threads_)
    {
      const TsanTask tsan_task;
      const DenormalsAsZero flush;  // each thread of the region (base/denormals.h)
#pragma omp for schedule(static)
      for (int64_t i = 0; i < nb; ++i) {
        int64_t oa = 0, ob = 0, rem = i;
        for (size_t d = 0; d < batch_.size(); ++d) {
          int64_t c = rem / bst[d];
          rem %= bst[d];
          oa += c * sa_[d];
          ob += c * sb_[d];
        }
        Eigen::Map<const MatRM> a(in[0]->ptr<float>() + oa * m_ * k_, m_, k_);
        Eigen::Map<const MatRM> b(in[1]->ptr<float>() + ob * k_ * n_, k_, n_);
        Eigen::Map<MatRM> y(out[0]->ptr<float>() + i * m_ * n_, m_, n_);
        y.noalias() = a * b;
      }
    }
  }
  Shape batch_;
  std::vector<int64_t> sa_, sb_;
  int64_t m_ = 0, k_ = 0, n_ = 0;
};

class SoftmaxOp : public Op {
 public:
  SoftmaxOp(const Node& n, int64_t o, bool log) : Op(n, o), log_(log) {}
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    const Shape& x = in.t[0]->shape();
    int64_t r = static_cast<int64_t>(x.size());
    int64_t axis = norm_axis(node_.attr_i("axis", opset_ < 13 ? 1 : -1), r, node_);
    outer_ = 1; dim_ = 1; inner_ = 1;
    if (opset_ < 13) {  // coerced to 2-D [prod(:axis), prod(axis:)]
      for (int64_t d = 0; d < axis; ++d) outer_ *= x[static_cast<size_t>(d)];
      for (int64_t d = axis; d < r; ++d) dim_ *= x[static_cast<size_t>(d)];
    } else {
      for (int64_t d = 0; d < axis; ++d) outer_ *= x[static_cast<size_t>(d)];
      dim_ = x[static_cast<size_t>(axis)];
      for (int64_t d = axis + 1; d < r; ++d) inner_ *= x[static_cast<size_t>(d)];
    }
    out[0] = {DType::f32, x};
  }
  // Each softmax reads dim_ values inner_ apart. inner_ > 1 (YOLOv8's distribution focal loss: 16 bins over
  // thousands of boxes): the inner_ softmaxes of one outer slice run side by side, row by row over contiguous
  // memory (the running max and sum in per-slice buffers), so every loop vectorises. inner_ == 1 (an SSD's
  // class scores: a thousand rows of 21): rows in chunks of about 4096 values, each pass over the whole chunk
  // (x - its row's max, then the exponentials in place, then the sums and the scaling), so the exponentials
  // vectorise across rows however short a row is. Exponentials by exp_approx (relative error < 2e-7). Work
  // items split over the threads.
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const float* x = in[0]->ptr<float>();
    float* y = out[0]->ptr<float>();
    const int64_t inner = inner_, dim = dim_;
    if (inner == 1) {
      const int64_t rows = outer_, chunk = std::max<int64_t>(1, 4096 / dim);
      const int64_t items = (rows + chunk - 1) / chunk;
      auto item = [&](int64_t it) {
        const int64_t r0 = it * chunk, nr = std::min(chunk, rows - r0);
        const float* xs = x + r0 * dim;
        float* ys = y + r0 * dim;
        // maxima and sums 8 rows at a time: 8 independent chains instead of one a row (21 dependent adds of
        // 4 cycles each per row of an SSD's classes)
        constexpr int64_t kG = 8;
        float mx_all[4096], sum[kG];  // a chunk has at most 4096 rows
        for (int64_t g0 = 0; g0 < nr; g0 += kG) {
          const int64_t ng = std::min(kG, nr - g0);
          float* mx = mx_all + g0;
          for (int64_t r = 0; r < ng; ++r) mx[r] = xs[(g0 + r) * dim];
          for (int64_t d = 1; d < dim; ++d)
            for (int64_t r = 0; r < ng; ++r) mx[r] = std::max(mx[r], xs[(g0 + r) * dim + d]);
          for (int64_t r = 0; r < ng; ++r)
            for (int64_t d = 0; d < dim; ++d) ys[(g0 + r) * dim + d] = xs[(g0 + r) * dim + d] - mx[r];
        }
        const int64_t n = nr * dim;
        for (int64_t i = 0; i < n; ++i) ys[i] = exp_approx(ys[i]);  // x - max (log: kept for the subtraction below)
        for (int64_t g0 = 0; g0 < nr; g0 += kG) {
          const int64_t ng = std::min(kG, nr - g0);
          for (int64_t r = 0; r < ng; ++r) sum[r] = 0.f;
          for (int64_t d = 0; d < dim; ++d)
            for (int64_t r = 0; r < ng; ++r) sum[r] += ys[(g0 + r) * dim + d];
          if (log_) {  // log softmax: x - max - log(sum), from the input again
            const float* mx = mx_all + g0;
            for (int64_t r = 0; r < ng; ++r) {
              const float ls = std::log(sum[r]);
              for (int64_t d = 0; d < dim; ++d) ys[(g0 + r) * dim + d] = xs[(g0 + r) * dim + d] - mx[r] - ls;
            }
            continue;
          }
          for (int64_t r = 0; r < ng; ++r) {
            const float inv = 1.f / sum[r];
            for (int64_t d = 0; d < dim; ++d) ys[(g0 + r) * dim + d] *= inv;
          }
        }
      };
      if (rows * dim < (int64_t{1} << 13) || items < 2) {  // 8 Ki values: an SSD's 21 k class scores go over the threads
        for (int64_t it = 0; it < items; ++it) item(it);
      } else {
        parallel_for(items, item);
      }
      return;
    }
    // work items: (outer slice, block of up to 256 inner positions)
    constexpr int64_t kB = 256;
    const int64_t blocks = (inner + kB - 1) / kB, items = outer_ * blocks;
    auto item = [&](int64_t it) {
      float mx[kB], sum[kB];
      const int64_t o = it / blocks, i0 = (it % blocks) * kB, n = std::min(kB, inner - i0);
      const float* xs = x + o * dim * inner + i0;
      float* ys = y + o * dim * inner + i0;
      for (int64_t i = 0; i < n; ++i) mx[i] = xs[i];
      for (int64_t d = 1; d < dim; ++d)
        for (int64_t i = 0; i < n; ++i) mx[i] = std::max(mx[i], xs[d * inner + i]);
      for (int64_t i = 0; i < n; ++i) sum[i] = 0.f;
      for (int64_t d = 0; d < dim; ++d) {
        const float* xr = xs + d * inner;
        float* yr = ys + d * inner;
        for (int64_t i = 0; i < n; ++i) {
          const float e = exp_approx(xr[i] - mx[i]);
          yr[i] = e;
          sum[i] += e;
        }
      }
      if (log_) {
        for (int64_t i = 0; i < n; ++i) sum[i] = std::log(sum[i]);
        for (int64_t d = 0; d < dim; ++d)
          for (int64_t i = 0; i < n; ++i) ys[d * inner + i] = xs[d * inner + i] - mx[i] - sum[i];
      } else {
        for (int64_t i = 0; i < n; ++i) sum[i] = 1.f / sum[i];
        for (int64_t d = 0; d < dim; ++d)
          for (int64_t i = 0; i < n; ++i) ys[d * inner + i] *= sum[i];
      }
    };
    if (outer_ * dim * inner < (int64_t{1} << 15)) {
      for (int64_t it = 0; it < items; ++it) item(it);
    } else {
      parallel_for(items, item);
    }
  }
  bool log_;
  int64_t outer_ = 1, dim_ = 1, inner_ = 1;
};

enum class Red { mean, sum, max, min, prod, l2 };

class ReduceOp : public Op {
 public:
  ReduceOp(const Node& n, int64_t o, Red r) : Op(n, o), red_(r) {}
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    const Shape& x = in.t[0]->shape();
    const int64_t r = static_cast<int64_t>(x.size());
    std::vector<int64_t> axes = node_.attr_ints("axes");
    if (in.has(1)) axes = need_const(in, 1, "axes").to_i64();
    const bool keep = node_.attr_i("keepdims", 1) != 0;
    reduce_.assign(x.size(), axes.empty() && node_.attr_i("noop_with_empty_axes", 0) == 0);
    for (int64_t a : axes) reduce_[static_cast<size_t>(norm_axis(a, r, node_))] = true;
    Shape o, kept;
    for (size_t d = 0; d < x.size(); ++d) {
      if (reduce_[d]) {
        if (keep) o.push_back(1);
        kept.push_back(1);
      } else {
        o.push_back(x[d]);
        kept.push_back(x[d]);
      }
    }
    kept_ = kept;
    out[0] = {DType::f32, o};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& x = in[0]->shape();
    const int64_t n_out = numel(kept_);
    float* y = out[0]->ptr<float>();
    const float init = red_ == Red::max ? -FLT_MAX : red_ == Red::min ? FLT_MAX : red_ == Red::prod ? 1.f : 0.f;
    std::fill(y, y + n_out, init);
    auto ost = contiguous_strides(kept_);
    std::vector<int64_t> idx(x.size(), 0);
    const float* xp = in[0]->ptr<float>();
    const int64_t n = in[0]->numel();
    for (int64_t i = 0; i < n; ++i) {
      int64_t o = 0;
      for (size_t d = 0; d < x.size(); ++d)
        if (!reduce_[d]) o += idx[d] * ost[d];
      const float v = xp[i];
      switch (red_) {
        case Red::mean: case Red::sum: y[o] += v; break;
        case Red::max: y[o] = std::max(y[o], v); break;
        case Red::min: y[o] = std::min(y[o], v); break;
        case Red::prod: y[o] *= v; break;
        case Red::l2: y[o] += v * v; break;
      }
      for (size_t d = x.size(); d-- > 0;) {
        if (++idx[d] < x[d]) break;
        idx[d] = 0;
      }
    }
    if (red_ == Red::mean && n_out) {
      const float cnt = static_cast<float>(n / n_out);
      for (int64_t i = 0; i < n_out; ++i) y[i] /= cnt;
    }
    if (red_ == Red::l2)
      for (int64_t i = 0; i < n_out; ++i) y[i] = std::sqrt(y[i]);
  }
  Red red_;
  std::vector<bool> reduce_;
  Shape kept_;
};

// Resize (opset 10+) and Upsample (opset 7-9): nearest on any rank, linear on the last two dims.
class ResizeOp : public Op {
 public:
  ResizeOp(const Node& n, int64_t o, bool upsample) : Op(n, o), upsample_(upsample) {}
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    const Shape& x = in.t[0]->shape();
    std::vector<double> scales;
    std::vector<int64_t> sizes;
    if (upsample_ && opset_ < 9) {
      for (float f : node_.attr_floats("scales")) scales.push_back(f);
    } else if (upsample_ || opset_ < 11) {
      scales = need_const(in, 1, "scales").to_f64();
    } else {
      if (in.has(2) && in.t[2]->numel() > 0) scales = need_const(in, 2, "scales").to_f64();
      if (in.has(3) && in.t[3]->numel() > 0) sizes = need_const(in, 3, "sizes").to_i64();
    }
    Shape o = x;
    scale_.assign(x.size(), 1.0);
    if (!sizes.empty()) {
      if (sizes.size() != x.size()) fail("sizes " + shape_str(sizes) + " does not match rank " + std::to_string(x.size()));
      for (size_t d = 0; d < x.size(); ++d) {
        if (sizes[d] < 0) fail("sizes " + shape_str(sizes) + " has a negative entry");
        o[d] = sizes[d];
        scale_[d] = static_cast<double>(sizes[d]) / static_cast<double>(x[d]);
      }
    } else {
      if (scales.size() != x.size()) fail("scales has " + std::to_string(scales.size()) + " entries for rank " + std::to_string(x.size()));
      for (size_t d = 0; d < x.size(); ++d) {
        if (!(scales[d] > 0) || !std::isfinite(scales[d])) fail("scale " + std::to_string(scales[d]) + " is not a positive number");
        // the output dimension must be an int64 before the tensor limits can judge it (a scale of 1e23 would
        // make the conversion undefined)
        const double od = std::floor(static_cast<double>(x[d]) * scales[d]);
        if (!(od < 9.0e18)) fail("scale " + std::to_string(scales[d]) + " makes dimension " + std::to_string(d) + " of " + shape_str(x) + " too large");
        o[d] = static_cast<int64_t>(od);
        scale_[d] = scales[d];
      }
    }
    mode_ = node_.attr_s("mode", "nearest");
    if (mode_ == "bilinear") mode_ = "linear";
    if (mode_ != "nearest" && mode_ != "linear") fail("mode '" + mode_ + "' is not supported");
    coord_ = (upsample_ || opset_ < 11) ? "asymmetric" : node_.attr_s("coordinate_transformation_mode", "half_pixel");
    nearest_ = (upsample_ || opset_ < 11) ? "floor" : node_.attr_s("nearest_mode", "round_prefer_floor");
    if (coord_ != "half_pixel" && coord_ != "pytorch_half_pixel" && coord_ != "align_corners" && coord_ != "asymmetric" &&
        coord_ != "tf_half_pixel_for_nearest")
      fail("coordinate_transformation_mode '" + coord_ + "' is not supported");
    if (mode_ == "linear") {
      if (x.size() < 2) fail("linear resize needs rank >= 2");
      // the last two axes (NCHW), or the two before an unchanged last axis (NHWC: whole channel runs blended)
      bool last_two = true, nhwc = x.size() >= 3 && o.back() == x.back() && scale_.back() == 1.0;
      for (size_t d = 0; d + 2 < x.size(); ++d) last_two = last_two && o[d] == x[d];
      for (size_t d = 0; d + 3 < x.size(); ++d) nhwc = nhwc && o[d] == x[d];
      if (!last_two && !nhwc) fail("linear resize of dims other than the last two is not supported");
      channels_last_ = !last_two;
    }
    out[0] = {DType::f32, o};
  }
  double src_coord(double xo, size_t d, int64_t in_len, int64_t out_len) const {
    const double s = scale_[d];
    if (coord_ == "half_pixel") return (xo + 0.5) / s - 0.5;
    if (coord_ == "pytorch_half_pixel") return out_len > 1 ? (xo + 0.5) / s - 0.5 : 0.0;
    if (coord_ == "align_corners") return out_len > 1 ? xo * static_cast<double>(in_len - 1) / static_cast<double>(out_len - 1) : 0.0;
    if (coord_ == "tf_half_pixel_for_nearest") return (xo + 0.5) / s;
    return xo / s;  // asymmetric
  }
  int64_t nearest_index(double c, int64_t in_len) const {
    double r;
    if (nearest_ == "floor") r = std::floor(c);
    else if (nearest_ == "ceil") r = std::ceil(c);
    else if (nearest_ == "round_prefer_ceil") r = std::floor(c + 0.5);
    else r = (c - std::floor(c) == 0.5) ? std::floor(c) : std::round(c);  // round_prefer_floor
    return std::clamp<int64_t>(static_cast<int64_t>(r), 0, in_len - 1);
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Shape& x = in[0]->shape();
    const Shape& o = out[0]->shape();
    const float* xp = in[0]->ptr<float>();
    float* yp = out[0]->ptr<float>();
    const size_t r = x.size();
    if (mode_ == "nearest") {
      std::vector<std::vector<int64_t>> src(r);
      for (size_t d = 0; d < r; ++d)
        for (int64_t i = 0; i < o[d]; ++i) src[d].push_back(nearest_index(src_coord(static_cast<double>(i), d, x[d], o[d]), x[d]));
      auto ist = contiguous_strides(x);
      // the last axis unchanged (channels of an NHWC tensor): copy whole runs of it
      bool last_same = o[r - 1] == x[r - 1];
      for (int64_t i = 0; last_same && i < o[r - 1]; ++i) last_same = src[r - 1][static_cast<size_t>(i)] == i;
      if (last_same && r >= 2) {
        // rows of o[r-2] positions of `run` values each: blocks of rows on the threads (output row i reads the
        // input rows near i / scale, which the layer before wrote on the same thread of a pixel split); a row
        // whose source row is the previous row's (2x upsampling) is a copy of that output row
        const int64_t run = x[r - 1], ow = o[r - 2], rows = out[0]->numel() / std::max<int64_t>(run * ow, 1);
        const size_t rd = r - 2;  // the axis within a row
        auto row_src = [&](int64_t row) {
          int64_t s = 0;
          for (size_t d = rd; d-- > 0;) {
            s += src[d][static_cast<size_t>(row % o[d])] * ist[d];
            row /= o[d];
          }
          return s;
        };
        const size_t row_bytes = static_cast<size_t>(ow * run) * sizeof(float), run_bytes = static_cast<size_t>(run) * sizeof(float);
        const int64_t blocks = numel(o) < (int64_t{1} << 14) ? 1 : std::min<int64_t>(rows, 4 * threads());
        parallel_for(blocks, [&](int64_t b) {
          int64_t prev = -1;
          for (int64_t row = b * rows / blocks, end = (b + 1) * rows / blocks; row < end; ++row) {
            const int64_t s = row_src(row);
            float* d = yp + row * ow * run;
            if (s == prev) {
              std::memcpy(d, d - ow * run, row_bytes);
              continue;
            }
            prev = s;
            for (int64_t j = 0; j < ow; ++j) std::memcpy(d + j * run, xp + s + src[rd][static_cast<size_t>(j)] * ist[rd], run_bytes);
          }
        });
        return;
      }
      std::vector<int64_t> idx(r, 0);
      for (int64_t i = 0; i < out[0]->numel(); ++i) {
        int64_t s = 0;
        for (size_t d = 0; d < r; ++d) s += src[d][static_cast<size_t>(idx[d])] * ist[d];
        yp[i] = xp[s];
        for (size_t d = r; d-- > 0;) {
          if (++idx[d] < o[d]) break;
          idx[d] = 0;
        }
      }
      return;
    }
    // the two resized axes end at `ax` + 1; `run` values (channels) per position (1 on NCHW)
    const size_t ax = channels_last_ ? r - 2 : r - 1;
    const int64_t ih = x[ax - 1], iw = x[ax], oh = o[ax - 1], ow = o[ax], run = channels_last_ ? x[r - 1] : 1;
    const int64_t planes = numel(x) / (ih * iw * run);
    std::vector<int64_t> y0(static_cast<size_t>(oh)), y1(static_cast<size_t>(oh)), x0(static_cast<size_t>(ow)), x1(static_cast<size_t>(ow));
    std::vector<float> wy(static_cast<size_t>(oh)), wx(static_cast<size_t>(ow));
    auto lin = [&](int64_t len_in, int64_t len_out, size_t d, std::vector<int64_t>& lo, std::vector<int64_t>& hi, std::vector<float>& w) {
      for (int64_t i = 0; i < len_out; ++i) {
        double c = std::clamp(src_coord(static_cast<double>(i), d, len_in, len_out), 0.0, static_cast<double>(len_in - 1));
        int64_t f = static_cast<int64_t>(std::floor(c));
        lo[static_cast<size_t>(i)] = f;
        hi[static_cast<size_t>(i)] = std::min(f + 1, len_in - 1);
        w[static_cast<size_t>(i)] = static_cast<float>(c - static_cast<double>(f));
      }
    };
    lin(ih, oh, ax - 1, y0, y1, wy);
    lin(iw, ow, ax, x0, x1, wx);
    if (channels_last_) {  // NHWC: each output pixel blends four input pixels' channel runs (vectorised over C)
      std::vector<int64_t> o0(static_cast<size_t>(ow)), o1(static_cast<size_t>(ow));  // the pixels' element offsets
      for (size_t j = 0; j < o0.size(); ++j) {
        o0[j] = x0[j] * run;
        o1[j] = x1[j] * run;
      }
      const bool vector = resize_avx512_available();
      auto row = [&](int64_t pr) {
        const int64_t p = pr / oh, i = pr % oh;
        const float* r0 = xp + (p * ih + y0[static_cast<size_t>(i)]) * iw * run;
        const float* r1 = xp + (p * ih + y1[static_cast<size_t>(i)]) * iw * run;
        const float fy = wy[static_cast<size_t>(i)];
        float* d = yp + (p * oh + i) * ow * run;
#if defined(EC_HAVE_RESIZE_AVX512)
        if (vector) return resize_blend_row_avx512(r0, r1, o0.data(), o1.data(), wx.data(), fy, ow, run, d);
#endif
        (void)vector;
        for (int64_t j = 0; j < ow; ++j) {
          const size_t jj = static_cast<size_t>(j);
          const float fx = wx[jj];
          const float *a = r0 + o0[jj], *b = r0 + o1[jj], *c = r1 + o0[jj], *e = r1 + o1[jj];
          float* dj = d + j * run;
          for (int64_t k = 0; k < run; ++k) {
            const float top = a[k] + (b[k] - a[k]) * fx;
            const float bot = c[k] + (e[k] - c[k]) * fx;
            dj[k] = top + (bot - top) * fy;
          }
        }
      };
      if (numel(o) < (int64_t{1} << 15)) {
        for (int64_t pr = 0; pr < planes * oh; ++pr) row(pr);
      } else {
        parallel_for(planes * oh, row);
      }
      return;
    }
    for (int64_t p = 0; p < planes; ++p) {
      const float* s = xp + p * ih * iw;
      float* d = yp + p * oh * ow;
      for (int64_t i = 0; i < oh; ++i) {
        const float* r0 = s + y0[static_cast<size_t>(i)] * iw;
        const float* r1 = s + y1[static_cast<size_t>(i)] * iw;
        const float fy = wy[static_cast<size_t>(i)];
        for (int64_t j = 0; j < ow; ++j) {
          const size_t jj = static_cast<size_t>(j);
          const float fx = wx[jj];
          const float top = r0[x0[jj]] + (r0[x1[jj]] - r0[x0[jj]]) * fx;
          const float bot = r1[x0[jj]] + (r1[x1[jj]] - r1[x0[jj]]) * fx;
          d[i * ow + j] = top + (bot - top) * fy;
        }
      }
    }
  }
  bool upsample_;
  bool channels_last_ = false;  // linear on axes rank-3, rank-2 (NHWC data)
  std::vector<double> scale_;
  std::string mode_, coord_, nearest_;
};

template <class T>
std::unique_ptr<Op> make(const Node& n, int64_t o) { return std::make_unique<T>(n, o); }

}  // namespace

namespace {
bool g_resize_vector = true;
}  // namespace

bool resize_avx512_available() {
#if defined(EC_HAVE_RESIZE_AVX512) && defined(__x86_64__)
  static const bool cpu = __builtin_cpu_supports("avx512f");
  return cpu && g_resize_vector;
#else
  return false;
#endif
}
void set_resize_vector_kernel(bool enabled) { g_resize_vector = enabled; }

void register_nn_ops(std::map<std::string, OpFactory>& r) {
  r["Conv"] = make<ConvOp>;
  r["ConvTranspose"] = make<ConvTransposeOp>;
  r["BatchNormalization"] = make<BatchNormOp>;
  r["MaxPool"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<PoolOp>(n, o, true, false); };
  r["AveragePool"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<PoolOp>(n, o, false, false); };
  r["GlobalAveragePool"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<PoolOp>(n, o, false, true); };
  r["GlobalMaxPool"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<PoolOp>(n, o, true, true); };
  r["Gemm"] = make<GemmOp>;
  r["MatMul"] = make<MatMulOp>;
  r["Softmax"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<SoftmaxOp>(n, o, false); };
  r["LogSoftmax"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<SoftmaxOp>(n, o, true); };
  r["ReduceMean"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<ReduceOp>(n, o, Red::mean); };
  r["ReduceSum"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<ReduceOp>(n, o, Red::sum); };
  r["ReduceMax"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<ReduceOp>(n, o, Red::max); };
  r["ReduceMin"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<ReduceOp>(n, o, Red::min); };
  r["ReduceProd"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<ReduceOp>(n, o, Red::prod); };
  r["ReduceL2"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<ReduceOp>(n, o, Red::l2); };
  r["Resize"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<ResizeOp>(n, o, false); };
  r["Upsample"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<ResizeOp>(n, o, true); };
}

}  // namespace ec
