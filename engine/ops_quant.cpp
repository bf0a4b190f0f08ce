// QuantizeLinear / DequantizeLinear (per-tensor or per-axis scale and zero point), reference kernels.
#include <algorithm>
#include <cmath>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include "lut.h"
#include "op.h"

namespace ec {
namespace {

// Shared scale/zero-point handling: per-tensor (scalar or 1 element) or per-axis along `axis`.
struct QParams {
  int64_t axis = 1, outer = 1, dim = 1, inner = 1;
  bool per_axis = false;

  void setup(const Node& n, int64_t opset, const Shape& x, const Tensor& scale, const Tensor* zp) {
    per_axis = scale.numel() > 1;
    if (zp && zp->numel() != scale.numel())
      throw Error(n.label() + ": zero point has " + std::to_string(zp->numel()) + " values, scale has " + std::to_string(scale.numel()));
    outer = 1; dim = 1; inner = 1;
    if (!per_axis) {
      inner = numel(x);
      return;
    }
    if (opset < 13) throw Error(n.label() + ": per-axis quantization needs opset 13");
    axis = norm_axis(n.attr_i("axis", 1), static_cast<int64_t>(x.size()), n);
    dim = x[static_cast<size_t>(axis)];
    if (scale.numel() != dim)
      throw Error(n.label() + ": scale has " + std::to_string(scale.numel()) + " values for axis dim " + std::to_string(dim));
    for (int64_t d = 0; d < axis; ++d) outer *= x[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis) + 1; d < x.size(); ++d) inner *= x[d];
  }
};

int32_t zp_at(const Tensor* zp, int64_t i) {
  if (!zp) return 0;
  switch (zp->dtype()) {
    case DType::u8: return zp->ptr<uint8_t>()[i];
    case DType::i8: return zp->ptr<int8_t>()[i];
    case DType::i32: return zp->ptr<int32_t>()[i];
    default: return 0;
  }
}

class QuantizeOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    need_f32(in, 1);
    DType t = in.has(2) ? in.t[2]->dtype() : DType::u8;
    if (t != DType::u8 && t != DType::i8) fail("output type " + std::string(dtype_name(t)) + " is not supported (uint8/int8 only)");
    q_.setup(node_, opset_, in.t[0]->shape(), *in.t[1], in.has(2) ? in.t[2] : nullptr);
    out[0] = {t, in.t[0]->shape()};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const float* x = in[0]->ptr<float>();
    const float* sc = in[1]->ptr<float>();
    const Tensor* zp = in.size() > 2 ? in[2] : nullptr;
    const bool is_u8 = out[0]->dtype() == DType::u8;
    const int32_t lo = is_u8 ? 0 : -128, hi = is_u8 ? 255 : 127;
    for (int64_t o = 0; o < q_.outer; ++o)
      for (int64_t c = 0; c < q_.dim; ++c) {
        const float s = sc[c];
        const int32_t z = zp_at(zp, c);
        const int64_t base = (o * q_.dim + c) * q_.inner;
        for (int64_t i = 0; i < q_.inner; ++i) {
          // round half to even, as ONNX specifies
          const int32_t q = std::clamp(static_cast<int32_t>(std::nearbyint(x[base + i] / s)) + z, lo, hi);
          if (is_u8) out[0]->ptr<uint8_t>()[base + i] = static_cast<uint8_t>(q);
          else out[0]->ptr<int8_t>()[base + i] = static_cast<int8_t>(q);
        }
      }
  }
  QParams q_;
};

class DequantizeOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0)) fail("input is missing");
    DType t = in.t[0]->dtype();
    if (t != DType::u8 && t != DType::i8 && t != DType::i32) fail("input type " + std::string(dtype_name(t)) + " is not supported");
    need_f32(in, 1);
    q_.setup(node_, opset_, in.t[0]->shape(), *in.t[1], in.has(2) ? in.t[2] : nullptr);
    out[0] = {DType::f32, in.t[0]->shape()};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Tensor& x = *in[0];
    const float* sc = in[1]->ptr<float>();
    const Tensor* zp = in.size() > 2 ? in[2] : nullptr;
    float* y = out[0]->ptr<float>();
    for (int64_t o = 0; o < q_.outer; ++o)
      for (int64_t c = 0; c < q_.dim; ++c) {
        const float s = sc[c];
        const int32_t z = zp_at(zp, c);
        const int64_t base = (o * q_.dim + c) * q_.inner;
        for (int64_t i = 0; i < q_.inner; ++i) {
          int32_t v = x.dtype() == DType::u8 ? x.ptr<uint8_t>()[base + i]
                      : x.dtype() == DType::i8 ? x.ptr<int8_t>()[base + i]
                                               : x.ptr<int32_t>()[base + i];
          y[base + i] = static_cast<float>(v - z) * s;
        }
      }
  }
  QParams q_;
};

// DynamicQuantizeLinear: uint8 asymmetric quantization with the range of x computed at run time.
class DynamicQuantizeOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    out[0] = {DType::u8, in.t[0]->shape()};
    if (out.size() > 1) out[1] = {DType::f32, {}};
    if (out.size() > 2) out[2] = {DType::u8, {}};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const float* x = in[0]->ptr<float>();
    const int64_t n = in[0]->numel();
    float lo = 0, hi = 0;  // the range always includes 0
    for (int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    const float scale = hi > lo ? (hi - lo) / 255.f : 1.f;
    const int32_t zp = std::clamp(static_cast<int32_t>(std::nearbyint(-lo / scale)), 0, 255);
    uint8_t* y = out[0]->ptr<uint8_t>();
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<uint8_t>(std::clamp(static_cast<int32_t>(std::nearbyint(x[i] / scale)) + zp, 0, 255));
    if (out.size() > 1 && out[1]) out[1]->ptr<float>()[0] = scale;
    if (out.size() > 2 && out[2]) out[2]->ptr<uint8_t>()[0] = static_cast<uint8_t>(zp);
  }
};

// MatMulInteger: int32 products of (a - a_zero) and (b - b_zero) for uint8/int8 inputs; A [..., M, K] with
// B [K, N]; zero points scalar (or per column of B).
class MatMulIntegerOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0) || !in.has(1)) fail("expects A and B");
    for (size_t i : {size_t{0}, size_t{1}}) {
      const DType d = in.t[i]->dtype();
      if (d != DType::u8 && d != DType::i8) fail("inputs must be uint8 or int8");
    }
    const Shape& a = in.t[0]->shape();
    const Shape& b = in.t[1]->shape();
    if (a.size() < 2 || b.size() != 2 || a.back() != b[0]) fail("shapes " + shape_str(a) + " x " + shape_str(b) + " are not supported (B must be 2-D)");
    if (in.has(2) && in.t[2]->numel() != 1) fail("per-row A zero points are not supported");
    if (in.has(3) && in.t[3]->numel() != 1 && in.t[3]->numel() != b[1]) fail("B zero point must be a scalar or one per column");
    Shape o = a;
    o.back() = b[1];
    out[0] = {DType::i32, o};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Tensor &A = *in[0], &B = *in[1];
    const int64_t K = B.dim(0), N = B.dim(1), M = A.numel() / K;
    auto at = [](const Tensor& t, int64_t i) -> int32_t { return t.dtype() == DType::u8 ? t.ptr<uint8_t>()[i] : t.ptr<int8_t>()[i]; };
    const int32_t az = in.size() > 2 && in[2] ? at(*in[2], 0) : 0;
    const Tensor* bz = in.size() > 3 ? in[3] : nullptr;
    int32_t* y = out[0]->ptr<int32_t>();
    std::vector<int32_t> bcol(static_cast<size_t>(K));
    for (int64_t n = 0; n < N; ++n) {
      const int32_t z = bz ? at(*bz, bz->numel() == 1 ? 0 : n) : 0;
      for (int64_t k = 0; k < K; ++k) bcol[static_cast<size_t>(k)] = at(B, k * N + n) - z;
      for (int64_t m = 0; m < M; ++m) {
        int32_t s = 0;
        for (int64_t k = 0; k < K; ++k) s += (at(A, m * K + k) - az) * bcol[static_cast<size_t>(k)];
        y[m * N + n] = s;
      }
    }
  }
};

// QLut (internal, made by fuse_int8_lookup_tables): y[i] = table[x[i] + 128] for int8 x, table int8[256];
// inputs 2 and 3 (the output's scale and zero point) describe y for the passes after it. Any layout.
class QLutOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0) || in.t[0]->dtype() != DType::i8) fail("input must be int8");
    const Tensor& t = need_const(in, 1, "table");
    if (t.dtype() != DType::i8 || t.numel() != 256) fail("table " + shape_str(t.shape()) + " must be 256 int8 values");
    out[0] = {DType::i8, in.t[0]->shape()};
  }
  int inplace_input() const override { return 0; }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const int8_t* x = in[0]->ptr<int8_t>();
    const int8_t* t = in[1]->ptr<int8_t>();
    int8_t* y = out[0]->ptr<int8_t>();
    const int64_t n = in[0]->numel();
    constexpr int64_t kBlock = 1 << 16;
    auto block = [&](int64_t b) {
      const int64_t i1 = std::min(n, (b + 1) * kBlock);
      lut_int8(x + b * kBlock, t, y + b * kBlock, static_cast<size_t>(i1 - b * kBlock));
    };
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    if (blocks < 2) block(0);
    else parallel_for(blocks, block);
  }
};

// WGemm (internal, made by int8_weight_gemms): y[m][n] = act(alpha * ws[n] * sum_k x[m][k] w[n][k] + beta * c[n]),
// x float [M][K], w int8 [N][K] (ONNX Gemm with transB = 1 and B = DequantizeLinear(w, ws)), ws one scale or N,
// c float N values or absent. The int8 rows are converted as they are multiplied: each run reads a quarter of
// the bytes the folded float weights would take (a classifier's 1280 x 1000 weights: 1.3 MB, not 5.1 MB).
class WGemmOp : public Op {
 public:
  WGemmOp(const Node& n, int64_t o) : Op(n, o), act_(Activation::from_node(n)) {}
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    const Tensor& w = need_const(in, 1, "int8 weight");
    const Tensor& ws = need_const(in, 3, "weight scale");
    const Shape& a = in.t[0]->shape();
    if (w.dtype() != DType::i8 || w.rank() != 2) fail("weight " + shape_str(w.shape()) + " must be 2-D int8");
    n_ = w.dim(0);
    k_ = w.dim(1);
    if (a.size() != 2 || a[1] != k_) fail("input " + shape_str(a) + " does not match weight " + shape_str(w.shape()));
    if (ws.dtype() != DType::f32 || (ws.numel() != 1 && ws.numel() != n_)) fail("weight scale " + shape_str(ws.shape()) + " is not per-tensor or per-row");
    if (in.has(2) && (in.t[2]->dtype() != DType::f32 || in.t[2]->numel() != n_)) fail("C " + shape_str(in.t[2]->shape()) + " must be " + std::to_string(n_) + " floats");
    m_ = a[0];
    alpha_ = node_.attr_f("alpha", 1.f);
    beta_ = node_.attr_f("beta", 1.f);
    out[0] = {DType::f32, {m_, n_}};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const float* x = in[0]->ptr<float>();
    const int8_t* w = in[1]->ptr<int8_t>();
    const float* c = in.size() > 2 && in[2] ? in[2]->ptr<float>() : nullptr;
    const Tensor& wst = *in[3];
    const float* ws = wst.ptr<float>();
    const bool per_row = wst.numel() > 1;
    float* y = out[0]->ptr<float>();
    const int64_t k = k_, n = n_, m = m_;
    // blocks of 64 output rows: each reads its weight rows once for every input row
    constexpr int64_t kRows = 64;
    const int64_t blocks = (n + kRows - 1) / kRows;
    auto block = [&](int64_t b) {
      const int64_t n0 = b * kRows, n1 = std::min(n, n0 + kRows);
      for (int64_t r = 0; r < m; ++r) {
        const float* xr = x + r * k;
        for (int64_t j = n0; j < n1; ++j) {
          const int8_t* wr = w + j * k;
          const float sum = dot(xr, wr, k);
          float v = alpha_ * ws[per_row ? j : 0] * sum;
          if (c) v += beta_ * c[j];
          y[r * n + j] = v;
        }
      }
    };
    if (blocks < 2 || m * n * k < (int64_t{1} << 18)) {
      for (int64_t b = 0; b < blocks; ++b) block(b);
    } else {
      parallel_for(blocks, block);
    }
    act_.apply(y, static_cast<size_t>(m * n));
  }

 private:
  // sum_i x[i] * w[i] over k values: AVX2 + FMA (4 x 8 partial sums) or NEON on AArch64 (4 x 4), the int8
  // widened in registers, else the plain loop
  static float dot(const float* x, const int8_t* w, int64_t k) {
    int64_t i = 0;
    float sum = 0.f;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    auto wv = [&](int64_t at) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w + at)))); };
    for (; i + 32 <= k; i += 32) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), wv(i), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), wv(i + 8), a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), wv(i + 16), a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), wv(i + 24), a3);
    }
    const __m256 t = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    sum = _mm_cvtss_f32(h);
#elif defined(__aarch64__) && defined(__ARM_NEON)
    float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 16 <= k; i += 16) {
      const int8x16_t b = vld1q_s8(w + i);
      const int16x8_t lo = vmovl_s8(vget_low_s8(b)), hi = vmovl_s8(vget_high_s8(b));
      a0 = vfmaq_f32(a0, vld1q_f32(x + i), vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))));
      a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo))));
      a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))));
      a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi))));
    }
    sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
#endif
    for (; i < k; ++i) sum += x[i] * static_cast<float>(w[i]);
    return sum;
  }

  Activation act_;
  int64_t m_ = 0, n_ = 0, k_ = 0;
  float alpha_ = 1, beta_ = 1;
};

template <class T>
std::unique_ptr<Op> make(const Node& n, int64_t o) { return std::make_unique<T>(n, o); }

}  // namespace

void register_internal_ops(std::map<std::string, OpFactory>& r) {
  r["QLut"] = make<QLutOp>;
  r["WGemm"] = make<WGemmOp>;
}

void register_quant_ops(std::map<std::string, OpFactory>& r) {
  r["QuantizeLinear"] = make<QuantizeOp>;
  r["DequantizeLinear"] = make<DequantizeOp>;
  r["DynamicQuantizeLinear"] = make<DynamicQuantizeOp>;
  r["MatMulInteger"] = make<MatMulIntegerOp>;
}

}  // namespace ec
