// QuantizeLinear / DequantizeLinear (per-tensor or per-axis scale and zero point), reference kernels.
#include <algorithm>
#include <cmath>

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

template <class T>
std::unique_ptr<Op> make(const Node& n, int64_t o) { return std::make_unique<T>(n, o); }

}  // namespace

void register_quant_ops(std::map<std::string, OpFactory>& r) {
  r["QuantizeLinear"] = make<QuantizeOp>;
  r["DequantizeLinear"] = make<DequantizeOp>;
}

}  // namespace ec
