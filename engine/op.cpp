#include "op.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <omp.h>

#include "act.h"
#include "denormals.h"

#ifdef EC_HAVE_XNNPACK
#include <pthreadpool.h>
#endif

namespace ec {

namespace {
bool cpu_has_avx512f() {
#if defined(EC_HAVE_ACT_AVX512)
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
#else
  return false;
#endif
}
bool g_act_vector = true;
}  // namespace

const char* activation_kernel() { return g_act_vector && cpu_has_avx512f() ? "avx512" : "auto-vectorised"; }
void set_activation_vector_kernel(bool enabled) { g_act_vector = enabled; }

void Activation::apply(float* p, size_t n) const {
#if defined(EC_HAVE_ACT_AVX512)
  if (g_act_vector && cpu_has_avx512f()) {
    switch (kind) {
      case Kind::silu: return silu_avx512(p, n);
      case Kind::sigmoid: return sigmoid_avx512(p, n);
      case Kind::relu: return relu_avx512(p, n);
      case Kind::clip: return clip_avx512(p, n, a, b);
      case Kind::hard_sigmoid: return hard_sigmoid_avx512(p, n, a, b);
      case Kind::hard_swish: return hard_swish_avx512(p, n);
      default: break;
    }
  }
#endif
  switch (kind) {
    case Kind::none: return;
    case Kind::relu: for (size_t i = 0; i < n; ++i) p[i] = p[i] > 0 ? p[i] : 0; return;
    case Kind::clip: for (size_t i = 0; i < n; ++i) p[i] = std::min(std::max(p[i], a), b); return;
    case Kind::leaky_relu: for (size_t i = 0; i < n; ++i) p[i] = p[i] >= 0 ? p[i] : p[i] * a; return;
    case Kind::sigmoid: for (size_t i = 0; i < n; ++i) p[i] = sigmoid_approx(p[i]); return;
    case Kind::hard_sigmoid: for (size_t i = 0; i < n; ++i) p[i] = std::min(1.f, std::max(0.f, a * p[i] + b)); return;
    case Kind::hard_swish:
      for (size_t i = 0; i < n; ++i) p[i] = p[i] * std::min(1.f, std::max(0.f, p[i] / 6.f + 0.5f));
      return;
    case Kind::tanh: for (size_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]); return;
    case Kind::silu: for (size_t i = 0; i < n; ++i) p[i] = p[i] * sigmoid_approx(p[i]); return;
  }
}

Activation Activation::from_node(const Node& n, const std::string& prefix) {
  Activation a;
  std::string k = n.attr_s(prefix, "");
  if (k.empty()) return a;
  if (k == "relu") a.kind = Kind::relu;
  else if (k == "clip") a.kind = Kind::clip;
  else if (k == "leaky_relu") a.kind = Kind::leaky_relu;
  else if (k == "sigmoid") a.kind = Kind::sigmoid;
  else if (k == "hard_sigmoid") a.kind = Kind::hard_sigmoid;
  else if (k == "hard_swish") a.kind = Kind::hard_swish;
  else if (k == "tanh") a.kind = Kind::tanh;
  else if (k == "silu") a.kind = Kind::silu;
  else throw Error(n.label() + ": unknown fused activation '" + k + "'");
  a.a = n.attr_f(prefix + "_a", 0);
  a.b = n.attr_f(prefix + "_b", 0);
  return a;
}

const char* Activation::name() const {
  switch (kind) {
    case Kind::none: return "";
    case Kind::relu: return "relu";
    case Kind::clip: return "clip";
    case Kind::leaky_relu: return "leaky_relu";
    case Kind::sigmoid: return "sigmoid";
    case Kind::hard_sigmoid: return "hard_sigmoid";
    case Kind::hard_swish: return "hard_swish";
    case Kind::tanh: return "tanh";
    case Kind::silu: return "silu";
  }
  return "";
}

void Op::parallel_for(int64_t n, const std::function<void(int64_t)>& body) const {
  if (threads_ <= 1 || n < 2) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
#ifdef EC_HAVE_XNNPACK
  if (thread_pool_) {
    auto task = [](void* ctx, size_t i) {
      const TsanTask mark;
      (*static_cast<const std::function<void(int64_t)>*>(ctx))(static_cast<int64_t>(i));
    };
    const TsanRegion region;
    pthreadpool_parallelize_1d(static_cast<pthreadpool_t>(thread_pool_), task, const_cast<std::function<void(int64_t)>*>(&body),
                               static_cast<size_t>(n), PTHREADPOOL_FLAG_DISABLE_DENORMALS);
    return;
  }
#endif
  const int nt = static_cast<int>(std::min<int64_t>(threads_, n));
  const TsanRegion region;
#pragma omp parallel num_threads(nt)
  {
    const TsanTask mark;
    const DenormalsAsZero flush;  // each thread of the region
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

void Op::fail(const std::string& msg) const { throw Error(node_.label() + ": " + msg); }

const Tensor& Op::need_const(const OpInputs& in, size_t i, const char* what) const {
  if (!in.has(i)) fail(std::string("input '") + what + "' is missing");
  if (!in.is_const[i])
    fail(std::string("input '") + what + "' (" + node_.in(i) +
         ") is not constant after shape folding: data-dependent shapes are not supported");
  return *in.t[i];
}

void Op::need_f32(const OpInputs& in, size_t i) const {
  if (!in.has(i)) fail("input " + std::to_string(i) + " is missing");
  if (in.t[i]->dtype() != DType::f32)
    fail("input '" + node_.in(i) + "' has dtype " + dtype_name(in.t[i]->dtype()) + ", only float32 is supported");
}

const std::map<std::string, OpFactory>& op_registry() {
  static const std::map<std::string, OpFactory> reg = [] {
    std::map<std::string, OpFactory> r;
    register_elementwise_ops(r);
    register_shape_ops(r);
    register_nn_ops(r);
    register_quant_ops(r);
    return r;
  }();
  return reg;
}

std::unique_ptr<Op> create_op(const Node& n, int64_t opset, const std::string& where) {
  if (n.domain == kEcDomain) {
    static const std::map<std::string, OpFactory> nhwc = [] {
      std::map<std::string, OpFactory> r;
      register_nhwc_ops(r);
      register_internal_ops(r);
      return r;
    }();
    auto it = nhwc.find(n.op_type);
    if (it == nhwc.end()) throw Error(where + ": " + n.label() + ": internal NHWC operator is not available in this build");
    return it->second(n, opset);
  }
  if (!n.domain.empty() && n.domain != "ai.onnx")
    throw Error(where + ": " + n.label() + ": operator domain '" + n.domain + "' is not supported");
  auto it = op_registry().find(n.op_type);
  if (it == op_registry().end()) throw Error(where + ": " + n.label() + ": operator is not supported");
  return it->second(n, opset);
}

int64_t norm_axis(int64_t axis, int64_t rank, const Node& n) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw Error(n.label() + ": axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return a;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const Node& n) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(n.label() + ": shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  auto cs = contiguous_strides(in);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) st[off + i] = in[i] == 1 ? 0 : cs[i];
  return st;
}

}  // namespace ec
