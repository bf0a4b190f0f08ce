// Elementwise kernels: binary arithmetic and comparisons with numpy broadcasting, unary activations,
// Clip, Where, Cast, Identity.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "broadcast.h"
#include "op.h"

namespace ec {
namespace {

enum class Bin { add, sub, mul, div, pow, max, min, mod, prelu, eq, lt, gt, le, ge, and_, or_ };

bool is_compare(Bin b) { return b == Bin::eq || b == Bin::lt || b == Bin::gt || b == Bin::le || b == Bin::ge || b == Bin::and_ || b == Bin::or_; }

template <class T>
inline T bin_apply(Bin op, T a, T b) {
  switch (op) {
    case Bin::add: return a + b;
    case Bin::sub: return a - b;
    case Bin::mul: return a * b;
    case Bin::div: return b == T(0) && std::is_integral<T>::value ? T(0) : a / b;
    case Bin::pow: return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    case Bin::max: return a > b ? a : b;
    case Bin::min: return a < b ? a : b;
    case Bin::mod:
      if constexpr (std::is_integral<T>::value) {
        if (b == 0) return 0;
        T r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
      } else {
        return std::fmod(a, b);
      }
    case Bin::prelu: return a >= T(0) ? a : a * b;
    default: return T(0);
  }
}

template <class T>
inline uint8_t cmp_apply(Bin op, T a, T b) {
  switch (op) {
    case Bin::eq: return a == b;
    case Bin::lt: return a < b;
    case Bin::gt: return a > b;
    case Bin::le: return a <= b;
    case Bin::ge: return a >= b;
    case Bin::and_: return (a != T(0)) && (b != T(0));
    case Bin::or_: return (a != T(0)) || (b != T(0));
    default: return 0;
  }
}

class BinaryOp : public Op {
 public:
  BinaryOp(const Node& n, int64_t opset, Bin b) : Op(n, opset), bin_(b), act_(Activation::from_node(n)) {}

  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (in.size() == 1 && (bin_ == Bin::max || bin_ == Bin::min || bin_ == Bin::add)) {  // 1-input Max/Min/Sum
      out[0] = {in.t[0]->dtype(), in.t[0]->shape()};
      unary_copy_ = true;
      return;
    }
    if (in.size() != 2 || !in.has(0) || !in.has(1)) fail("expects 2 inputs, got " + std::to_string(in.size()));
    DType a = in.t[0]->dtype(), b = in.t[1]->dtype();
    if (a != DType::f32 && a != DType::i64 && a != DType::i32 && a != DType::boolean)
      fail("input dtype " + std::string(dtype_name(a)) + " is not supported");
    if (a != b) {
      if (bin_ == Bin::pow && a == DType::f32) {
        exp_f32_ = Tensor(DType::f32, in.t[1]->shape());  // exponent converted each run (tiny)
      } else {
        fail(std::string("inputs have different dtypes ") + dtype_name(a) + " and " + dtype_name(b));
      }
    }
    shape_ = broadcast_shapes(in.t[0]->shape(), in.t[1]->shape(), node_);
    out[0] = {is_compare(bin_) ? DType::boolean : a, shape_};
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    if (unary_copy_) {
      std::memcpy(out[0]->data(), in[0]->data(), in[0]->size_bytes());
      return;
    }
    const Tensor* b = in[1];
    if (exp_f32_.data() != nullptr && in[1]->dtype() != DType::f32) {
      auto v = in[1]->to_f64();
      for (size_t i = 0; i < v.size(); ++i) exp_f32_.ptr<float>()[i] = static_cast<float>(v[i]);
      b = &exp_f32_;
    }
    switch (in[0]->dtype()) {
      case DType::f32:
        go<float>(*in[0], *b, *out[0]);
        act_.apply(out[0]->ptr<float>(), static_cast<size_t>(out[0]->numel()));  // a fused activation (Add + Relu)
        break;
      case DType::i64: go<int64_t>(*in[0], *b, *out[0]); break;
      case DType::i32: go<int32_t>(*in[0], *b, *out[0]); break;
      case DType::boolean: go<uint8_t>(*in[0], *b, *out[0]); break;
      default: fail("unsupported dtype");
    }
  }

 private:
  template <class T>
  void go(const Tensor& A, const Tensor& B, Tensor& O) {
    const T* a = A.ptr<T>();
    const T* b = B.ptr<T>();
    const Bin op = bin_;
    std::array<std::vector<int64_t>, 2> st{broadcast_strides(A.shape(), shape_), broadcast_strides(B.shape(), shape_)};
    if (is_compare(op)) {
      uint8_t* o = O.ptr<uint8_t>();
      broadcast_for_each<2>(shape_, st, [&](int64_t oo, const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& s) {
        for (int64_t i = 0; i < n; ++i) o[oo + i] = cmp_apply<T>(op, a[off[0] + i * s[0]], b[off[1] + i * s[1]]);
      });
      return;
    }
    T* o = O.ptr<T>();
    if (A.shape() == shape_ && B.shape() == shape_ && (op == Bin::add || op == Bin::mul)) {  // same shapes: one flat loop
      const int64_t n = O.numel();
      if (op == Bin::add)
        for (int64_t i = 0; i < n; ++i) o[i] = a[i] + b[i];
      else
        for (int64_t i = 0; i < n; ++i) o[i] = a[i] * b[i];
      return;
    }
    broadcast_for_each<2>(shape_, st, [&](int64_t oo, const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& s) {
      const T* pa = a + off[0];
      const T* pb = b + off[1];
      T* po = o + oo;
      if (s[0] == 1 && s[1] == 1) {
        switch (op) {
          case Bin::add: for (int64_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i]; return;
          case Bin::mul: for (int64_t i = 0; i < n; ++i) po[i] = pa[i] * pb[i]; return;
          default: break;
        }
      } else if (s[0] == 1 && s[1] == 0) {
        const T bv = *pb;
        switch (op) {
          case Bin::add: for (int64_t i = 0; i < n; ++i) po[i] = pa[i] + bv; return;
          case Bin::mul: for (int64_t i = 0; i < n; ++i) po[i] = pa[i] * bv; return;
          default: break;
        }
      }
      for (int64_t i = 0; i < n; ++i) po[i] = bin_apply<T>(op, pa[i * s[0]], pb[i * s[1]]);
    });
  }

  Bin bin_;
  Activation act_;
  Shape shape_;
  bool unary_copy_ = false;
  Tensor exp_f32_;
};

enum class Un { relu, leaky_relu, sigmoid, hard_sigmoid, hard_swish, tanh, sqrt, exp, log, neg, abs, floor, ceil,
                reciprocal, erf, softplus, elu, selu, mish, not_, round, sign, identity };

class UnaryOp : public Op {
 public:
  int inplace_ = -1;
  UnaryOp(const Node& n, int64_t opset, Un u) : Op(n, opset), un_(u) {
    alpha_ = n.attr_f("alpha", u == Un::leaky_relu ? 0.01f : u == Un::hard_sigmoid ? 0.2f : u == Un::elu ? 1.f : 1.67326319217681884765625f);
    beta_ = n.attr_f("beta", 0.5f);
    gamma_ = n.attr_f("gamma", 1.05070102214813232421875f);
  }
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0)) fail("input is missing");
    DType d = in.t[0]->dtype();
    bool ok = (d == DType::f32 && un_ != Un::not_) || un_ == Un::identity || (d == DType::boolean && un_ == Un::not_) ||
              ((d == DType::i64 || d == DType::i32) && (un_ == Un::neg || un_ == Un::abs || un_ == Un::relu));
    if (!ok) fail("input dtype " + std::string(dtype_name(d)) + " is not supported");
    out[0] = {d, in.t[0]->shape()};
    for (size_t i = 1; i < out.size(); ++i) out[i] = {DType::boolean, in.t[0]->shape()};  // Dropout mask
    inplace_ = d == DType::f32 && un_ != Un::identity && out.size() == 1 ? 0 : -1;
  }
  int inplace_input() const override { return inplace_; }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const size_t n = static_cast<size_t>(in[0]->numel());
    if (un_ == Un::identity) {
      std::memcpy(out[0]->data(), in[0]->data(), in[0]->size_bytes());
      for (size_t i = 1; i < out.size(); ++i) std::memset(out[i]->data(), 1, out[i]->size_bytes());
      return;
    }
    if (in[0]->dtype() == DType::boolean) {
      for (size_t i = 0; i < n; ++i) out[0]->ptr<uint8_t>()[i] = !in[0]->ptr<uint8_t>()[i];
      return;
    }
    if (in[0]->dtype() == DType::i64) return run_int<int64_t>(*in[0], *out[0]);
    if (in[0]->dtype() == DType::i32) return run_int<int32_t>(*in[0], *out[0]);
    const float* x = in[0]->ptr<float>();
    float* y = out[0]->ptr<float>();
    // From 64 Ki values on more than one thread: contiguous shares of 16-value multiples, one per thread (YOLOv8's
    // class-score Sigmoid over 80 x 2100 values took as long at 2 threads as at 1 on one thread: 0.040 ms).
    const int64_t T = threads();
    if (T > 1 && n >= (size_t{1} << 16)) {
      const int64_t vecs = static_cast<int64_t>((n + 15) / 16);
      return parallel_for(T, [&](int64_t t) {
        const size_t i0 = static_cast<size_t>(vecs * t / T) * 16, i1 = std::min(n, static_cast<size_t>(vecs * (t + 1) / T) * 16);
        if (i1 > i0) apply_f32(x + i0, y + i0, i1 - i0);
      });
    }
    apply_f32(x, y, n);
  }

 private:
  // y[i] = f(x[i]) for i < n (y may be x)
  void apply_f32(const float* x, float* y, size_t n) const {
    const float al = alpha_, be = beta_, ga = gamma_;
    switch (un_) {
      case Un::relu: for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : 0.f; break;
      case Un::leaky_relu: for (size_t i = 0; i < n; ++i) y[i] = x[i] >= 0 ? x[i] : x[i] * al; break;
      case Un::sigmoid: {  // in place on y: the vector kernel where the CPU has one (Activation::apply)
        if (y != x) std::memcpy(y, x, n * sizeof(float));
        Activation s;
        s.kind = Activation::Kind::sigmoid;
        s.apply(y, n);
        break;
      }
      case Un::hard_sigmoid: for (size_t i = 0; i < n; ++i) y[i] = std::min(1.f, std::max(0.f, al * x[i] + be)); break;
      case Un::hard_swish: for (size_t i = 0; i < n; ++i) y[i] = x[i] * std::min(1.f, std::max(0.f, x[i] / 6.f + 0.5f)); break;
      case Un::tanh: for (size_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]); break;
      case Un::sqrt: for (size_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]); break;
      case Un::exp: for (size_t i = 0; i < n; ++i) y[i] = std::exp(x[i]); break;
      case Un::log: for (size_t i = 0; i < n; ++i) y[i] = std::log(x[i]); break;
      case Un::neg: for (size_t i = 0; i < n; ++i) y[i] = -x[i]; break;
      case Un::abs: for (size_t i = 0; i < n; ++i) y[i] = std::fabs(x[i]); break;
      case Un::floor: for (size_t i = 0; i < n; ++i) y[i] = std::floor(x[i]); break;
      case Un::ceil: for (size_t i = 0; i < n; ++i) y[i] = std::ceil(x[i]); break;
      case Un::round: for (size_t i = 0; i < n; ++i) y[i] = std::nearbyint(x[i]); break;
      case Un::sign: for (size_t i = 0; i < n; ++i) y[i] = static_cast<float>((x[i] > 0) - (x[i] < 0)); break;
      case Un::reciprocal: for (size_t i = 0; i < n; ++i) y[i] = 1.f / x[i]; break;
      case Un::erf: for (size_t i = 0; i < n; ++i) y[i] = std::erf(x[i]); break;
      case Un::softplus: for (size_t i = 0; i < n; ++i) y[i] = std::log1p(std::exp(x[i])); break;
      case Un::elu: for (size_t i = 0; i < n; ++i) y[i] = x[i] >= 0 ? x[i] : al * (std::exp(x[i]) - 1.f); break;
      case Un::selu: for (size_t i = 0; i < n; ++i) y[i] = ga * (x[i] > 0 ? x[i] : al * (std::exp(x[i]) - 1.f)); break;
      case Un::mish: for (size_t i = 0; i < n; ++i) y[i] = x[i] * std::tanh(std::log1p(std::exp(x[i]))); break;
      default: fail("unsupported");
    }
  }
  template <class T>
  void run_int(const Tensor& X, Tensor& Y) {
    const T* x = X.ptr<T>();
    T* y = Y.ptr<T>();
    for (int64_t i = 0; i < X.numel(); ++i)
      y[i] = un_ == Un::neg ? -x[i] : un_ == Un::abs ? (x[i] < 0 ? -x[i] : x[i]) : (x[i] > 0 ? x[i] : 0);
  }
  Un un_;
  float alpha_, beta_, gamma_;
};

class ClipOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    need_f32(in, 0);
    lo_ = -INFINITY;
    hi_ = INFINITY;
    if (opset_ < 11) {
      lo_ = node_.attr_f("min", -INFINITY);
      hi_ = node_.attr_f("max", INFINITY);
    } else {
      if (in.has(1)) lo_ = static_cast<float>(need_const(in, 1, "min").to_f64().at(0));
      if (in.has(2)) hi_ = static_cast<float>(need_const(in, 2, "max").to_f64().at(0));
    }
    out[0] = {DType::f32, in.t[0]->shape()};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const float* x = in[0]->ptr<float>();
    float* y = out[0]->ptr<float>();
    for (int64_t i = 0; i < in[0]->numel(); ++i) y[i] = std::min(std::max(x[i], lo_), hi_);
  }
  float lo_ = 0, hi_ = 0;
};

class WhereOp : public Op {
 public:
  using Op::Op;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0) || !in.has(1) || !in.has(2)) fail("expects 3 inputs");
    if (in.t[1]->dtype() != in.t[2]->dtype()) fail("X and Y have different dtypes");
    shape_ = broadcast_shapes(broadcast_shapes(in.t[0]->shape(), in.t[1]->shape(), node_), in.t[2]->shape(), node_);
    out[0] = {in.t[1]->dtype(), shape_};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const size_t es = dtype_size(in[1]->dtype());
    const uint8_t* c = in[0]->ptr<uint8_t>();
    const uint8_t* x = in[1]->ptr<uint8_t>();
    const uint8_t* y = in[2]->ptr<uint8_t>();
    uint8_t* o = out[0]->ptr<uint8_t>();
    std::array<std::vector<int64_t>, 3> st{broadcast_strides(in[0]->shape(), shape_),
                                           broadcast_strides(in[1]->shape(), shape_),
                                           broadcast_strides(in[2]->shape(), shape_)};
    broadcast_for_each<3>(shape_, st, [&](int64_t oo, const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& s) {
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* src = c[off[0] + i * s[0]] ? x + (off[1] + i * s[1]) * es : y + (off[2] + i * s[2]) * es;
        std::memcpy(o + (oo + i) * es, src, es);
      }
    });
  }
  Shape shape_;
};

DType dtype_from_onnx(int64_t t, const Node& n) {
  switch (t) {
    case 1: return DType::f32;
    case 2: return DType::u8;
    case 3: return DType::i8;
    case 4: return DType::u16;
    case 5: return DType::i16;
    case 6: return DType::i32;
    case 7: return DType::i64;
    case 9: return DType::boolean;
    case 10: return DType::f16;
    case 11: return DType::f64;
    default: throw Error(n.label() + ": cast to ONNX type " + std::to_string(t) + " is not supported");
  }
}

class CastOp : public Op {
 public:
  CastOp(const Node& n, int64_t opset) : Op(n, opset), to_(dtype_from_onnx(n.attr_i("to", 1), n)) {}
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0)) fail("input is missing");
    out[0] = {to_, in.t[0]->shape()};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const Tensor& x = *in[0];
    Tensor& y = *out[0];
    const int64_t n = x.numel();
    if (x.dtype() == to_) {
      std::memcpy(y.data(), x.data(), x.size_bytes());
      return;
    }
    auto get = [&](int64_t i) -> double {
      switch (x.dtype()) {
        case DType::f32: return x.ptr<float>()[i];
        case DType::f16: return half_to_float(x.ptr<uint16_t>()[i]);
        case DType::f64: return x.ptr<double>()[i];
        case DType::i8: return x.ptr<int8_t>()[i];
        case DType::u8: return x.ptr<uint8_t>()[i];
        case DType::i16: return x.ptr<int16_t>()[i];
        case DType::u16: return x.ptr<uint16_t>()[i];
        case DType::i32: return x.ptr<int32_t>()[i];
        case DType::i64: return static_cast<double>(x.ptr<int64_t>()[i]);
        case DType::boolean: return x.ptr<uint8_t>()[i] ? 1 : 0;
      }
      return 0;
    };
    for (int64_t i = 0; i < n; ++i) {
      if (x.dtype() == DType::i64 && to_ == DType::i32) { y.ptr<int32_t>()[i] = static_cast<int32_t>(x.ptr<int64_t>()[i]); continue; }
      if (x.dtype() == DType::i32 && to_ == DType::i64) { y.ptr<int64_t>()[i] = x.ptr<int32_t>()[i]; continue; }
      double v = get(i);
      switch (to_) {
        case DType::f32: y.ptr<float>()[i] = static_cast<float>(v); break;
        case DType::f16: y.ptr<uint16_t>()[i] = float_to_half(static_cast<float>(v)); break;
        case DType::f64: y.ptr<double>()[i] = v; break;
        case DType::i8: y.ptr<int8_t>()[i] = static_cast<int8_t>(v); break;
        case DType::u8: y.ptr<uint8_t>()[i] = static_cast<uint8_t>(v); break;
        case DType::i16: y.ptr<int16_t>()[i] = static_cast<int16_t>(v); break;
        case DType::u16: y.ptr<uint16_t>()[i] = static_cast<uint16_t>(v); break;
        case DType::i32: y.ptr<int32_t>()[i] = static_cast<int32_t>(v); break;
        case DType::i64: y.ptr<int64_t>()[i] = static_cast<int64_t>(v); break;
        case DType::boolean: y.ptr<uint8_t>()[i] = v != 0; break;
      }
    }
  }
  DType to_;
};

template <Bin B>
std::unique_ptr<Op> make_bin(const Node& n, int64_t o) { return std::make_unique<BinaryOp>(n, o, B); }
template <Un U>
std::unique_ptr<Op> make_un(const Node& n, int64_t o) { return std::make_unique<UnaryOp>(n, o, U); }
template <class T>
std::unique_ptr<Op> make(const Node& n, int64_t o) { return std::make_unique<T>(n, o); }

}  // namespace

void register_elementwise_ops(std::map<std::string, OpFactory>& r) {
  r["Add"] = make_bin<Bin::add>;
  r["Sum"] = make_bin<Bin::add>;
  r["Sub"] = make_bin<Bin::sub>;
  r["Mul"] = make_bin<Bin::mul>;
  r["Div"] = make_bin<Bin::div>;
  r["Pow"] = make_bin<Bin::pow>;
  r["Max"] = make_bin<Bin::max>;
  r["Min"] = make_bin<Bin::min>;
  r["Mod"] = make_bin<Bin::mod>;
  r["PRelu"] = make_bin<Bin::prelu>;
  r["Equal"] = make_bin<Bin::eq>;
  r["Less"] = make_bin<Bin::lt>;
  r["Greater"] = make_bin<Bin::gt>;
  r["LessOrEqual"] = make_bin<Bin::le>;
  r["GreaterOrEqual"] = make_bin<Bin::ge>;
  r["And"] = make_bin<Bin::and_>;
  r["Or"] = make_bin<Bin::or_>;
  r["Relu"] = make_un<Un::relu>;
  r["LeakyRelu"] = make_un<Un::leaky_relu>;
  r["Sigmoid"] = make_un<Un::sigmoid>;
  r["HardSigmoid"] = make_un<Un::hard_sigmoid>;
  r["HardSwish"] = make_un<Un::hard_swish>;
  r["Tanh"] = make_un<Un::tanh>;
  r["Sqrt"] = make_un<Un::sqrt>;
  r["Exp"] = make_un<Un::exp>;
  r["Log"] = make_un<Un::log>;
  r["Neg"] = make_un<Un::neg>;
  r["Abs"] = make_un<Un::abs>;
  r["Floor"] = make_un<Un::floor>;
  r["Ceil"] = make_un<Un::ceil>;
  r["Round"] = make_un<Un::round>;
  r["Sign"] = make_un<Un::sign>;
  r["Reciprocal"] = make_un<Un::reciprocal>;
  r["Erf"] = make_un<Un::erf>;
  r["Softplus"] = make_un<Un::softplus>;
  r["Elu"] = make_un<Un::elu>;
  r["Selu"] = make_un<Un::selu>;
  r["Mish"] = make_un<Un::mish>;
  r["Not"] = make_un<Un::not_>;
  r["Identity"] = make_un<Un::identity>;
  r["Dropout"] = make_un<Un::identity>;
  r["Clip"] = make<ClipOp>;
  r["Where"] = make<WhereOp>;
  r["Cast"] = make<CastOp>;
}

}  // namespace ec
