// Test helpers: build small IR models in code, run them on a backend, random tensors, comparisons.
#pragma once
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine.h"
#include "error.h"
#include "onnx_io.h"
#include "ir.h"

namespace ec::test {

inline Attribute attr_i(int64_t v) { Attribute a; a.kind = Attribute::Kind::i; a.i = v; return a; }
inline Attribute attr_f(float v) { Attribute a; a.kind = Attribute::Kind::f; a.f = v; return a; }
inline Attribute attr_s(const std::string& v) { Attribute a; a.kind = Attribute::Kind::s; a.s = v; return a; }
inline Attribute attr_ints(std::vector<int64_t> v) { Attribute a; a.kind = Attribute::Kind::ints; a.ints = std::move(v); return a; }
inline Attribute attr_floats(std::vector<float> v) { Attribute a; a.kind = Attribute::Kind::floats; a.floats = std::move(v); return a; }
inline Attribute attr_t(Tensor t) { Attribute a; a.kind = Attribute::Kind::t; a.t = std::move(t); return a; }

inline Tensor random_tensor(Shape s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::f32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
  return t;
}

inline ValueInfo value(const std::string& name, DType dt, const Shape& s) {
  ValueInfo v;
  v.name = name;
  v.dtype = dt;
  v.has_shape = true;
  for (int64_t d : s) v.dims.push_back(Dim{d, ""});
  return v;
}

// An operand of a single-node model: a runtime input or an initializer (constant).
struct Operand {
  Tensor t;
  bool constant = false;
  bool absent = false;  // an omitted optional input ("")
};
inline Operand in(Tensor t) { return {std::move(t), false, false}; }
inline Operand cst(Tensor t) { return {std::move(t), true, false}; }
inline Operand none() { return {Tensor(), false, true}; }

// A model with one node `op` fed by `operands`, with `n_out` outputs.
inline Model single_node_model(const std::string& op, const std::vector<Operand>& operands,
                               const std::map<std::string, Attribute>& attrs, size_t n_out = 1, int64_t opset = 13) {
  Model m;
  m.opsets[""] = opset;
  m.path = op + "-test";
  Node n;
  n.name = op + "_0";
  n.op_type = op;
  n.attrs = attrs;
  for (size_t i = 0; i < operands.size(); ++i) {
    const Operand& o = operands[i];
    if (o.absent) { n.inputs.push_back(""); continue; }
    std::string name = "x" + std::to_string(i);
    n.inputs.push_back(name);
    if (o.constant) m.graph.initializers[name] = o.t;
    else m.graph.inputs.push_back(value(name, o.t.dtype(), o.t.shape()));
  }
  for (size_t k = 0; k < n_out; ++k) {
    n.outputs.push_back("y" + std::to_string(k));
    ValueInfo v;
    v.name = "y" + std::to_string(k);
    m.graph.outputs.push_back(v);
  }
  m.graph.nodes.push_back(n);
  return m;
}

// Whether "native" runs use the XNNPACK NHWC kernels (the default) or the reference kernels only. Test files
// compiled with EC_TEST_REFERENCE=1 exercise the reference kernels.
#ifdef EC_TEST_REFERENCE
constexpr bool kUseXnnpack = false;
#else
constexpr bool kUseXnnpack = true;
#endif

// Runs `m` on `backend` with the runtime inputs in declaration order; returns copies of the outputs.
inline std::vector<Tensor> run_model(const Model& m, const std::vector<Tensor>& inputs, const std::string& backend = "native",
                                     int threads = 1, bool optimize = true, bool xnnpack = kUseXnnpack) {
  EngineOptions o;
  o.threads = threads;
  o.optimize = optimize;
  o.xnnpack = xnnpack;
  auto e = create_engine(backend, m, o);
  std::map<std::string, Shape> shapes;
  for (size_t i = 0; i < inputs.size(); ++i) shapes[m.graph.inputs[i].name] = inputs[i].shape();
  e->prepare(shapes);
  for (size_t i = 0; i < inputs.size(); ++i) std::memcpy(e->input(i).data(), inputs[i].data(), inputs[i].size_bytes());
  e->run();
  std::vector<Tensor> r;
  for (size_t i = 0; i < e->num_outputs(); ++i) r.push_back(e->output(i).clone());
  return r;
}

// Runs the single-node model built from operands (runtime inputs fed from the operands themselves).
inline std::vector<Tensor> run_single(const std::string& op, const std::vector<Operand>& operands,
                                      const std::map<std::string, Attribute>& attrs, size_t n_out = 1, int64_t opset = 13,
                                      int threads = 1) {
  Model m = single_node_model(op, operands, attrs, n_out, opset);
  std::vector<Tensor> inputs;
  for (auto& o : operands)
    if (!o.constant && !o.absent) inputs.push_back(o.t);
  return run_model(m, inputs, "native", threads);
}

// Max |a - b| over all elements; fails the test on a shape mismatch.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(shape_str(a.shape()), shape_str(b.shape()));
  if (a.numel() != b.numel()) return INFINITY;
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, static_cast<double>(std::fabs(a.ptr<float>()[i] - b.ptr<float>()[i])));
  return m;
}

// Largest |x| over all elements (float32 tensors).
inline double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, static_cast<double>(std::fabs(t.ptr<float>()[i])));
  return m;
}

// How far two float32 evaluations of the same sums may drift apart when each output adds up `terms` products
// in another order (SIMD lanes, register blocking, FMA or not, another CPU's kernel choice): every addition
// rounds by at most one unit in the last place of its partial sum, so the bound grows with the length of the
// accumulation and with the magnitude of the values (the reference's largest |x|; the partial sums of these
// random tests stay of that order). Factor 2: both evaluations round. Never an absolute constant.
inline double sum_tolerance(const Tensor& ref, int64_t terms) {
  const double magnitude = std::max(max_abs(ref), static_cast<double>(FLT_MIN));
  return 2.0 * static_cast<double>(std::max<int64_t>(terms, 1)) * FLT_EPSILON * magnitude;
}

// Max |a - b| divided by the value range of a (the reference).
inline double diff_over_range(const Tensor& ref, const Tensor& b) {
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    lo = std::min(lo, ref.ptr<float>()[i]);
    hi = std::max(hi, ref.ptr<float>()[i]);
  }
  double r = hi > lo ? hi - lo : 1.0;
  return max_abs_diff(ref, b) / r;
}

// "" when this build's OpenCV DNN (the `opencv` backend) can load the model at `path` and run it once on its
// declared shapes, else the one-line reason. Tests that compare against or run on OpenCV DNN skip with it:
// OpenCV 4.5.1 (Debian 11) cannot import BlazeFace's convolutions and OpenCV 4.10 (Debian 13) fails its
// forward pass in a channel-padding max pool: limits of those releases' DNN module, not of ours.
inline std::string opencv_cannot_load(const std::string& path);

// Where the fetched models and videos live (scripts/setup.sh puts them there).
inline std::string models_dir() { return EC_SOURCE_DIR "/models"; }
inline std::string shared_dir() { return EC_SOURCE_DIR "/../shared"; }

inline std::string opencv_cannot_load(const std::string& path) {
  try {
    Model m = load_onnx(path);
    auto e = create_engine("opencv", m);
    std::map<std::string, Shape> shapes;
    for (const auto& v : m.graph.inputs) shapes[v.name] = v.shape_or(1);
    e->prepare(shapes);
    e->run();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Skips the current test when OpenCV DNN cannot load `path` on this release (see opencv_cannot_load).
#define SKIP_UNLESS_OPENCV_LOADS(path)                                                                        \
  do {                                                                                                        \
    const std::string why_ = ::ec::test::opencv_cannot_load(path);                                            \
    if (!why_.empty()) GTEST_SKIP() << "OpenCV DNN of this release cannot load the model: " << why_;        \
  } while (0)

}  // namespace ec::test
