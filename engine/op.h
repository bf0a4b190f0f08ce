// Native operator interface: each ONNX operator is an Op created from its Node at load time.
// Lifecycle (as in XNNPACK): create (parse attributes) -> reshape (shapes known, constants visible:
// computes output shapes and workspace size) -> run (no allocation: buffers are bound by the caller).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "ir.h"
#include "tensor.h"

namespace ec {

struct TensorSpec {
  DType dtype = DType::f32;
  Shape shape;
};

// An activation that a producer op (Conv, Gemm, ...) applies to its output in place.
struct Activation {
  enum class Kind { none, relu, clip, leaky_relu, sigmoid, hard_sigmoid, hard_swish, tanh, silu };
  Kind kind = Kind::none;
  float a = 0, b = 0;  // clip: min,max; leaky_relu: alpha; hard_sigmoid: alpha,beta
  // Applies the activation to n floats in place.
  void apply(float* p, size_t n) const;
  // Reads the fused activation that graph passes store on a node ("_act", "_act_a", "_act_b"; or under another
  // prefix: "_res_act" for the residual Add's activation of a fused convolution).
  static Activation from_node(const Node& n, const std::string& prefix = "_act");
  // Name for reports ("relu", "clip", ...; "" for none).
  const char* name() const;
};

// Inputs seen by Op::reshape: tensor (nullptr for an omitted optional input) and whether its data is
// known at prepare time (initializers and folded values).
struct OpInputs {
  std::vector<const Tensor*> t;
  std::vector<bool> is_const;
  size_t size() const { return t.size(); }
  bool has(size_t i) const { return i < t.size() && t[i] != nullptr; }
};

class Op {
 public:
  Op(const Node& n, int64_t opset) : node_(n), opset_(opset) {}
  virtual ~Op() = default;

  // Sets out[i] dtype/shape for every node output (out is pre-sized to the node's output count).
  virtual void reshape(const OpInputs& in, std::vector<TensorSpec>& out) = 0;
  // Scratch bytes run() needs, valid after reshape().
  virtual size_t workspace_bytes() const { return 0; }
  // Computes the outputs. `ws` points to at least workspace_bytes() bytes. Must not allocate.
  virtual void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void* ws) = 0;
  // True when the outputs depend only on input shapes (Shape, Size): folded at prepare whatever the data.
  virtual bool shape_only() const { return false; }
  // After reshape: an input whose buffer output 0 may share (element-wise ops reading each element before
  // writing the same position, same shape and type), or -1. The planner uses it when that input dies here.
  virtual int inplace_input() const { return -1; }

  // Kernel choice (engine/tuning.h): after reshape, the implementations this op can run with on this CPU
  // and these shapes, the built-in rule's pick first ({"ec-pointwise", "xnnpack"}); fewer than two: no
  // choice. choose_kernel(i) switches to candidate i (reshape keeps it); drop_other_kernels() frees what the
  // others packed (weights), until the next reshape makes them again.
  virtual std::vector<std::string> kernel_candidates() const { return {}; }
  virtual void choose_kernel(size_t i) { (void)i; }
  virtual size_t chosen_kernel() const { return 0; }
  virtual void drop_other_kernels() {}

  const Node& node() const { return node_; }
  void set_threads(int n) { threads_ = n < 1 ? 1 : n; }
  int threads() const { return threads_; }
  // The engine's pthreadpool (a pthreadpool_t; nullptr = none): XNNPACK-backed ops run on it, parallel_for too.
  virtual void set_threadpool(void* pool) { thread_pool_ = pool; }
  // Runs body(i) for every i in [0, n), split over the engine's threads_: on its pthreadpool when it has one
  // (XNNPACK graphs: an OpenMP team spinning after its region would take the cores from the pool's workers;
  // measured 10x slower at 2 threads on 2 cores), else on an OpenMP team; subnormals are flushed on every
  // thread (base/denormals.h). One thread or n < 2: on the calling thread. Items should be coarse (rows, tiles).
  void parallel_for(int64_t n, const std::function<void(int64_t)>& body) const;

 protected:
  // Throws ec::Error "node 'x' (Op): msg".
  [[noreturn]] void fail(const std::string& msg) const;
  // Returns input i, throwing when it is missing or not known at prepare time (data-dependent shapes).
  const Tensor& need_const(const OpInputs& in, size_t i, const char* what) const;
  // Throws unless input i is present and of dtype f32.
  void need_f32(const OpInputs& in, size_t i) const;

  Node node_;
  int64_t opset_;
  int threads_ = 1;
  void* thread_pool_ = nullptr;
};

using OpFactory = std::unique_ptr<Op> (*)(const Node&, int64_t opset);

// All operators of the default domain the native backend implements, by op_type.
const std::map<std::string, OpFactory>& op_registry();
// Creates the op for `n`; throws "WHERE: node 'x' (Op): operator is not supported" when unknown.
std::unique_ptr<Op> create_op(const Node& n, int64_t opset, const std::string& where);

// Registration hooks, one per kernel file (called once by op_registry()).
void register_elementwise_ops(std::map<std::string, OpFactory>& r);
void register_shape_ops(std::map<std::string, OpFactory>& r);
void register_nn_ops(std::map<std::string, OpFactory>& r);
void register_quant_ops(std::map<std::string, OpFactory>& r);
// NHWC operators of the internal domain kEcDomain (XNNPACK-backed), created by the layout pass.
void register_nhwc_ops(std::map<std::string, OpFactory>& r);
// Internal operators (domain kEcDomain) that need no XNNPACK and run on any layout: QLut.
void register_internal_ops(std::map<std::string, OpFactory>& r);
// The internal operator domain of graphs rewritten for the native engine (never written to files).
inline constexpr const char* kEcDomain = "ec.nhwc";

// The float whose IEEE-754 bits are `u` (a register move; GCC vectorises both forms). __builtin_bit_cast
// came with GCC 11; GCC 9/10 (Ubuntu 20.04, Debian 11) get the memcpy form.
inline float bits_to_float(uint32_t u) {
#if defined(__has_builtin)
#if __has_builtin(__builtin_bit_cast)
  return __builtin_bit_cast(float, u);
#endif
#endif
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// --- ThreadSanitizer hand-off marks ---
// The thread pools our parallel regions run on (libgomp, libpthreadpool) are not instrumented, so TSan cannot see
// that a region's start orders the caller's writes before its tasks and its end orders the tasks' writes before
// the caller's next reads. TsanRegion (the caller, around the dispatch) and TsanTask (each task) state exactly
// that edge; in builds without TSan they are empty.
#if defined(__SANITIZE_THREAD__)
#define EC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EC_TSAN 1
#endif
#endif
#ifdef EC_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
inline char tsan_fork_token, tsan_join_token;
struct TsanRegion {
  TsanRegion() { __tsan_release(&tsan_fork_token); }
  ~TsanRegion() { __tsan_acquire(&tsan_join_token); }
};
struct TsanTask {
  TsanTask() { __tsan_acquire(&tsan_fork_token); }
  ~TsanTask() { __tsan_release(&tsan_join_token); }
};
#else
struct TsanRegion {  // user-provided members: a declared mark is not an "unused variable"
  TsanRegion() {}
  ~TsanRegion() {}
};
struct TsanTask {
  TsanTask() {}
  ~TsanTask() {}
};
#endif

// --- helpers shared by kernels ---
// e^x for float x, branch-free so loops over it vectorise (range reduction by ln 2, degree-6 polynomial):
// relative error below 2e-7 for x in [-87, 88]; saturates to 0 / FLT_MAX-range values outside.
inline float exp_approx(float x) {
  x = x < -87.33f ? -87.33f : x;  // if-converted to min/max (the engine builds with -fno-trapping-math)
  x = x > 88.72f ? 88.72f : x;
  // x = n ln2 + r, |r| <= ln2 / 2; n rounded by the 1.5 * 2^23 trick (no calls, so the loop vectorises)
  const float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  // e^r by its Taylor polynomial to r^6 (error < 1e-7 on the interval), in Horner form
  float p = 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  // times 2^n: build the float with exponent n + 127 (n in [-126, 128]: split to stay in range)
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const float s1 = bits_to_float(static_cast<uint32_t>(n1 + 127) << 23);  // a register move, vectorisable
  const float s2 = bits_to_float(static_cast<uint32_t>(n2 + 127) << 23);
  return p * s1 * s2;
}

// 1 / (1 + e^-x), from exp_approx.
inline float sigmoid_approx(float x) { return 1.f / (1.f + exp_approx(-x)); }
// Normalises a possibly negative axis for `rank`; throws through `op` when out of range.
int64_t norm_axis(int64_t axis, int64_t rank, const Node& n);
// Numpy-style broadcast of two shapes; throws naming the node when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const Node& n);
// Strides (in elements) of `in` read as if broadcast to `out` (0 on broadcast dims), aligned right.
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out);
// Row-major contiguous strides of a shape.
std::vector<int64_t> contiguous_strides(const Shape& s);
// y[bi][j][i] = x[bi][i][j] for bi < b, i < r, j < c, elements of `es` bytes (1, 2, 4 or 8): NHWC [b][hw][ch] ->
// NCHW [b][ch][hw] and back; in cache-sized tiles, on op's threads above 64 Ki elements (the Transpose kernel).
void transpose_batched(const Op& op, const void* x, void* y, size_t es, int64_t b, int64_t r, int64_t c);

}  // namespace ec
