// NHWC operators of the internal domain (kEcDomain), created by the layout pass (layout.h) from ONNX nodes
// whose attributes they keep: Conv, MaxPool, AveragePool, GlobalAveragePool, the binary elementwise ops and
// constant Pad. Tensors are [N, H, W, C]. Each op runs on XNNPACK (create at reshape, setup when the bound
// buffers change, xnn_run_operator in run) and keeps a plain loop for the few cases XNNPACK does not
// cover (1x1 pools, padded or ceil-mode average pools), so the layout pass never has to guess shapes.
// int8 (from QDQ graphs): QConv (XNNPACK qc8; 1x1 and few-channel stems on our VNNI GEMM, qgemm.h), QAdd
// (XNNPACK qs8, or our loop for a zero-extended operand), int8 MaxPool and Pad, QuantizeLinear /
// DequantizeLinear as XNNPACK converts.

#include <algorithm>
#include <array>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <unistd.h>

#include "op.h"
#include "broadcast.h"
#include "large_alloc.h"
#include "depthwise.h"
#include "pointwise.h"
#include "convgemm.h"
#include "deconv_kernels.h"
#include "stem.h"
#include "qgemm.h"
#include "window.h"
#include "winograd.h"
#include "xnn_build.h"
#include "xnn.h"

#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#ifdef EC_HAVE_XNNPACK
#include <pthreadpool.h>
#include <xnnpack.h>
#endif

namespace ec {

bool cpu_has_fp16_arith() {
#if defined(__aarch64__) && defined(__linux__)
  const unsigned long hw = getauxval(AT_HWCAP);
  return (hw & HWCAP_FPHP) && (hw & HWCAP_ASIMDHP);
#else
  return false;
#endif
}

std::string cpu_fp16_features() {
#if defined(__aarch64__)
  return cpu_has_fp16_arith() ? "the CPU has FEAT_FP16 (fphp asimdhp)" : "the CPU has no FEAT_FP16: ARMv8.0, such as the Cortex-A57";
#else
  return "not an ARM CPU";
#endif
}

#ifdef EC_HAVE_XNNPACK
// XNNPACK's December-2022 API (Ubuntu 24.04, Debian 13) added a code/weights cache argument before the
// operator pointer of the convolution constructors; the engine uses none.
#ifdef EC_XNNPACK_CACHES
#define EC_XNN_CACHES nullptr,
#else
#define EC_XNN_CACHES
#endif
#define EC_XNN_CACHES_ARG EC_XNN_CACHES
namespace {
xnn_status g_init_status = xnn_status_uninitialized;
std::once_flag g_init_once;
// XNNPACK's memory: its packed weights (9.4 MB for a 512-channel 3x3 layer) through large_alloc, on huge
// pages from 2 MiB (large_alloc.h); the rest from the C heap as XNNPACK's own allocator does.
void* xnn_alloc(void*, size_t size) { return std::malloc(size); }
void* xnn_realloc(void*, void* p, size_t size) { return std::realloc(p, size); }
void xnn_dealloc(void*, void* p) { std::free(p); }
void* xnn_aligned_alloc(void*, size_t alignment, size_t size) { return large_alloc(size, alignment); }
void xnn_aligned_dealloc(void*, void* p) { large_free(p); }
const xnn_allocator g_xnn_allocator = {nullptr, xnn_alloc, xnn_realloc, xnn_dealloc, xnn_aligned_alloc, xnn_aligned_dealloc};
void init_xnnpack() {
  std::call_once(g_init_once, [] { g_init_status = xnn_initialize(&g_xnn_allocator); });
}
}  // namespace

bool xnnpack_available() {
  init_xnnpack();
  return g_init_status == xnn_status_success;
}
std::string xnnpack_build() { return EC_XNNPACK_BUILD; }
std::string xnnpack_status() {
  if (xnnpack_available()) return "";
  return "XNNPACK does not support this CPU (xnn_initialize status " + std::to_string(static_cast<int>(g_init_status)) + ")";
}
bool xnnpack_fp16_available() { return xnnpack_fp16_status().empty(); }
std::string xnnpack_fp16_status() {
  static const std::string status = [] {
    if (!xnnpack_available()) return xnnpack_status();
    // XNNPACK answers for its fp16 kernels: creating a float16 operator fails with "unsupported hardware"
    // where the CPU has no fp16 arithmetic (ARMv8.0 such as the Cortex-A57) or the build has no fp16 kernels.
    xnn_operator_t op = nullptr;
    const uint16_t w = 0x3c00;  // 1.0
    const xnn_status conv = xnn_create_convolution2d_nhwc_f16(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, &w, nullptr, -INFINITY, INFINITY, 0,
                                                              EC_XNN_CACHES_ARG & op);
    if (op) xnn_delete_operator(op);
    op = nullptr;
    const xnn_status add = xnn_create_add_nd_f16(-INFINITY, INFINITY, 0, &op);
    if (op) xnn_delete_operator(op);
    if (conv == xnn_status_success && add == xnn_status_success) return std::string();
    return std::string("XNNPACK has no float16 kernels for this CPU (") + cpu_fp16_features() + "; create status " +
           std::to_string(static_cast<int>(conv != xnn_status_success ? conv : add)) + ")";
  }();
  return status;
}
XnnThreadPool::XnnThreadPool(int threads) {
  if (threads > 1) pool_ = pthreadpool_create(static_cast<size_t>(threads));
}
XnnThreadPool::~XnnThreadPool() {
  if (pool_) pthreadpool_destroy(static_cast<pthreadpool_t>(pool_));
}
void XnnThreadPool::park() {
  if (!pool_) return;
  auto pool = static_cast<pthreadpool_t>(pool_);
  pthreadpool_parallelize_1d(pool, [](void*, size_t) {}, nullptr, pthreadpool_get_threads_count(pool), PTHREADPOOL_FLAG_YIELD_WORKERS);
}
#else
bool xnnpack_available() { return false; }
bool xnnpack_fp16_available() { return false; }
std::string xnnpack_fp16_status() { return std::string("built without XNNPACK: ") + EC_XNNPACK_BUILD; }
std::string xnnpack_build() { return EC_XNNPACK_BUILD; }
std::string xnnpack_status() { return std::string("built without XNNPACK: ") + EC_XNNPACK_BUILD; }
XnnThreadPool::XnnThreadPool(int) {}
XnnThreadPool::~XnnThreadPool() {}
void XnnThreadPool::park() {}
#endif

XnnThreadPool& XnnThreadPool::operator=(XnnThreadPool&& o) noexcept {
  std::swap(pool_, o.pool_);
  return *this;
}

namespace {
// The per-tile transforms' kernel (winograd.h): AVX-512 F where built and present, unless a test turned it off.
bool g_winograd_vector = true;
bool winograd_avx512() {
#if defined(EC_HAVE_WINOGRAD_AVX512) && defined(__x86_64__)
  static const bool cpu = __builtin_cpu_supports("avx512f");
  return cpu && g_winograd_vector;
#else
  return false;
#endif
}

}  // namespace

#ifdef EC_HAVE_XNNPACK
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();


// Clamp bounds XNNPACK can fuse for `a`; other activations run after the operator (post_ = true).
void fused_bounds(const Activation& a, float& lo, float& hi, bool& post) {
  lo = -kInf;
  hi = kInf;
  post = false;
  if (a.kind == Activation::Kind::relu) lo = 0;
  else if (a.kind == Activation::Kind::clip && a.a < a.b) { lo = a.a; hi = a.b; }
  else post = a.kind != Activation::Kind::none;
}

// ONNX conv weights [G*Og][Ig][KH][KW] (m filters of ig * khw) as XNNPACK wants them: [G][Og][KH][KW][Ig].
template <class T>
std::vector<T> to_ohwi(const T* src, int64_t m, int64_t ig, int64_t khw) {
  std::vector<T> packed(static_cast<size_t>(m * ig * khw));
  for (int64_t o = 0; o < m; ++o)
    for (int64_t i = 0; i < ig; ++i)
      for (int64_t k = 0; k < khw; ++k) packed[static_cast<size_t>((o * khw + k) * ig + i)] = src[(o * ig + i) * khw + k];
  return packed;
}

// Shape [N,H,W,C] as NCHW for make_window.
Shape as_nchw(const Shape& x) { return {x[0], x[3], x[1], x[2]}; }

// Common part: one xnn_operator_t, the pool, and setup on buffer change.
class XnnOp : public Op {
 public:
  XnnOp(const Node& n, int64_t o) : Op(n, o), act_(Activation::from_node(n)) { fused_bounds(act_, lo_, hi_, post_); }
  ~XnnOp() override { release(); }
  void set_threadpool(void* p) override {
    Op::set_threadpool(p);
    pool_ = static_cast<pthreadpool_t>(p);
  }

 protected:
  void release() {
    if (op_) xnn_delete_operator(op_);
    op_ = nullptr;
  }
  void check(xnn_status s, const char* what) const {
    if (s != xnn_status_success) fail(std::string("XNNPACK ") + what + " failed (status " + std::to_string(static_cast<int>(s)) + ")");
  }
  // True when setup must run again for these buffers (first run, or after reshape / rebinding).
  bool rebind(const void* a, const void* b, const void* y) {
    if (!dirty_ && a == in0_ && b == in1_ && y == out_) return false;
    in0_ = a;
    in1_ = b;
    out_ = y;
    dirty_ = false;
    return true;
  }
  void execute(float* y, size_t n) {
    check(xnn_run_operator(op_, pool_), "run");
    if (post_) apply_activation(y, n);
  }
  // The activation XNNPACK cannot fuse (SiLU, HardSwish, Sigmoid...) over y, in 16 Ki-value blocks on the threads.
  void apply_activation(float* y, size_t n) const {
    constexpr size_t kBlock = size_t{1} << 14;
    if (n < 2 * kBlock) return act_.apply(y, n);
    parallel_for(static_cast<int64_t>((n + kBlock - 1) / kBlock), [&](int64_t b) {
      const size_t i0 = static_cast<size_t>(b) * kBlock;
      act_.apply(y + i0, std::min(kBlock, n - i0));
    });
  }

  Activation act_;
  float lo_ = -kInf, hi_ = kInf;
  bool post_ = false;
  xnn_operator_t op_ = nullptr;
  pthreadpool_t pool_ = nullptr;
  bool dirty_ = true;
  const void *in0_ = nullptr, *in1_ = nullptr, *out_ = nullptr;
};

// The Winograd form of one dense 3x3 stride-1 float convolution on NHWC data: weights U = G g G^T (kA x kA per
// output k and input c) as one XNNPACK 1x1 convolution with kA^2 groups, one per transform position xi (input
// pixels [xi][c], output pixels [xi][k], weights [xi][k][c]); a block of tiles is an image of Tb x 1 pixels,
// so one XNNPACK call does the kA^2 GEMMs. Per m x m outputs and input channel: kA^2 multiplies instead of 9 m^2.
// Or (`ec`) the kA^2 GEMMs on our blocked GEMM kernel (convgemm.h), one packed 1x1 layer per position, whose
// weights all threads read in place: XNNPACK's operators bind their buffers, so sharing a block split between
// threads needs one operator, with its own copy of the weights, per thread.
template <int M>
class WinogradConv {
  // 8 floats as one value (GCC vector extension: AVX ymm, two SSE or NEON registers); only ever in locals
  typedef float V8 __attribute__((vector_size(32)));

 public:
  static constexpr int kA = Winograd<M>::kA, kP = kA * kA;
  // `tiles`: output tiles per image (how the threads share a run depends on it: mode_for).
  // `ec`: the GEMMs on our blocked GEMM kernel (convgemm.h; needs conv_gemm_available()) instead of XNNPACK's.
  WinogradConv(const float* g, const float* bias, int64_t C, int64_t K, int64_t tiles, const Op& op, bool ec = false)
      : op_(op), c_(C), k_(K), ec_(ec), avx512_(winograd_avx512()) {
    std::vector<float> u(static_cast<size_t>(kP * K * C)), row(static_cast<size_t>(kP * C));
    for (int64_t k = 0; k < K; ++k) {  // output k's kP rows of C made here, then copied out (not kP strided writes)
      for (int64_t c = 0; c < C; ++c) {
        double f[9], gg[kA * 3], uu[kP];
        for (int j = 0; j < 9; ++j) f[j] = g[(k * C + c) * 9 + j];
        for (int j = 0; j < 3; ++j) Winograd<M>::weight(f + j, 3, gg + j, 3);   // G g: columns of g
        for (int r = 0; r < kA; ++r) Winograd<M>::weight(gg + r * 3, 1, uu + r * kA, 1);  // (G g) G^T: rows
        for (int p = 0; p < kP; ++p) row[static_cast<size_t>(p * C + c)] = static_cast<float>(uu[p]);
      }
      for (int64_t p = 0; p < kP; ++p) std::copy_n(row.data() + p * C, C, u.data() + (p * K + k) * C);
    }
    // The GEMM operators (mode_for). 1 thread: one. More: one per thread with its slice of the output channels
    // (each thread takes every block for its channels; the weights are not held twice), or with all the weights
    // (each thread takes whole blocks).
    const int64_t T = std::max(1, op.threads());
    mode_ = mode_for(C, K, T, tiles, ec);
    slots_ = mode_ == Mode::steps ? 1 : T;
    bias_.assign(static_cast<size_t>(K), 0.f);
    if (bias) std::copy(bias, bias + K, bias_.begin());
    tb_ = tiles_per_block(C, K);
    zeros_.assign(static_cast<size_t>(C), 0.f);
    if (ec) {  // one weight panel set per transform position, read by every thread
      ec_gemms_.reserve(kP);
      for (int64_t p = 0; p < kP; ++p) ec_gemms_.push_back(conv_gemm_pack(u.data() + p * K * C, K, C, 1, 1, 1, 1, nullptr, -kInf, kInf));
      // all kP panel sets in one buffer (huge pages from 2 MiB, large_alloc.h: ResNet-18's 256-channel F(4,3)
      // layers hold 9.4 MB in 36 sets of 256 KB)
      const size_t each = ec_gemms_[0].w.size();
      ec_w_.resize(each * kP);
      for (int64_t p = 0; p < kP; ++p) {
        ConvGemmLayer& l = ec_gemms_[static_cast<size_t>(p)];
        std::copy(l.w.begin(), l.w.end(), ec_w_.begin() + static_cast<std::ptrdiff_t>(each * static_cast<size_t>(p)));
        l.shared = ec_w_.data() + each * static_cast<size_t>(p);
        LargeVector<float>().swap(l.w);
      }
      return;
    }
    const int64_t ops = slots_, kn = mode_ == Mode::channels ? K / T : K;
    gemms_.assign(static_cast<size_t>(ops), nullptr);
    std::vector<float> part;
    for (int64_t i = 0; i < ops; ++i) {
      const float* weights = u.data();
      if (mode_ == Mode::channels) {  // [kP][kn][C]: this thread's output channels of every GEMM
        part.resize(static_cast<size_t>(kP * kn * C));
        for (int64_t p = 0; p < kP; ++p) std::copy_n(u.data() + (p * K + i * kn) * C, kn * C, part.data() + p * kn * C);
        weights = part.data();
      }
      xnn_status st = xnn_create_convolution2d_nhwc_f32(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, kP, static_cast<size_t>(C), static_cast<size_t>(kn),
                                                        static_cast<size_t>(kP * C), static_cast<size_t>(kP * kn), weights, nullptr, -kInf, kInf, 0,
                                                        EC_XNN_CACHES & gemms_[static_cast<size_t>(i)]);
      if (st != xnn_status_success) throw Error(op.node().label() + ": XNNPACK create Winograd GEMMs failed (status " + std::to_string(static_cast<int>(st)) + ")");
    }
  }
  bool ec() const { return ec_; }
  // Tiles per block: the transformed input and output of a block in about 1 MB (L2).
  static int64_t tiles_per_block(int64_t C, int64_t K) { return std::clamp<int64_t>((int64_t{1} << 18) / (kP * (C + K)), 8, 256); }
  // The workspace run() needs, bytes: per thread, a block's transformed input and output and a scratch row per
  // job of 8 tiles (the engine's shared workspace, so layers do not each keep their own).
  // A slice per thread whenever the mode could be one with a slice per thread (whatever the map: an object built
  // for an earlier input size keeps its mode).
  static size_t workspace_bytes(int64_t C, int64_t K, int threads, bool ec) {
    const int64_t T = std::max(1, threads);
    const bool one = mode_for(C, K, T, std::numeric_limits<int64_t>::max(), ec) == Mode::steps;
    return static_cast<size_t>(one ? 1 : T) * slice_floats(C, K) * sizeof(float);
  }
  // Output tiles of an image of oh x ow pixels.
  static int64_t tiles_of(int64_t oh, int64_t ow) { return ((oh + M - 1) / M) * ((ow + M - 1) / M); }
  ~WinogradConv() {
    for (xnn_operator_t g : gemms_)
      if (g) xnn_delete_operator(g);
  }
  WinogradConv(const WinogradConv&) = delete;
  WinogradConv& operator=(const WinogradConv&) = delete;

  // y = conv(x) + bias, clamped to [lo, hi], for `batch` NHWC images of window `w`; then `act` (nullptr: none)
  // over the outputs each block completes, while they are still in cache.
  // One thread: blocks one after the other. More: each thread takes its blocks (Mode::blocks) or its output
  // channels of every block (Mode::channels) through the input transform, its own GEMM operator and the output
  // transform alone, in its own slice of the workspace. Split the other way (every block's three steps over all
  // threads, Mode::steps), each step reads what the other core wrote in the step before and waits for the slower
  // thread three times per block: at 2 threads ResNet-18's Winograd layers ran at 1.0-1.3x of 1 thread whenever
  // the other tenant of the machine was busy.
  void run(const float* x, float* y, int64_t batch, const Window& w, float lo, float hi, pthreadpool_t pool,
           const std::function<void(float*, size_t)>* act, void* ws) {
    const int64_t tiles_h = (w.oh + M - 1) / M, tiles_w = (w.ow + M - 1) / M, tiles = tiles_h * tiles_w;
    const int64_t T = slots_;
    if (mode_ == Mode::channels) {
      const int64_t blocks = (tiles + tb_ - 1) / tb_;
      std::atomic<int> status{static_cast<int>(xnn_status_success)};  // no exception may leave a pool's task
      op_.parallel_for(T, [&](int64_t i) {
        float* v = static_cast<float*>(ws) + i * slice_floats(c_, k_);
        float* m = v + tb_ * kP * c_;
        float* scratch = m + tb_ * kP * k_;
        // this thread's output channels [k0, k0 + kn): K / T of XNNPACK's, or a range of our GEMM's panels
        int64_t k0 = i * (k_ / T), kn = k_ / T;
        if (ec_) {
          const int64_t nr = ec_gemms_[0].nr, panels = ec_gemms_[0].mpad / nr;
          k0 = i * panels / T * nr;
          kn = std::min(k_, (i + 1) * panels / T * nr) - k0;
        }
        for (int64_t j = 0; j < batch * blocks; ++j) {
          const int64_t n = j / blocks, t0 = (j % blocks) * tb_, nb = std::min(tb_, tiles - t0);
          input(x + n * w.ih * w.iw * c_, t0, nb, tiles_w, w, v, vts(nb), vps(nb), true);
          const xnn_status st = gemm(i, v, m, nb, nullptr, i);
          if (st != xnn_status_success) {
            status = static_cast<int>(st);
            return;
          }
          // XNNPACK's operator writes only this thread's channels, [tile][p][kn]; ours its columns of [p][tile][K]
          if (ec_) output(y + n * w.oh * w.ow * k_, t0, nb, tiles_w, w, lo, hi, m + k0, mts(nb), mps(nb), scratch, true, act, k0, kn);
          else output(y + n * w.oh * w.ow * k_, t0, nb, tiles_w, w, lo, hi, m, kP * kn, kn, scratch, true, act, k0, kn);
        }
      });
      if (status.load() != static_cast<int>(xnn_status_success))
        throw Error(op_.node().label() + ": XNNPACK Winograd GEMMs failed (status " + std::to_string(status.load()) + ")");
      return;
    }
    if (mode_ == Mode::blocks) {
      // blocks per image of equal size, each at most tb_ tiles, a multiple of the threads; a map that fits in
      // fewer blocks than threads is cut in one block per thread (each thread then reads every weight once). The
      // pool hands the blocks out in contiguous ranges (each thread the pixels it wrote in the layer before) and a
      // thread that finishes first takes the late one's instead of waiting for it. A block runs with whichever
      // GEMM operator and workspace slice is free: at most T blocks run at once, so one always is. (ResNet-18's
      // 64-channel layers, 4 blocks of 49 tiles at 56 x 56, ran 6 % slower over the whole model when cut in 8 of
      // 25. Small maps were cut in up to 4 blocks per thread of 8 or more tiles until stop 45: one per thread
      // took the YOLO shape at 2 threads to 0.983 of that, YOLOv8 to 0.964, the segmentation head to 0.993,
      // paired rounds of one binary on Xeon Emerald Rapids, with stop 45's AVX-512 transforms; stop 44 had
      // measured it 0-14 % slower with the 8-float ones.)
      const int64_t base = (tiles + tb_ - 1) / tb_;
      const int64_t per = base >= T ? (base + T - 1) / T * T : T;
      const int64_t tb = (tiles + per - 1) / per, total = batch * per;
      std::atomic<int> status{static_cast<int>(xnn_status_success)};  // no exception may leave a pool's task
      std::unique_ptr<std::atomic<bool>[]> busy(new std::atomic<bool>[static_cast<size_t>(T)]);
      for (int64_t i = 0; i < T; ++i) busy[static_cast<size_t>(i)].store(false);
      op_.parallel_for(total, [&](int64_t j) {
        const int64_t n = j / per, t0 = (j % per) * tb;
        if (t0 >= tiles || status.load(std::memory_order_relaxed) != static_cast<int>(xnn_status_success)) return;
        int64_t i = 0;
        while (busy[static_cast<size_t>(i)].exchange(true, std::memory_order_acquire)) i = (i + 1) % T;
        float* v = static_cast<float*>(ws) + i * slice_floats(c_, k_);
        float* m = v + tb_ * kP * c_;
        float* scratch = m + tb_ * kP * k_;
        const int64_t nb = std::min(tb, tiles - t0);
        float* yn = y + n * w.oh * w.ow * k_;
        input(x + n * w.ih * w.iw * c_, t0, nb, tiles_w, w, v, vts(nb), vps(nb), true);
        const xnn_status st = gemm(i, v, m, nb, nullptr);
        if (st != xnn_status_success) status = static_cast<int>(st);
        else output(yn, t0, nb, tiles_w, w, lo, hi, m, mts(nb), mps(nb), scratch, true, act, 0, k_);
        busy[static_cast<size_t>(i)].store(false, std::memory_order_release);
      });
      if (status.load() != static_cast<int>(xnn_status_success))
        throw Error(op_.node().label() + ": XNNPACK Winograd GEMMs failed (status " + std::to_string(status.load()) + ")");
      return;
    }
    float* v = static_cast<float*>(ws);
    float* m = v + tb_ * kP * c_;
    float* scratch = m + tb_ * kP * k_;
    for (int64_t n = 0; n < batch; ++n) {
      const float* xn = x + n * w.ih * w.iw * c_;
      float* yn = y + n * w.oh * w.ow * k_;
      int64_t rows_done = 0;  // output rows the activation has run over
      for (int64_t t0 = 0; t0 < tiles; t0 += tb_) {
        const int64_t nb = std::min(tb_, tiles - t0);
        input(xn, t0, nb, tiles_w, w, v, vts(nb), vps(nb), false);
        const xnn_status st = gemm(0, v, m, nb, pool);
        if (st != xnn_status_success) throw Error(op_.node().label() + ": XNNPACK Winograd GEMMs failed (status " + std::to_string(static_cast<int>(st)) + ")");
        output(yn, t0, nb, tiles_w, w, lo, hi, m, mts(nb), mps(nb), scratch, false, nullptr, 0, k_);
        if (act) {
          const int64_t rows = t0 + nb == tiles ? w.oh : std::min(w.oh, (t0 + nb) / tiles_w * M);  // complete tile rows
          if (rows > rows_done) (*act)(yn + rows_done * w.ow * k_, static_cast<size_t>((rows - rows_done) * w.ow * k_));
          rows_done = std::max(rows_done, rows);
        }
      }
    }
  }

 private:
  enum class Mode { steps, blocks, channels };  // how the threads share a run (run())
  // Where the transformed input of tile t and position p starts in a block of nb tiles: [t][p][C] for XNNPACK's
  // grouped 1x1 convolution, [p][t][C] for ours (each position's GEMM reads its rows in place); and the same for
  // the GEMMs' output ([t][p][K] or [p][t][K]).
  int64_t vts(int64_t) const { return ec_ ? c_ : kP * c_; }
  int64_t vps(int64_t nb) const { return ec_ ? nb * c_ : c_; }
  int64_t mts(int64_t) const { return ec_ ? k_ : kP * k_; }
  int64_t mps(int64_t nb) const { return ec_ ? nb * k_ : k_; }
  // The kP GEMMs of a block of nb tiles, v -> m, on GEMM operator / workspace slot i (XNNPACK on `pool`, ours on
  // the calling thread: in Mode::channels only thread `part`'s range of the weight panels, else all).
  xnn_status gemm(int64_t i, const float* v, float* m, int64_t nb, pthreadpool_t pool, int64_t part = -1) {
    if (ec_) {
      const ConvGemmLayer& l0 = ec_gemms_[0];
      const int64_t panels = l0.mpad / l0.nr, per = conv_gemm_pixels(l0);
      const int64_t n0 = part < 0 ? 0 : part * panels / slots_, n1 = part < 0 ? panels : (part + 1) * panels / slots_;
      for (int64_t p = 0; p < kP; ++p) {
        const ConvGemmImage g{v + p * nb * c_, 1, nb, 0, 0, m + p * nb * k_, 1, nb};
        for (int64_t t = 0; t < nb; t += per) conv_gemm_run(ec_gemms_[static_cast<size_t>(p)], g, t, std::min(nb, t + per), n0, n1, nullptr);
      }
      return xnn_status_success;
    }
    xnn_operator_t op = gemms_[static_cast<size_t>(i)];
    xnn_status st = xnn_setup_convolution2d_nhwc_f32(op, 1, static_cast<size_t>(nb), 1, v, m, pool);
    if (st == xnn_status_success) st = xnn_run_operator(op, pool);
    return st;
  }
  // More than one thread: output channels per thread while each thread still gets 64 or more (fewer make the
  // GEMMs narrow: ResNet-18's 64-channel layers ran 10 % slower that way); else whole blocks, on maps of more
  // than one block while the copy of the transformed weights each thread then holds stays within 1 MB (larger
  // copies added 12 MB to YOLOv8's peak at 2 threads), and on maps of one block with 8 or more tiles per thread
  // while the copy stays within 320 KB (the steps split ran YOLOv8's 32-channel layers at 40 x 40 slower at 2
  // threads than at 1; copies up to 1 MB there, its 64-channel F(4,3) layers, made YOLOv8 4 % faster and put
  // 11 MB on its peak, 39 MiB against ONNX Runtime's 44); else the steps split.
  // Our GEMM (ec): the threads read the same weights, so no mode needs copies. Whole blocks per thread, unless a
  // thread's share of the tiles is small next to the output channels (K T / tiles >= 16): then each thread reads
  // every block's weights for few tiles, and a range of the weight panels each (every thread transforming each
  // block's input) reads 1/T of them (ResNet-18's 256-channel layers at 14 x 14, F(4,3): 16 tiles).
  static Mode mode_for(int64_t C, int64_t K, int64_t T, int64_t tiles, bool ec) {
    if (T == 1) return Mode::steps;
    if (ec) return K * T >= 16 * tiles && (K + conv_gemm_nr() - 1) / conv_gemm_nr() >= T ? Mode::channels : Mode::blocks;
    if (K % (16 * T) == 0 && K / T >= 64) return Mode::channels;
    const int64_t bytes = kP * C * K * 4;  // the transformed weights, each thread's copy in Mode::blocks
    const bool blocks = (tiles > tiles_per_block(C, K) && bytes <= (int64_t{1} << 20)) || (tiles >= 8 * T && bytes <= (int64_t{320} << 10));
    return blocks ? Mode::blocks : Mode::steps;
  }
  static int64_t slice_floats(int64_t C, int64_t K) {
    const int64_t tb = tiles_per_block(C, K);
    return tb * kP * (C + K) + (tb + 7) / 8 * K;
  }
  // Jobs [0, n) on the op's threads, or on the calling thread when `serial`.
  void each(int64_t n, bool serial, const std::function<void(int64_t)>& fn) const {
    if (!serial) return op_.parallel_for(n, fn);
    for (int64_t j = 0; j < n; ++j) fn(j);
  }
  // V = B^T d B for tiles [t0, t0 + nb) into v_: each tile's kA x kA input pixels (zeros outside), all channels.
  // Tile t's position p goes to vbuf + t * ts + p * ps.
  void input(const float* x, int64_t t0, int64_t nb, int64_t tiles_w, const Window& w, float* vbuf, int64_t ts, int64_t ps, bool serial) {
    const int64_t C = c_;
    each((nb + 7) / 8, serial, [&](int64_t job) {
      for (int64_t t = job * 8; t < std::min(nb, job * 8 + 8); ++t) {
        const int64_t tile = t0 + t, iy0 = (tile / tiles_w) * M - w.pt, ix0 = (tile % tiles_w) * M - w.pl;
        const float* d[kP];
        for (int r = 0; r < kA; ++r)
          for (int q = 0; q < kA; ++q) {
            const int64_t iy = iy0 + r, ix = ix0 + q;
            d[r * kA + q] = iy >= 0 && iy < w.ih && ix >= 0 && ix < w.iw ? x + (iy * w.iw + ix) * C : zeros_.data();
          }
        float* v = vbuf + t * ts;
#if defined(EC_HAVE_WINOGRAD_AVX512)
        if (avx512_) {  // 16 channels a register
          winograd_input_avx512<M>(d, C, v, ps);
          continue;
        }
#endif
        int64_t c = 0;
        for (; c + 8 <= C; c += 8) {  // 8 channels at a time in vector registers (GCC vector extension)
          V8 a[kP], b[kP], e[kP];
          for (int p = 0; p < kP; ++p) __builtin_memcpy(&a[p], d[p] + c, sizeof(V8));
          for (int q = 0; q < kA; ++q) Winograd<M>::in(a + q, kA, b + q, kA);            // B^T d: columns
          for (int r = 0; r < kA; ++r) Winograd<M>::in(b + r * kA, 1, e + r * kA, 1);    // (B^T d) B: rows
          for (int p = 0; p < kP; ++p) __builtin_memcpy(v + p * ps + c, &e[p], sizeof(V8));
        }
        for (; c < C; ++c) {
          float a[kP], b[kP], e[kP];
          for (int p = 0; p < kP; ++p) a[p] = d[p][c];
          for (int q = 0; q < kA; ++q) Winograd<M>::in(a + q, kA, b + q, kA);
          for (int r = 0; r < kA; ++r) Winograd<M>::in(b + r * kA, 1, e + r * kA, 1);
          for (int p = 0; p < kP; ++p) v[p * ps + c] = e[p];
        }
      }
    });
  }
  // Y = A^T M A + bias, clamped, for the block's tiles from mbuf ([tile][kP][kn]), output channels [k0, k0 + kn)
  // (outputs past the edge go to the job's scratch row); then `act` (nullptr: none) over each tile's output pixels.
  // (tile t's position p read from mbuf + t * ts + p * ps)
  void output(float* y, int64_t t0, int64_t nb, int64_t tiles_w, const Window& w, float lo, float hi, const float* mbuf, int64_t ts, int64_t ps,
              float* sbuf, bool serial,
              const std::function<void(float*, size_t)>* act, int64_t k0, int64_t kn) {
    const int64_t K = kn, Y = k_;  // channels here, channels per output pixel
    const float* bias = bias_.data() + k0;
    each((nb + 7) / 8, serial, [&](int64_t job) {
      float* scratch = sbuf + job * K;
      for (int64_t t = job * 8; t < std::min(nb, job * 8 + 8); ++t) {
        const int64_t tile = t0 + t, oy = (tile / tiles_w) * M, ox = (tile % tiles_w) * M;
        const float* mm = mbuf + t * ts;
        float* o[M * M];
        for (int r = 0; r < M; ++r)
          for (int q = 0; q < M; ++q) o[r * M + q] = oy + r < w.oh && ox + q < w.ow ? y + ((oy + r) * w.ow + ox + q) * Y + k0 : scratch;
        int64_t k = 0;
#if defined(EC_HAVE_WINOGRAD_AVX512)
        if (avx512_) {  // 16 channels a register
          winograd_output_avx512<M>(mm, ps, K, bias, lo, hi, o);
          k = K;
        }
#endif
        const V8 lo8 = V8{} + lo, hi8 = V8{} + hi;
        for (; k + 8 <= K; k += 8) {
          V8 a[kP], b[M * kA], e[M * M], bk;
          for (int p = 0; p < kP; ++p) __builtin_memcpy(&a[p], mm + p * ps + k, sizeof(V8));
          for (int q = 0; q < kA; ++q) Winograd<M>::out(a + q, kA, b + q, kA);         // A^T m: columns
          for (int r = 0; r < M; ++r) Winograd<M>::out(b + r * kA, 1, e + r * M, 1);    // (A^T m) A: rows
          __builtin_memcpy(&bk, bias + k, sizeof(V8));
          for (int p = 0; p < M * M; ++p) {
            V8 y = e[p] + bk;
            y = y < lo8 ? lo8 : y;
            y = y > hi8 ? hi8 : y;
            __builtin_memcpy(o[p] + k, &y, sizeof(V8));
          }
        }
        for (; k < K; ++k) {
          float a[kP], b[M * kA], e[M * M];
          for (int p = 0; p < kP; ++p) a[p] = mm[p * ps + k];
          for (int q = 0; q < kA; ++q) Winograd<M>::out(a + q, kA, b + q, kA);
          for (int r = 0; r < M; ++r) Winograd<M>::out(b + r * kA, 1, e + r * M, 1);
          const float bk = bias[k];
          for (int p = 0; p < M * M; ++p) o[p][k] = std::min(hi, std::max(lo, e[p] + bk));
        }
        if (act && K == Y)
          for (int64_t r = 0; r < M && oy + r < w.oh; ++r) (*act)(y + ((oy + r) * w.ow + ox) * Y, static_cast<size_t>(std::min<int64_t>(M, w.ow - ox) * Y));
        else if (act)  // a slice of the channels: pixel by pixel
          for (int64_t r = 0; r < M && oy + r < w.oh; ++r)
            for (int64_t q = 0; q < M && ox + q < w.ow; ++q) (*act)(y + ((oy + r) * w.ow + ox + q) * Y + k0, static_cast<size_t>(K));
      }
    });
  }

  const Op& op_;
  int64_t c_, k_, tb_ = 0;
  bool ec_ = false;
  bool avx512_ = false;  // the transforms on winograd_avx512.cpp's kernels (chosen when the object is made)
  int64_t slots_ = 1;  // workspace slices (and XNNPACK GEMM operators): 1 in Mode::steps, else one per thread
  std::vector<ConvGemmLayer> ec_gemms_;  // ec: the kP GEMMs, [K][C] each as a 1x1 convolution, weights in ec_w_
  LargeVector<float> ec_w_;              // ec: the kP GEMMs' packed weights, one after the other
  Mode mode_ = Mode::steps;
  std::vector<xnn_operator_t> gemms_;  // the 36 (F(4,3)) or 16 (F(2,3)) GEMMs as one grouped 1x1 convolution (per thread)
  std::vector<float> bias_, zeros_;
};

// Depthwise K x K float convolution (one filter per channel, stride S = 1 or 2) on NHWC data, written for the
// layers XNNPACK 2022 runs through an indirection buffer (one pointer per output pixel and tap: as many bytes
// read again as the input itself at 3x3). Four output pixels of a row at a time, 8 channels per vector (GCC
// vector extension): each input vector loaded once serves every tap of the four outputs that reads it, each
// weight vector once per four outputs.
class DepthwiseConv {
  typedef float V8 __attribute__((vector_size(32)));

 public:
  // w: ONNX [C][1][K][K]; bias [C] or nullptr.
  DepthwiseConv(const float* w, const float* bias, int64_t C, int k, int s) : c_(C), k_(k), s_(s) {
    w_.resize(static_cast<size_t>(k * k * C));
    for (int64_t c = 0; c < C; ++c)
      for (int t = 0; t < k * k; ++t) w_[static_cast<size_t>(t * C + c)] = w[c * k * k + t];
    b_.assign(static_cast<size_t>(C), 0.f);
    if (bias) std::copy(bias, bias + C, b_.begin());
  }
  static bool supports(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw) {
    return kh == kw && (kh == 3 || kh == 5) && sh == sw && (sh == 1 || sh == 2) && dh == 1 && dw == 1;
  }
  void run(const float* x, float* y, int64_t batch, const Window& w, float lo, float hi, const Op& op) const {
    op.parallel_for(batch * w.oh, [&](int64_t row) {
      const int64_t n = row / w.oh, oy = row % w.oh;
      rows(x + n * w.ih * w.iw * c_, y + (n * w.oh + oy) * w.ow * c_, oy, oy + 1, w, lo, hi);
    });
  }
  // Output rows [oy0, oy1) of one image x ([ih][iw][C]) into y, one row of ow x C floats after the other,
  // clamped to [lo, hi].
  void rows(const float* x, float* y, int64_t oy0, int64_t oy1, const Window& w, float lo, float hi) const {
    if (wide_) {
      const DepthwiseView v{w_.data(), b_.data(), c_, k_, s_, w.ih, w.iw, w.oh, w.ow, w.pt, w.pl, lo, hi};
      return depthwise_rows_avx512(v, x, y, oy0, oy1);
    }
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      float* yr = y + (oy - oy0) * w.ow * c_;
      if (k_ == 3 && s_ == 1) this->row<3, 1>(x, yr, oy, w, lo, hi);
      else if (k_ == 3) this->row<3, 2>(x, yr, oy, w, lo, hi);
      else if (s_ == 1) this->row<5, 1>(x, yr, oy, w, lo, hi);
      else this->row<5, 2>(x, yr, oy, w, lo, hi);
    }
  }

 private:
  template <int K, int S>
  void row(const float* x, float* y, int64_t oy, const Window& w, float lo, float hi) const {
    constexpr int kSpan = 3 * S + K;  // input columns read by four outputs
    const int64_t C = c_;
    const V8 lo8 = V8{} + lo, hi8 = V8{} + hi, zero = V8{};
    int64_t c0 = 0;
    for (; c0 + 8 <= C; c0 += 8) {
      V8 wv[K * K], bv;
      for (int t = 0; t < K * K; ++t) __builtin_memcpy(&wv[t], w_.data() + t * C + c0, sizeof(V8));
      __builtin_memcpy(&bv, b_.data() + c0, sizeof(V8));
      for (int64_t ox0 = 0; ox0 < w.ow; ox0 += 4) {
        V8 acc[4] = {bv, bv, bv, bv};
        const int64_t ix0 = ox0 * S - w.pl;
        for (int ky = 0; ky < K; ++ky) {
          const int64_t iy = oy * S - w.pt + ky;
          if (iy < 0 || iy >= w.ih) continue;
          const float* r = x + iy * w.iw * C + c0;
          V8 in[kSpan];
          for (int t = 0; t < kSpan; ++t) {
            const int64_t ix = ix0 + t;
            if (ix >= 0 && ix < w.iw) __builtin_memcpy(&in[t], r + ix * C, sizeof(V8));
            else in[t] = zero;
          }
          for (int j = 0; j < 4; ++j)
            for (int kx = 0; kx < K; ++kx) acc[j] += in[j * S + kx] * wv[ky * K + kx];
        }
        for (int j = 0; j < 4 && ox0 + j < w.ow; ++j) {
          V8 v = acc[j] < lo8 ? lo8 : acc[j];
          v = v > hi8 ? hi8 : v;
          __builtin_memcpy(y + (ox0 + j) * C + c0, &v, sizeof(V8));
        }
      }
    }
    for (; c0 < C; ++c0)  // channels past the last vector
      for (int64_t ox = 0; ox < w.ow; ++ox) {
        float acc = b_[static_cast<size_t>(c0)];
        for (int ky = 0; ky < K; ++ky) {
          const int64_t iy = oy * S - w.pt + ky;
          if (iy < 0 || iy >= w.ih) continue;
          for (int kx = 0; kx < K; ++kx) {
            const int64_t ix = ox * S - w.pl + kx;
            if (ix >= 0 && ix < w.iw) acc += x[(iy * w.iw + ix) * C + c0] * w_[static_cast<size_t>((ky * K + kx) * C + c0)];
          }
        }
        y[ox * C + c0] = std::min(hi, std::max(lo, acc));
      }
  }

  int64_t c_;
  int k_, s_;
  std::vector<float> w_, b_;
  // 16-float vectors (depthwise.h) where the CPU has AVX-512: 24 channels in two instructions per tap instead
  // of three, 28 in two instead of three and four scalar channels
  bool wide_ = depthwise_avx512_available();
};

// Conv on NHWC input: weights OIHW (from the ONNX file) packed by XNNPACK. A dense 3x3 stride-1 float
// convolution has two more candidates (kernel choice by measurement, engine/op.h): Winograd F(2x2, 3x3) and
// F(4x4, 3x3). Only the chosen candidate's packed weights are kept: choose_kernel builds it and frees the others.
class NhwcConvOp : public XnnOp {
 public:
  using XnnOp::XnnOp;
  ~NhwcConvOp() override { release_parts(); }
  NhwcConvOp(const NhwcConvOp&) = delete;
  NhwcConvOp& operator=(const NhwcConvOp&) = delete;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0)) fail("input is missing");
    const DType xt = in.t[0]->dtype();
    if (xt != DType::f32 && xt != DType::f16) fail(std::string("input type ") + dtype_name(xt) + " is not supported");
    if (xt == DType::f16 && post_) fail("a float16 convolution fuses only Relu and Clip");
    const Tensor& wt = need_const(in, 1, "weight");
    if (wt.dtype() != DType::f32) fail(std::string("weight type ") + dtype_name(wt.dtype()) + " is not supported");
    // "_nchw_in" (layout pass: a stem on the model's input): the input is [N][C][H][W]; the shape below is NHWC
    nchw_in_ = node_.attr_i("_nchw_in", 0) != 0;
    const Shape& xin = in.t[0]->shape();
    if (nchw_in_ && (xin.size() != 4 || xt != DType::f32)) fail("an NCHW input " + shape_str(xin) + " must be 4-D float32");
    const Shape x = nchw_in_ ? Shape{xin[0], xin[2], xin[3], xin[1]} : xin;
    const Shape& ws = wt.shape();
    if (x.size() != 4 || ws.size() != 4) fail("NHWC input " + shape_str(x) + " and weight " + shape_str(ws) + " must be 4-D");
    const int64_t group = node_.attr_i("group", 1);
    const int64_t c = x[3], m = ws[0];
    if (group < 1 || c % group || m % group || c / group != ws[1])
      fail("group=" + std::to_string(group) + " does not fit input channels " + std::to_string(c) + " and weight " + shape_str(ws));
    auto kernel = node_.attr_ints("kernel_shape", {ws[2], ws[3]});
    if (kernel != std::vector<int64_t>{ws[2], ws[3]}) fail("kernel_shape " + shape_str(kernel) + " does not match weight " + shape_str(ws));
    Window w = make_window(node_, as_nchw(x), kernel, false);
    const Tensor* bias = nullptr;
    if (in.has(2)) {
      bias = &need_const(in, 2, "bias");
      if (bias->dtype() != DType::f32 || bias->numel() != m) fail("bias " + shape_str(bias->shape()) + " does not match " + std::to_string(m) + " output channels");
    }
    const bool geometry = !(w.pt == w_.pt && w.pl == w_.pl && w.pb == w_.pb && w.pr == w_.pr && c == c_ && xt == dtype_);
    wt_ = wt;  // shared: the graph's initializer
    bias_ = bias ? *bias : Tensor();
    group_ = group;
    w_ = w;
    c_ = c;
    m_ = m;
    dtype_ = xt;
    dirty_ = true;
    wino_ok_ = xt == DType::f32 && group == 1 && w.kh == 3 && w.kw == 3 && w.sh == 1 && w.sw == 1 && w.dh == 1 && w.dw == 1 && c >= 8 && m >= 8 &&
               w.oh >= 2 && w.ow >= 2;
    dw_ok_ = xt == DType::f32 && group == c && m == c && DepthwiseConv::supports(w.kh, w.kw, w.sh, w.sw, w.dh, w.dw);
    parts_n_ = xt == DType::f32 && group == 1 ? split_parts(c * m * w.kh * w.kw * 4, m, w.oh * w.ow) : 1;
    // the direct kernel rereads a 64-channel block's weights for every 6 pixels: offered while they stay within
    // 64 KB (kh * kw * c <= 256), where it beat XNNPACK (stems; YOLO's 16 -> 32 3x3 stride 2); with more it lost
    stem_ok_ = xt == DType::f32 && group == 1 && m >= 8 && w.dh == 1 && w.dw == 1 && w.kh * w.kw * c <= 256 && stem_conv_available();
    gemm_ok_ = xt == DType::f32 && group == 1 && w.dh == 1 && w.dw == 1 && conv_gemm_available();
    nchw_out_ = node_.attr_i("_nchw_out", 0) != 0;
    // a 1x1 head writing NCHW: also Y = W X^T, each channel's row stored as it is (convgemm.h)
    rowgemm_ok_ = xt == DType::f32 && nchw_out_ && group == 1 && w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.pt == 0 && w.pl == 0 &&
                  w.pb == 0 && w.pr == 0 && !(in.t.size() > 3 && in.has(3)) && row_gemm_available();
    if (!wino_ok_ && !dw_ok_ && parts_n_ < 2 && !stem_ok_ && !gemm_ok_ && !rowgemm_ok_) kind_ = 0;
    if (geometry) {
      release();
      release_parts();
    }
    // a layer with candidates gets its kernel when the engine chooses one (choose_kernel follows every
    // prepare): building XNNPACK's packing first only to free it for a Winograd form would raise the peak
    if (kernel_candidates().empty()) build(kind_);
    batch_in_ = x[0];
    staging_bytes_ = nchw_out_ ? static_cast<size_t>(x[0] * w.oh * w.ow * m) * dtype_size(xt) : 0;
    out[0] = {xt, nchw_out_ ? Shape{x[0], m, w.oh, w.ow} : Shape{x[0], w.oh, w.ow, m}};
    // a fused residual Add (layout pass: a 4th input): of the output's shape, added to each block of outputs by
    // the kernels (finish); any other shape that broadcasts with it, after the whole convolution from the
    // workspace (run_broadcast_residual)
    res_ = in.t.size() > 3 && in.has(3);
    res_direct_ = false;
    if (res_) {
      if (xt != DType::f32 || nchw_out_) fail("a residual Add is fused only into a float32 convolution writing NHWC");
      need_f32(in, 3);
      act2_ = Activation::from_node(node_, "_res_act");
      y_shape_ = {x[0], w.oh, w.ow, m};
      r_shape_ = in.t[3]->shape();
      res_direct_ = r_shape_ == y_shape_;
      if (!res_direct_) {
        const Shape o = broadcast_shapes(y_shape_, r_shape_, node_);
        staging_bytes_ = static_cast<size_t>(numel(y_shape_)) * sizeof(float);
        out[0] = {xt, o};
      }
    }
  }
  // Winograd streams kA^2/9 times the weights of the direct kernel (F(2,3): 1.8x, F(4,3): 4x). Measured one
  // layer at a time its weights stay in cache, which they do not inside the model once they are large: ResNet-18's
  // 512-channel layers took 1.3 ms alone and 3.3 ms in the model with F(4,3) (37.7 MB of transformed weights),
  // against 1.9 ms for XNNPACK. So a form is offered only while its transformed weights stay within 16 MB.
  static constexpr int64_t kWinogradMaxWeightBytes = int64_t{16} << 20;
  std::vector<std::string> kernel_candidates() const override {
    if (dw_ok_) return {"xnnpack", "ec-depthwise"};
    std::vector<std::string> r = {"xnnpack"};
    // F(4,3) holds 4x the weights and saves multiplies per output pixel: on a small map the saving does not pay for
    // the memory (the segmentation head's 160-channel layer at 8x8: 3.7 MB of transformed weights for 64 pixels)
    const bool f2 = wino_ok_ && 16 * c_ * m_ * 4 <= kWinogradMaxWeightBytes;
    const bool f4 = wino_ok_ && 36 * c_ * m_ * 4 <= kWinogradMaxWeightBytes && w_.oh * w_.ow >= 128;
    if (f2) r.push_back("winograd-f2");
    if (f4) r.push_back("winograd-f4");
    if (parts_n_ > 1) r.push_back("xnnpack-split");
    if (stem_ok_) r.push_back("ec-direct");
    if (gemm_ok_) r.push_back("ec-gemm");
    if (rowgemm_ok_) r.push_back("ec-rowgemm");
    // the Winograd transforms with the GEMMs on our blocked kernel, whose weights every thread shares: last, so
    // that they displace the direct kernels (which hold 1/1.8 to 1/4 of their weights) only when 10 % faster
    // (ResNet-18's 512-channel layers at 2 threads had kept F(2,3) at 0.75-0.80 ms over the GEMM's 0.66-0.69)
    if (f2 && conv_gemm_available()) r.push_back("ec-winograd-f2");
    if (f4 && conv_gemm_available()) r.push_back("ec-winograd-f4");
    return r.size() > 1 ? r : std::vector<std::string>{};
  }
  void choose_kernel(size_t i) override {
    const auto names = kernel_candidates();
    kind_ = i == 0 || i >= names.size()  ? 0
            : names[i] == "winograd-f2"  ? 1
            : names[i] == "winograd-f4"  ? 2
            : names[i] == "xnnpack-split" ? 4
            : names[i] == "ec-direct"     ? 5
            : names[i] == "ec-gemm"       ? 6
            : names[i] == "ec-rowgemm"  ? 9
            : names[i] == "ec-winograd-f2" ? 7
            : names[i] == "ec-winograd-f4" ? 8
                                          : 3;
    build(kind_);
    dirty_ = true;
  }
  // How many output-channel slices make a convolution's weights fit the core's cache: XNNPACK's GEMM walks the
  // output pixels in tiles of a few rows and streams all of the operator's packed weights for each tile, so a
  // layer whose weights exceed L2 reads them from L3 or memory once per tile (ResNet-18's 512-channel 3x3
  // layers: 9.4 MB, 7 tiles of 7 pixels). Sliced into operators of at most half of L2 each, every slice's weights
  // stay in L2 across its tiles. 1 (no slicing) when the weights already fit, when there are too few pixels for
  // a second tile, or when a slice would have fewer than 16 output channels (one AVX-512 register's width).
  static int64_t split_parts(int64_t weight_bytes, int64_t m, int64_t pixels) {
    static const int64_t l2 = [] {
      const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);  // 0 or -1 where the C library cannot tell (aarch64)
      return v > 0 ? static_cast<int64_t>(v) : int64_t{512} << 10;
    }();
    if (pixels < 16) return 1;
    int64_t p = 1;
    while (weight_bytes / p > l2 / 2 && m % (2 * p) == 0 && m / (2 * p) >= 16) p *= 2;
    return p;
  }
  size_t workspace_bytes() const override { return staging_offset() + staging_bytes_ + staging_in_bytes(); }
  // The NHWC copy of an NCHW input ("_nchw_in") for the kernels other than the direct one, after the output's.
  size_t staging_in_bytes() const { return nchw_in_ ? static_cast<size_t>(w_.ih * w_.iw * c_ * batch_in_) * sizeof(float) : 0; }
  // Where the NHWC output of an NCHW-writing convolution is staged in the workspace (after Winograd's part).
  size_t staging_offset() const {
    size_t b = 0;
    if (wino_ok_)
      for (bool ec : {false, true})
        b = std::max({b, WinogradConv<2>::workspace_bytes(c_, m_, threads_, ec), WinogradConv<4>::workspace_bytes(c_, m_, threads_, ec)});
    return (b + 63) / 64 * 64;
  }
  size_t chosen_kernel() const override {
    if (kind_ == 0) return 0;
    const auto names = kernel_candidates();
    const std::string want = kind_ == 1   ? "winograd-f2"
                             : kind_ == 2 ? "winograd-f4"
                             : kind_ == 4 ? "xnnpack-split"
                             : kind_ == 5 ? "ec-direct"
                             : kind_ == 6 ? "ec-gemm"
                             : kind_ == 9 ? "ec-rowgemm"
                             : kind_ == 7 ? "ec-winograd-f2"
                             : kind_ == 8 ? "ec-winograd-f4"
                                          : "ec-depthwise";
    return static_cast<size_t>(std::find(names.begin(), names.end(), want) - names.begin());
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void* ws) override {
    if (nchw_in_ && kind_ != 5) {  // only the direct kernel reads NCHW: the others get an NHWC copy
      const Shape& xs = in[0]->shape();
      Tensor nhwc = Tensor::view(DType::f32, {xs[0], xs[2], xs[3], xs[1]}, static_cast<uint8_t*>(ws) + staging_offset() + staging_bytes_);
      transpose_batched(*this, in[0]->data(), nhwc.data(), sizeof(float), xs[0], xs[1], xs[2] * xs[3]);
      std::vector<const Tensor*> in2(in);
      in2[0] = &nhwc;
      return run_layout(in2, out, ws);
    }
    run_layout(in, out, ws);
  }

 private:
  // run() on an input in the layout the chosen kernel reads.
  void run_layout(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void* ws) {
    res_now_ = nullptr;
    y_now_ = nullptr;
    if (res_ && !res_direct_) {  // the convolution into the workspace, then the broadcast Add into the output
      Tensor staged = Tensor::view(DType::f32, y_shape_, static_cast<uint8_t*>(ws) + staging_offset());
      run_nhwc(in, &staged, ws);
      return run_broadcast_residual(staged, *in[3], *out[0]);
    }
    if (res_) {
      res_now_ = in[3]->ptr<float>();
      y_now_ = out[0]->ptr<float>();
    }
    if (!nchw_out_) return run_nhwc(in, out[0], ws);
    if (kind_ == 9) {  // rows of output channels, NCHW as computed
      if (!rowgemm_) build(kind_);
      float* y = out[0]->ptr<float>();
      run_rowgemm(in[0]->ptr<float>(), y, in[0]->dim(0));
      if (post_) apply_activation(y, static_cast<size_t>(out[0]->numel()));
      return;
    }
    if (kind_ == 6 && !gemm_) build(kind_);
    if (dtype_ == DType::f32 && kind_ == 6 && gemm_ && conv_gemm_kc(*gemm_) == gemm_->k) {  // the GEMM stores NCHW itself
      float* y = out[0]->ptr<float>();
      run_gemm(in[0]->ptr<float>(), y, in[0]->dim(0), true);
      if (post_after()) apply_activation(y, static_cast<size_t>(out[0]->numel()));
      return;
    }
    // the others write NHWC into the workspace, then it is transposed into the output
    const Shape& o = out[0]->shape();
    Tensor staged = Tensor::view(dtype_, {o[0], o[2], o[3], o[1]}, static_cast<uint8_t*>(ws) + staging_offset());
    run_nhwc(in, &staged, ws);
    transpose_batched(*this, staged.data(), out[0]->data(), dtype_size(dtype_), o[0], o[2] * o[3], o[1]);
  }

  void run_nhwc(const std::vector<const Tensor*>& in, Tensor* out0, void* ws) {
    const std::vector<Tensor*> out{out0};
    if (dtype_ == DType::f16) {
      if (rebind(in[0]->data(), nullptr, out[0]->data()))
        check(xnn_setup_convolution2d_nhwc_f16(op_, static_cast<size_t>(in[0]->dim(0)), static_cast<size_t>(w_.ih), static_cast<size_t>(w_.iw),
                                               in[0]->data(), out[0]->data(), pool_),
              "setup float16 convolution");
      check(xnn_run_operator(op_, pool_), "run");
      return;
    }
    float* y = out[0]->ptr<float>();
    if (!op_ && !wino2_ && !wino4_ && !dw_ && parts_.empty() && !stem_ && !gemm_) build(kind_);
    if (kind_ == 5) {
      run_direct(in[0]->ptr<float>(), y, in[0]->dim(0));
      return;
    }
    if (kind_ == 6) {  // the activation and the residual by each task, on the outputs it wrote
      run_gemm(in[0]->ptr<float>(), y, in[0]->dim(0));
      return;
    }
    if (kind_ == 4) {  // the slices are shared out among the threads, each slice run on one thread
      const int64_t og = m_ / static_cast<int64_t>(parts_.size());
      if (rebind(in[0]->data(), nullptr, y))
        for (size_t p = 0; p < parts_.size(); ++p)
          check(xnn_setup_convolution2d_nhwc_f32(parts_[p], static_cast<size_t>(in[0]->dim(0)), static_cast<size_t>(w_.ih),
                                                 static_cast<size_t>(w_.iw), in[0]->ptr<float>(), y + static_cast<int64_t>(p) * og, nullptr),
                "setup a slice of a convolution");
      std::atomic<int> status{static_cast<int>(xnn_status_success)};  // no exception may leave a pool's task
      parallel_for(static_cast<int64_t>(parts_.size()), [&](int64_t p) {
        const xnn_status st = xnn_run_operator(parts_[static_cast<size_t>(p)], nullptr);
        if (st != xnn_status_success) status = static_cast<int>(st);
      });
      check(static_cast<xnn_status>(status.load()), "run a slice of a convolution");
      finish_all(y, static_cast<size_t>(out[0]->numel()));
      return;
    }
    if (kind_ == 3) {
      dw_->run(in[0]->ptr<float>(), y, in[0]->dim(0), w_, lo_, hi_, *this);
      finish_all(y, static_cast<size_t>(out[0]->numel()));
      return;
    }  // only if run without a kernel choice (never by NativeEngine)
    if (kind_ != 0) {  // the activation and the residual on each block's outputs while they are in cache
      const std::function<void(float*, size_t)> act = [this](float* p, size_t n) { finish(p, n); };
      if (kind_ == 1 || kind_ == 7) wino2_->run(in[0]->ptr<float>(), y, in[0]->dim(0), w_, lo_, hi_, pool_, finishing() ? &act : nullptr, ws);
      else wino4_->run(in[0]->ptr<float>(), y, in[0]->dim(0), w_, lo_, hi_, pool_, finishing() ? &act : nullptr, ws);
      return;
    }
    if (rebind(in[0]->data(), nullptr, y))
      check(xnn_setup_convolution2d_nhwc_f32(op_, static_cast<size_t>(in[0]->dim(0)), static_cast<size_t>(w_.ih), static_cast<size_t>(w_.iw),
                                             in[0]->ptr<float>(), y, pool_),
            "setup convolution");
    check(xnn_run_operator(op_, pool_), "run");
    finish_all(y, static_cast<size_t>(out[0]->numel()));
  }

  // Whether outputs need a step after the kernel: an activation it could not fuse, or a fused residual Add.
  bool finishing() const { return post_after() || res_now_; }
  // Whether the convolution's own activation runs after the kernel (not fused by XNNPACK or in the GEMM's registers).
  bool post_after() const {
    return post_ && !(kind_ == 6 && gemm_ && gemm_->act != KernelAct::none) && !(kind_ == 5 && stem_ && stem_->act != KernelAct::none);
  }
  // The activation XNNPACK cannot fuse as our kernels apply it in their registers (none for the others).
  KernelAct kernel_act() const {
    if (!post_) return KernelAct::none;
    return act_.kind == Activation::Kind::silu ? KernelAct::silu : act_.kind == Activation::Kind::hard_swish ? KernelAct::hard_swish : KernelAct::none;
  }
  // That step over outputs [p, p + n) of this run's output (y_now_): the convolution's own activation
  // (post_after), then + the residual at the same offset (res_now_) and the Add's activation.
  void finish(float* p, size_t n) const {
    if (post_after()) act_.apply(p, n);
    if (!res_now_) return;
    const float* r = res_now_ + (p - y_now_);
    for (size_t i = 0; i < n; ++i) p[i] += r[i];
    if (act2_.kind != Activation::Kind::none) act2_.apply(p, n);
  }
  // finish over the whole output y of n floats, in 16 Ki-value blocks on the threads (nothing when not finishing).
  void finish_all(float* y, size_t n) const {
    if (!finishing()) return;
    constexpr size_t kBlock = size_t{1} << 14;
    if (n < 2 * kBlock) return finish(y, n);
    parallel_for(static_cast<int64_t>((n + kBlock - 1) / kBlock), [&](int64_t b) {
      const size_t i0 = static_cast<size_t>(b) * kBlock;
      finish(y + i0, std::min(kBlock, n - i0));
    });
  }
  // A residual of another shape than the convolution's output y (staged in the workspace): out = y + r,
  // broadcast, then the Add's activation. Only for graphs whose Add broadcasts, so kept simple: one thread.
  void run_broadcast_residual(const Tensor& y, const Tensor& r, Tensor& out) const {
    const Shape& o = out.shape();
    const std::array<std::vector<int64_t>, 2> st{broadcast_strides(y.shape(), o), broadcast_strides(r.shape(), o)};
    const float* yp = y.ptr<float>();
    const float* rp = r.ptr<float>();
    float* op = out.ptr<float>();
    broadcast_for_each<2>(o, st, [&](int64_t oo, const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& sd) {
      for (int64_t i = 0; i < n; ++i) op[oo + i] = yp[off[0] + i * sd[0]] + rp[off[1] + i * sd[1]];
    });
    if (act2_.kind != Activation::Kind::none) act2_.apply(op, static_cast<size_t>(out.numel()));
  }

  // The direct kernel (stem.h) on blocks of output rows on the threads, with the activation XNNPACK cannot fuse
  // applied to each block while it is in cache.
  void run_direct(const float* x, float* y, int64_t batch) const {
    const Window& w = w_;
    const int64_t blocks = std::min<int64_t>(w.oh, 4 * threads_), row = w.ow * m_;
    for (int64_t b = 0; b < batch; ++b) {
      const float* xb = x + b * w.ih * w.iw * c_;
      float* yb = y + b * w.oh * row;
      parallel_for(blocks, [&](int64_t k) {
        const int64_t r0 = k * w.oh / blocks, r1 = (k + 1) * w.oh / blocks;
        stem_conv_run(*stem_, xb, w.ih, w.iw, w.pt, w.pl, yb, w.ow, r0, r1, nchw_in_);
        if (finishing()) finish(yb + r0 * row, static_cast<size_t>((r1 - r0) * row));
      });
    }
  }
  // Y = W X^T (convgemm.h) in tasks of (image, block of 32 output pixels): each writes its pixels of every row.
  void run_rowgemm(const float* x, float* y, int64_t batch) const {
    const RowGemmLayer& l = *rowgemm_;
    const int64_t pixels = w_.oh * w_.ow, blocks = (pixels + 31) / 32;
    const size_t work_floats = static_cast<size_t>(row_gemm_work_floats(l));
    parallel_for(batch * blocks, [&](int64_t t) {
      const int64_t b = t / blocks, p0 = (t % blocks) * 32, p1 = std::min(pixels, p0 + 32);
      thread_local std::vector<float> work;
      if (work.size() < work_floats) work.resize(work_floats);
      row_gemm_run(l, x + b * pixels * c_, pixels, p0, p1, y + b * pixels * m_, work.data());
    });
  }
  // The blocked GEMM (convgemm.h): tasks of (image, range of weight panels, block of output pixels). With
  // fewer pixel blocks than 4 per thread the panels are cut into contiguous ranges, so that each thread reads its
  // own share of the weights (a range's weights are read once per pixel block).
  void run_gemm(const float* x, float* y, int64_t batch, bool nchw = false) const {
    const ConvGemmLayer& l = *gemm_;
    const Window& w = w_;
    const int64_t pixels = w.oh * w.ow, panels = l.mpad / l.nr;
    int64_t per = conv_gemm_pixels(l);
    // On a small map (fewer than 2 blocks per thread), cutting the weight panels into ranges makes each thread
    // write a slice of every output pixel's channels, and the next layer, reading whole pixels, fetches half of
    // its input from the other core's cache. While the weights are at most 16x the input image (so each thread
    // reading all of them costs less than that), the pixels are cut into 2 blocks per thread instead, multiples
    // of the tile's 7 rows. At 2 threads on Xeon Emerald Rapids (same binary, 8-10 alternating rounds): YOLO shape
    // -3 to -4 % (its 10 x 10 and 20 x 20 layers), MobileNetV2 -1 to -2 % (14 x 14, 7 x 7), YOLOv8 -1 to -2.5 %,
    // ResNet-18 and SSD unchanged (their 7 x 7 layers' weights are 20-90x the input: still cut by panels).
    const bool split_pixels = threads_ > 1 && batch * ((pixels + per - 1) / per) < 2 * threads_ && l.k * l.m <= 16 * w.ih * w.iw * c_;
    if (split_pixels) per = std::max<int64_t>(7, (pixels + 2 * threads_ - 1) / (2 * threads_) + 6) / 7 * 7;  // <= conv_gemm_pixels
    const int64_t blocks = (pixels + per - 1) / per;
    // A layer whose input is gathered (not a 1x1 read in place) gathers it again in every task of the same pixel
    // block: there, as many tasks as threads (the YOLO shape's 128 -> 256 stride-2 layer, 100 pixels and 8 panels
    // in one block, gathered its 460 KB of patches 8 times at 2 threads and ran 1.26x faster than at 1)
    const bool gathered = !(l.kh == 1 && l.kw == 1 && l.sh == 1 && l.sw == 1 && w.pt == 0 && w.pl == 0 && w.pb == 0 && w.pr == 0);
    const int64_t want = split_pixels ? threads_ : gathered ? threads_ : 4 * threads_;
    const int64_t chunks = threads_ > 1 && batch * blocks < want ? std::min(panels, (want + batch * blocks - 1) / (batch * blocks)) : 1;
    const int64_t per_image = chunks * blocks;
    const size_t work_floats = static_cast<size_t>(conv_gemm_work_floats(l));
    parallel_for(batch * per_image, [&](int64_t t) {
      const int64_t b = t / per_image, r = t % per_image, ch = r / blocks, bl = r % blocks;
      thread_local std::vector<float> work;
      if (work.size() < work_floats) work.resize(work_floats);
      const ConvGemmImage g{x + b * w.ih * w.iw * c_, w.ih, w.iw, w.pt, w.pl, y + b * pixels * m_, w.oh, w.ow, nchw};
      const int64_t p0 = bl * per, p1 = std::min(pixels, (bl + 1) * per), n0 = ch * panels / chunks, n1 = (ch + 1) * panels / chunks;
      conv_gemm_run(l, g, p0, p1, n0, n1, work.data());
      if (nchw || !finishing()) return;  // (NCHW: the caller applies the activation; no residual there)
      // this task's outputs, pixels [p0, p1) x channels [k0, k1), while they are in cache
      const int64_t k0 = n0 * l.nr, k1 = std::min(m_, n1 * l.nr);
      float* yb = y + b * pixels * m_;
      if (k0 == 0 && k1 == m_) return finish(yb + p0 * m_, static_cast<size_t>((p1 - p0) * m_));
      for (int64_t p = p0; p < p1; ++p) finish(yb + p * m_ + k0, static_cast<size_t>(k1 - k0));
    });
  }
  void release_parts() {
    for (xnn_operator_t p : parts_) xnn_delete_operator(p);
    parts_.clear();
  }
  // Makes candidate `kind` (0 XNNPACK, 1 Winograd F(2,3), 2 F(4,3), 3 our depthwise, 4 XNNPACK in output-channel
  // slices, 5 the direct few-channel kernel, 6 the blocked GEMM, 7 and 8 Winograd F(2,3) and F(4,3) with their
  // GEMMs on the blocked GEMM) if it is missing, and frees the others.
  void build(int kind) {
    if (kind != 0) release();
    if (kind != 4) release_parts();
    if (kind != 5) stem_.reset();
    if (kind != 6) gemm_.reset();
    if (kind != 9) rowgemm_.reset();
    if (kind == 9 && !rowgemm_)
      rowgemm_ = std::make_unique<RowGemmLayer>(row_gemm_pack(wt_.ptr<float>(), m_, c_, bias_.numel() ? bias_.ptr<float>() : nullptr, lo_, hi_));
    if (kind == 6 && !gemm_) {
      gemm_ = std::make_unique<ConvGemmLayer>(conv_gemm_pack(wt_.ptr<float>(), m_, c_, w_.kh, w_.kw, w_.sh, w_.sw,
                                                             bias_.numel() ? bias_.ptr<float>() : nullptr, lo_, hi_));
      // SiLU and HardSwish on the accumulators before they are stored, where the kernel does that in registers:
      // no second pass over the output (YOLO's 2.96 M SiLU outputs a run)
      if (conv_gemm_fuses_act()) gemm_->act = kernel_act();
    }
    if (kind == 5 && !stem_) {
      stem_ = std::make_unique<StemConvLayer>(stem_conv_pack(wt_.ptr<float>(), m_, c_, w_.kh, w_.kw, w_.sh, w_.sw,
                                                             bias_.numel() ? bias_.ptr<float>() : nullptr, lo_, hi_));
      stem_->act = kernel_act();  // AVX-512 only, as the kernel
    }
    if (kind != 1 && kind != 7) wino2_.reset();
    if (kind != 2 && kind != 8) wino4_.reset();
    if (kind != 3) dw_.reset();
    if (kind == 3 && !dw_)
      dw_ = std::make_unique<DepthwiseConv>(wt_.ptr<float>(), bias_.numel() ? bias_.ptr<float>() : nullptr, c_, static_cast<int>(w_.kh), static_cast<int>(w_.sh));
    const float* b = bias_.numel() ? bias_.ptr<float>() : nullptr;
    if ((kind == 1 || kind == 7) && !(wino2_ && wino2_->ec() == (kind == 7)))
      wino2_ = std::make_unique<WinogradConv<2>>(wt_.ptr<float>(), b, c_, m_, WinogradConv<2>::tiles_of(w_.oh, w_.ow), *this, kind == 7);
    if ((kind == 2 || kind == 8) && !(wino4_ && wino4_->ec() == (kind == 8)))
      wino4_ = std::make_unique<WinogradConv<4>>(wt_.ptr<float>(), b, c_, m_, WinogradConv<4>::tiles_of(w_.oh, w_.ow), *this, kind == 8);
    if (kind == 4 && parts_.empty()) {
      const Window& w = w_;
      const int64_t og = m_ / parts_n_, khw = w.kh * w.kw;
      const std::vector<float> packed = to_ohwi(wt_.ptr<float>(), m_, c_, khw);
      for (int64_t p = 0; p < parts_n_; ++p) {
        xnn_operator_t part = nullptr;
        check(xnn_create_convolution2d_nhwc_f32(
                  static_cast<uint32_t>(w.pt), static_cast<uint32_t>(w.pr), static_cast<uint32_t>(w.pb), static_cast<uint32_t>(w.pl),
                  static_cast<uint32_t>(w.kh), static_cast<uint32_t>(w.kw), static_cast<uint32_t>(w.sh), static_cast<uint32_t>(w.sw),
                  static_cast<uint32_t>(w.dh), static_cast<uint32_t>(w.dw), 1, static_cast<size_t>(c_), static_cast<size_t>(og),
                  static_cast<size_t>(c_), static_cast<size_t>(m_), packed.data() + p * og * khw * c_, b ? b + p * og : nullptr, lo_, hi_, 0,
                  EC_XNN_CACHES & part),
              "create a slice of a convolution");
        parts_.push_back(part);
      }
    }
    if (kind != 0 || op_) return;
    const Window& w = w_;
    const int64_t group = group_, c = c_, m = m_;
    const int64_t ig = c / group, og = m / group, khw = w.kh * w.kw;
    const std::vector<float> packed = to_ohwi(wt_.ptr<float>(), m, ig, khw);
    if (dtype_ == DType::f16) {  // weights and bias rounded to float16 (exact for weights stored as float16)
      std::vector<uint16_t> wh(packed.size()), bh(static_cast<size_t>(b ? m : 0));
      for (size_t i = 0; i < packed.size(); ++i) wh[i] = float_to_half(packed[i]);
      for (size_t i = 0; i < bh.size(); ++i) bh[i] = float_to_half(b[i]);
      check(xnn_create_convolution2d_nhwc_f16(
                static_cast<uint32_t>(w.pt), static_cast<uint32_t>(w.pr), static_cast<uint32_t>(w.pb), static_cast<uint32_t>(w.pl),
                static_cast<uint32_t>(w.kh), static_cast<uint32_t>(w.kw), static_cast<uint32_t>(w.sh), static_cast<uint32_t>(w.sw),
                static_cast<uint32_t>(w.dh), static_cast<uint32_t>(w.dw), static_cast<uint32_t>(group), static_cast<size_t>(ig),
                static_cast<size_t>(og), static_cast<size_t>(c), static_cast<size_t>(m), wh.data(), b ? bh.data() : nullptr, lo_, hi_, 0,
                EC_XNN_CACHES & op_),
            "create float16 convolution");
      return;
    }
    check(xnn_create_convolution2d_nhwc_f32(
              static_cast<uint32_t>(w.pt), static_cast<uint32_t>(w.pr), static_cast<uint32_t>(w.pb), static_cast<uint32_t>(w.pl),
              static_cast<uint32_t>(w.kh), static_cast<uint32_t>(w.kw), static_cast<uint32_t>(w.sh), static_cast<uint32_t>(w.sw),
              static_cast<uint32_t>(w.dh), static_cast<uint32_t>(w.dw), static_cast<uint32_t>(group), static_cast<size_t>(ig),
              static_cast<size_t>(og), static_cast<size_t>(c), static_cast<size_t>(m), packed.data(), b, lo_, hi_, 0, EC_XNN_CACHES & op_),
          "create convolution");
  }

  Window w_;
  int64_t c_ = 0, m_ = 0, group_ = 1;
  DType dtype_ = DType::f32;
  Tensor wt_, bias_;
  // a fused residual Add (4th input): its activation, the convolution's output shape and the residual's, and
  // during a run the residual and the output (finish)
  bool res_ = false, res_direct_ = false;
  Activation act2_;
  Shape y_shape_, r_shape_;
  const float* res_now_ = nullptr;
  float* y_now_ = nullptr;
  bool wino_ok_ = false;
  int kind_ = 0;
  std::unique_ptr<WinogradConv<2>> wino2_;
  std::unique_ptr<WinogradConv<4>> wino4_;
  bool dw_ok_ = false;
  std::unique_ptr<DepthwiseConv> dw_;
  int64_t parts_n_ = 1;                // output-channel slices of the "xnnpack-split" candidate (split_parts)
  std::vector<xnn_operator_t> parts_;  // its operators, one per slice, when it is the chosen kernel
  bool stem_ok_ = false;               // the "ec-direct" candidate: small windows of few channels, AVX-512 (stem.h)
  std::unique_ptr<StemConvLayer> stem_;
  bool gemm_ok_ = false;  // the "ec-gemm" candidate: dense, undilated, AVX-512 F or AArch64 (convgemm.h)
  std::unique_ptr<ConvGemmLayer> gemm_;
  bool rowgemm_ok_ = false;  // the "ec-rowgemm" candidate: a 1x1 stride-1 layer writing NCHW, AVX-512 F (convgemm.h)
  std::unique_ptr<RowGemmLayer> rowgemm_;
  bool nchw_out_ = false;     // "_nchw_out" (layout pass): the output is [N][M][OH][OW]
  size_t staging_bytes_ = 0;  // the NHWC output of the kernels that cannot write NCHW, in the workspace
  bool nchw_in_ = false;      // "_nchw_in" (layout pass): the input is [N][C][H][W] (read so by the direct kernel)
  int64_t batch_in_ = 1;
};

// ConvTranspose on NHWC input (XNNPACK deconvolution): ONNX weights [C_in][C_out/G][KH][KW], explicit pads and
// output_padding < strides (the layout pass sends nothing else here: output_shape and auto_pad stay NCHW).
// A ConvTranspose whose kernel equals its stride also has our "ec-deconv" kernel (run_ec).
class NhwcConvTransposeOp : public XnnOp {
 public:
  using XnnOp::XnnOp;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0) || in.t[0]->dtype() != DType::f32) fail("input must be float32");
    const Tensor& wt = need_const(in, 1, "weight");
    if (wt.dtype() != DType::f32) fail(std::string("weight type ") + dtype_name(wt.dtype()) + " is not supported");
    const Shape& x = in.t[0]->shape();
    const Shape& ws = wt.shape();
    if (x.size() != 4 || ws.size() != 4) fail("NHWC input " + shape_str(x) + " and weight " + shape_str(ws) + " must be 4-D");
    const int64_t group = node_.attr_i("group", 1);
    const int64_t c = x[3];
    if (group < 1 || c % group || ws[0] != c)
      fail("group=" + std::to_string(group) + " does not fit input channels " + std::to_string(c) + " and weight " + shape_str(ws));
    const int64_t ig = c / group, og = ws[1], m = og * group, kh = ws[2], kw = ws[3];
    auto ks = node_.attr_ints("kernel_shape", {kh, kw});
    if (ks != std::vector<int64_t>{kh, kw}) fail("kernel_shape " + shape_str(ks) + " does not match weight " + shape_str(ws));
    const auto st = node_.attr_ints("strides", {1, 1}), di = node_.attr_ints("dilations", {1, 1}), adj = node_.attr_ints("output_padding", {0, 0}),
               pads = node_.attr_ints("pads", {0, 0, 0, 0});
    if (st.size() != 2 || di.size() != 2 || adj.size() != 2 || pads.size() != 4) fail("strides, dilations, output_padding or pads are not 2-D");
    for (int d = 0; d < 2; ++d)
      if (st[d] < 1 || di[d] < 1 || adj[d] < 0 || adj[d] >= st[d]) fail("output_padding " + shape_str(adj) + " must be below strides " + shape_str(st));
    for (int64_t p : pads)
      if (p < 0) fail("pads " + shape_str(pads) + " are negative");
    const Tensor* bias = nullptr;
    if (in.has(2)) {
      bias = &need_const(in, 2, "bias");
      if (bias->dtype() != DType::f32 || bias->numel() != m) fail("bias " + shape_str(bias->shape()) + " does not match " + std::to_string(m) + " output channels");
    }
    oh_ = st[0] * (x[1] - 1) + adj[0] + (kh - 1) * di[0] + 1 - pads[0] - pads[2];
    ow_ = st[1] * (x[2] - 1) + adj[1] + (kw - 1) * di[1] + 1 - pads[1] - pads[3];
    if (oh_ <= 0 || ow_ <= 0) fail("output size is not positive");
    if (!op_) {
      // [G*Ig][Og][KH][KW] -> [G][Og][KH][KW][Ig]
      const int64_t khw = kh * kw;
      std::vector<float> packed(static_cast<size_t>(wt.numel()));
      const float* src = wt.ptr<float>();
      for (int64_t g = 0; g < group; ++g)
        for (int64_t o = 0; o < og; ++o)
          for (int64_t k = 0; k < khw; ++k)
            for (int64_t i = 0; i < ig; ++i)
              packed[static_cast<size_t>(((g * og + o) * khw + k) * ig + i)] = src[((g * ig + i) * og + o) * khw + k];
      check(xnn_create_deconvolution2d_nhwc_f32(static_cast<uint32_t>(pads[0]), static_cast<uint32_t>(pads[3]), static_cast<uint32_t>(pads[2]),
                                                static_cast<uint32_t>(pads[1]), static_cast<uint32_t>(kh), static_cast<uint32_t>(kw),
                                                static_cast<uint32_t>(st[0]), static_cast<uint32_t>(st[1]), static_cast<uint32_t>(di[0]),
                                                static_cast<uint32_t>(di[1]), static_cast<uint32_t>(group), static_cast<size_t>(ig),
                                                static_cast<size_t>(og), static_cast<size_t>(c), static_cast<size_t>(m), packed.data(),
                                                bias ? bias->ptr<float>() : nullptr, lo_, hi_, 0, EC_XNN_CACHES & op_),
            "create deconvolution");
    }
    adj_h_ = static_cast<uint32_t>(adj[0]);
    adj_w_ = static_cast<uint32_t>(adj[1]);
    ih_ = x[1];
    iw_ = x[2];
    c_ = c;
    m_ = m;
    kh_ = kh;
    kw_ = kw;
    // ec-deconv: kernel = stride, nothing else (each input pixel then owns its kh x kw block of output pixels)
    const int64_t q = kh * kw * m;
    ec_ok_ = group == 1 && st[0] == kh && st[1] == kw && di[0] == 1 && di[1] == 1 && adj[0] == 0 && adj[1] == 0 &&
             pads == std::vector<int64_t>{0, 0, 0, 0} && (q + 7) / 8 * 8 <= kEcMaxQ;
    if (ec_ok_ && ecw_.empty()) {  // [C][Qp]: input channel c's weight for output q = (a * kw + b) * M + o
      qp_ = (q + 7) / 8 * 8;
      ecw_.assign(static_cast<size_t>(c * qp_), 0.f);
      ecb_.assign(static_cast<size_t>(qp_), 0.f);
      const float* src = wt.ptr<float>();  // [C][M][KH][KW]
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t o = 0; o < m; ++o)
          for (int64_t k = 0; k < kh * kw; ++k) ecw_[static_cast<size_t>(ci * qp_ + k * m + o)] = src[(ci * m + o) * kh * kw + k];
      for (int64_t k = 0; k < kh * kw; ++k)
        for (int64_t o = 0; o < m; ++o) ecb_[static_cast<size_t>(k * m + o)] = bias ? bias->ptr<float>()[o] : 0.f;
    }
    if (!ec_ok_ && kind_ == Kind::ec) kind_ = Kind::xnnpack;
    dirty_ = true;
    out[0] = {DType::f32, {x[0], oh_, ow_, m}};
  }
  // On more than one thread, XNNPACK's deconvolution is a candidate twice: on the threads, or on the calling
  // thread alone. Its stride-s sub-convolutions write interleaved output pixels, so with few output channels the
  // threads write the same cache lines: the segmentation head's last ConvTranspose (16 -> 1 channel, 256x256)
  // took 0.26 ms on one thread and 0.73 on two. Kernel = stride: also "ec-deconv" (run_ec).
  std::vector<std::string> kernel_candidates() const override {
    std::vector<std::string> r{"xnnpack"};
    if (pool_ && pthreadpool_get_threads_count(pool_) > 1) r.push_back("xnnpack-1-thread");
    if (ec_ok_) r.push_back("ec-deconv");
    if (r.size() < 2) r.clear();
    return r;
  }
  void choose_kernel(size_t i) override {
    const std::vector<std::string> r = kernel_candidates();
    kind_ = i < r.size() && r[i] == "ec-deconv" ? Kind::ec : i < r.size() && r[i] == "xnnpack-1-thread" ? Kind::serial : Kind::xnnpack;
    dirty_ = true;
  }
  size_t chosen_kernel() const override {
    const std::vector<std::string> r = kernel_candidates();
    const char* name = kind_ == Kind::ec ? "ec-deconv" : kind_ == Kind::serial ? "xnnpack-1-thread" : "xnnpack";
    const auto it = std::find(r.begin(), r.end(), name);
    return it == r.end() ? 0 : static_cast<size_t>(it - r.begin());
  }
  // XNNPACK's packed weights go when our kernel won, and ours when XNNPACK's did (reshape makes either again).
  void drop_other_kernels() override {
    if (kind_ == Kind::ec) release();
    else std::vector<float>().swap(ecw_);
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    float* y = out[0]->ptr<float>();
    if (kind_ == Kind::ec) {
      const float* x = in[0]->ptr<float>();
      parallel_for(in[0]->dim(0) * ih_, [&](int64_t r) { run_ec_row(x + r * iw_ * c_, y, r / ih_, r % ih_); });
      if (post_) apply_activation(y, static_cast<size_t>(out[0]->numel()));
      return;
    }
    pthreadpool_t pool = kind_ == Kind::serial ? nullptr : pool_;
    if (rebind(in[0]->data(), nullptr, y))
      check(xnn_setup_deconvolution2d_nhwc_f32(op_, static_cast<size_t>(in[0]->dim(0)), static_cast<size_t>(ih_), static_cast<size_t>(iw_), adj_h_,
                                               adj_w_, in[0]->ptr<float>(), y, pool),
            "setup deconvolution");
    check(xnn_run_operator(op_, pool), "run");
    if (post_) apply_activation(y, static_cast<size_t>(out[0]->numel()));
  }

 private:
  static constexpr int64_t kEcMaxQ = 1024;  // ec-deconv: outputs per input pixel (kh kw M, padded to 8) at most
  // ec-deconv, input row i of image n (x: its iw_ pixels of c_ channels): each pixel's kh_ x kw_ x m_ outputs
  // y[i kh + a][j kw + b][o] = bias[o] + sum_c x[j][c] w[c][o][a][b], clamped to [lo_, hi_]; 8 pixels at a time
  // (8 outputs per vector, the weights of an input channel shared by the 8), then copied to their blocks. No two
  // input pixels write the same output pixel, so threads taking different rows never share a cache line of y but
  // at the rows' ends. The segmentation head's 2x2 stride-2 16 -> 1 upsampling is 16 multiply-adds per output
  // pixel: XNNPACK's deconvolution runs it as sub-convolutions with one output channel in a vector of 16.
  void run_ec_row(const float* x, float* y, int64_t n, int64_t i) const {
    typedef float V8 __attribute__((vector_size(32)));
    constexpr int64_t P = kDeconvPixels;  // pixels at a time: 8 accumulators, the weight vector loaded once for them
    alignas(64) float tmp[P * kEcMaxQ + 16];  // 16 spare: deconv_pixels_avx512 stores whole registers
    const int64_t C = c_, Qp = qp_, run = kw_ * m_;  // run: an input pixel's outputs in one output row
    const V8 lo = {lo_, lo_, lo_, lo_, lo_, lo_, lo_, lo_}, hi = {hi_, hi_, hi_, hi_, hi_, hi_, hi_, hi_};
    const bool vector = deconv_avx512_available();
    for (int64_t j0 = 0; j0 < iw_; j0 += P) {
      const int64_t np = std::min(P, iw_ - j0);
      const float* xs[P];
      for (int64_t k = 0; k < P; ++k) xs[k] = x + (j0 + std::min(k, np - 1)) * C;  // a short group repeats its last pixel
#if defined(EC_HAVE_DECONV_AVX512)
      if (vector) deconv_pixels_avx512(xs, C, ecw_.data(), ecb_.data(), Qp, lo_, hi_, tmp);
#endif
      for (int64_t q = 0; q < Qp && !vector; q += 8) {
        V8 acc[P];
        __builtin_memcpy(&acc[0], ecb_.data() + q, sizeof(V8));
        for (int64_t k = 1; k < P; ++k) acc[k] = acc[0];
        const float* w = ecw_.data() + q;
        for (int64_t c = 0; c < C; ++c, w += Qp) {
          V8 wv;
          __builtin_memcpy(&wv, w, sizeof(V8));
          for (int64_t k = 0; k < P; ++k) acc[k] += xs[k][c] * wv;
        }
        for (int64_t k = 0; k < P; ++k) {
          V8 v = acc[k] < lo ? lo : acc[k];
          v = v > hi ? hi : v;
          __builtin_memcpy(tmp + k * Qp + q, &v, sizeof(V8));
        }
      }
      for (int64_t a = 0; a < kh_; ++a) {  // output row i kh + a: the group's pixels' runs follow each other
        float* dst = y + ((n * oh_ + i * kh_ + a) * ow_ + j0 * kw_) * m_;
        const float* src = tmp + a * run;
        for (int64_t k = 0; k < np; ++k, dst += run, src += Qp)
          for (int64_t v = 0; v < run; ++v) dst[v] = src[v];
      }
    }
  }

  enum class Kind { xnnpack, serial, ec };  // XNNPACK's on the threads, on the calling thread alone, ec-deconv
  int64_t ih_ = 0, iw_ = 0, oh_ = 0, ow_ = 0, c_ = 0, m_ = 0, kh_ = 0, kw_ = 0, qp_ = 0;
  uint32_t adj_h_ = 0, adj_w_ = 0;
  Kind kind_ = Kind::xnnpack;
  bool ec_ok_ = false;
  std::vector<float> ecw_, ecb_;  // ec-deconv: weights [C][Qp], bias per output q
};

// MaxPool / AveragePool / GlobalAveragePool on NHWC input.
class NhwcPoolOp : public XnnOp {
 public:
  enum class Kind { max, avg, global_avg };
  NhwcPoolOp(const Node& n, int64_t o, Kind k) : XnnOp(n, o), kind_(k) {}

  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0)) fail("input is missing");
    dtype_ = in.t[0]->dtype();
    if (dtype_ != DType::f32 && !(dtype_ == DType::i8 && kind_ == Kind::max) && !(dtype_ == DType::f16 && kind_ != Kind::avg))
      fail(std::string("input type ") + dtype_name(dtype_) + " is not supported");
    if (dtype_ == DType::f16 && post_) fail("a float16 pooling fuses only Relu and Clip");
    const Shape& x = in.t[0]->shape();
    if (x.size() != 4) fail("NHWC input " + shape_str(x) + " must be 4-D");
    if (out.size() > 1) fail("the Indices output is not supported");
    const size_t c = static_cast<size_t>(x[3]);
    release();
    dirty_ = true;
    use_xnn_ = true;
    if (kind_ == Kind::global_avg) {
      w_ = Window{};
      w_.ih = x[1];
      w_.iw = x[2];
      if (dtype_ == DType::f16) check(xnn_create_global_average_pooling_nwc_f16(c, c, c, lo_, hi_, 0, &op_), "create float16 global average pooling");
      else check(xnn_create_global_average_pooling_nwc_f32(c, c, c, lo_, hi_, 0, &op_), "create global average pooling");
      out[0] = {dtype_, {x[0], 1, 1, x[3]}};
      return;
    }
    auto kernel = node_.attr_ints("kernel_shape");
    if (kernel.size() != 2) fail("kernel_shape must have 2 values for a 4-D input");
    const bool ceil = node_.attr_i("ceil_mode", 0) != 0;
    w_ = make_window(node_, as_nchw(x), kernel, ceil);
    const Window floor_w = make_window(node_, as_nchw(x), kernel, false);
    // ceil_mode: extra bottom/right padding reaches the last window; XNNPACK's max pooling reads clamped
    // coordinates for padding, which leaves a maximum unchanged.
    const int64_t eb = std::max<int64_t>(0, (w_.oh - 1) * w_.sh + (w_.kh - 1) * w_.dh + 1 - w_.ih - w_.pt - w_.pb);
    const int64_t er = std::max<int64_t>(0, (w_.ow - 1) * w_.sw + (w_.kw - 1) * w_.dw + 1 - w_.iw - w_.pl - w_.pr);
    if (kind_ == Kind::max && dtype_ == DType::i8) {
      if (w_.kh * w_.kw < 2) fail("int8 max pooling needs a window of at least 2 elements");
      check(xnn_create_max_pooling2d_nhwc_s8(
                static_cast<uint32_t>(w_.pt), static_cast<uint32_t>(w_.pr + er), static_cast<uint32_t>(w_.pb + eb), static_cast<uint32_t>(w_.pl),
                static_cast<uint32_t>(w_.kh), static_cast<uint32_t>(w_.kw), static_cast<uint32_t>(w_.sh), static_cast<uint32_t>(w_.sw),
                static_cast<uint32_t>(w_.dh), static_cast<uint32_t>(w_.dw), c, c, c, -128, 127, 0, &op_),
            "create int8 max pooling");
    } else if (kind_ == Kind::max && dtype_ == DType::f16) {
      if (w_.kh * w_.kw < 2) fail("float16 max pooling needs a window of at least 2 elements");
      check(xnn_create_max_pooling2d_nhwc_f16(
                static_cast<uint32_t>(w_.pt), static_cast<uint32_t>(w_.pr + er), static_cast<uint32_t>(w_.pb + eb), static_cast<uint32_t>(w_.pl),
                static_cast<uint32_t>(w_.kh), static_cast<uint32_t>(w_.kw), static_cast<uint32_t>(w_.sh), static_cast<uint32_t>(w_.sw),
                static_cast<uint32_t>(w_.dh), static_cast<uint32_t>(w_.dw), c, c, c, lo_, hi_, 0, &op_),
            "create float16 max pooling");
    } else if (kind_ == Kind::max) {
      use_xnn_ = w_.kh * w_.kw > 1;
      if (use_xnn_)
        check(xnn_create_max_pooling2d_nhwc_f32(
                  static_cast<uint32_t>(w_.pt), static_cast<uint32_t>(w_.pr + er), static_cast<uint32_t>(w_.pb + eb), static_cast<uint32_t>(w_.pl),
                  static_cast<uint32_t>(w_.kh), static_cast<uint32_t>(w_.kw), static_cast<uint32_t>(w_.sh), static_cast<uint32_t>(w_.sw),
                  static_cast<uint32_t>(w_.dh), static_cast<uint32_t>(w_.dw), c, c, c, lo_, hi_, 0, &op_),
              "create max pooling");
    } else {
      for (int64_t d : node_.attr_ints("dilations", {1, 1}))
        if (d != 1) fail("dilated AveragePool is not supported");
      count_pad_ = node_.attr_i("count_include_pad", 0) != 0;
      const bool padded = w_.pt || w_.pl || w_.pb || w_.pr || w_.oh != floor_w.oh || w_.ow != floor_w.ow;
      use_xnn_ = !padded && w_.kh * w_.kw > 1;
      if (use_xnn_)
        check(xnn_create_average_pooling2d_nhwc_f32(0, 0, 0, 0, static_cast<uint32_t>(w_.kh), static_cast<uint32_t>(w_.kw),
                                                    static_cast<uint32_t>(w_.sh), static_cast<uint32_t>(w_.sw), c, c, c, lo_, hi_, 0, &op_),
              "create average pooling");
    }
    out[0] = {dtype_, {x[0], w_.oh, w_.ow, x[3]}};
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const size_t n = static_cast<size_t>(in[0]->dim(0));
    if (dtype_ == DType::i8) {
      if (rebind(in[0]->data(), nullptr, out[0]->data()))
        check(xnn_setup_max_pooling2d_nhwc_s8(op_, n, static_cast<size_t>(w_.ih), static_cast<size_t>(w_.iw), in[0]->ptr<int8_t>(),
                                              out[0]->ptr<int8_t>(), pool_),
              "setup int8 max pooling");
      check(xnn_run_operator(op_, pool_), "run");
      return;
    }
    if (dtype_ == DType::f16) {
      if (rebind(in[0]->data(), nullptr, out[0]->data())) {
        const size_t ih = static_cast<size_t>(w_.ih), iw = static_cast<size_t>(w_.iw);
        if (kind_ == Kind::global_avg)
          check(xnn_setup_global_average_pooling_nwc_f16(op_, n, ih * iw, in[0]->data(), out[0]->data(), pool_), "setup float16 global average pooling");
        else check(xnn_setup_max_pooling2d_nhwc_f16(op_, n, ih, iw, in[0]->data(), out[0]->data(), pool_), "setup float16 max pooling");
      }
      check(xnn_run_operator(op_, pool_), "run");
      return;
    }
    const float* x = in[0]->ptr<float>();
    float* y = out[0]->ptr<float>();
    if (!use_xnn_) {
      run_loop(x, y, in[0]->shape());
      if (act_.kind != Activation::Kind::none) act_.apply(y, static_cast<size_t>(out[0]->numel()));
      return;
    }
    if (rebind(x, nullptr, y)) {
      const size_t ih = static_cast<size_t>(w_.ih), iw = static_cast<size_t>(w_.iw);
      if (kind_ == Kind::global_avg) check(xnn_setup_global_average_pooling_nwc_f32(op_, n, ih * iw, x, y, pool_), "setup global average pooling");
      else if (kind_ == Kind::max) check(xnn_setup_max_pooling2d_nhwc_f32(op_, n, ih, iw, x, y, pool_), "setup max pooling");
      else check(xnn_setup_average_pooling2d_nhwc_f32(op_, n, ih, iw, x, y, pool_), "setup average pooling");
    }
    execute(y, static_cast<size_t>(out[0]->numel()));
  }

 private:
  // Plain NHWC pooling for what XNNPACK does not take: windows clipped to the input, max ignores padding,
  // average divides by the clipped count (or the padded window with count_include_pad).
  void run_loop(const float* x, float* y, const Shape& xs) const {
    const int64_t n = xs[0], c = xs[3];
    for (int64_t b = 0; b < n; ++b)
      for (int64_t oy = 0; oy < w_.oh; ++oy)
        for (int64_t ox = 0; ox < w_.ow; ++ox) {
          float* yo = y + ((b * w_.oh + oy) * w_.ow + ox) * c;
          const bool mx = kind_ == Kind::max;
          for (int64_t ch = 0; ch < c; ++ch) yo[ch] = mx ? -FLT_MAX : 0.f;
          int64_t cnt = 0, padded_cnt = 0;
          for (int64_t ky = 0; ky < w_.kh; ++ky) {
            const int64_t iy = oy * w_.sh - w_.pt + ky * w_.dh;
            for (int64_t kx = 0; kx < w_.kw; ++kx) {
              const int64_t ix = ox * w_.sw - w_.pl + kx * w_.dw;
              if (iy < w_.ih + w_.pb && ix < w_.iw + w_.pr) ++padded_cnt;
              if (iy < 0 || iy >= w_.ih || ix < 0 || ix >= w_.iw) continue;
              ++cnt;
              const float* xi = x + ((b * w_.ih + iy) * w_.iw + ix) * c;
              for (int64_t ch = 0; ch < c; ++ch) yo[ch] = mx ? std::max(yo[ch], xi[ch]) : yo[ch] + xi[ch];
            }
          }
          if (!mx) {
            const float d = static_cast<float>(std::max<int64_t>(1, count_pad_ ? padded_cnt : cnt));
            for (int64_t ch = 0; ch < c; ++ch) yo[ch] /= d;
          }
        }
  }

  Kind kind_;
  DType dtype_ = DType::f32;
  Window w_;
  bool use_xnn_ = true, count_pad_ = false;
};

// Add/Sub/Mul/Div/Max/Min with numpy broadcasting (up to XNN_MAX_TENSOR_DIMS) and a fused activation.
class NhwcBinaryOp : public XnnOp {
 public:
  enum class Kind { add, sub, mul, div, max, min };
  NhwcBinaryOp(const Node& n, int64_t o, Kind k) : XnnOp(n, o), kind_(k) {}

  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0) || !in.has(1)) fail("an input is missing");
    const DType t = in.t[0]->dtype();
    if (in.t[1]->dtype() != t || (t != DType::f32 && t != DType::f16))
      fail(std::string("input types ") + dtype_name(t) + ", " + dtype_name(in.t[1]->dtype()) + " are not supported");
    if (t == DType::f16 && ((kind_ != Kind::add && kind_ != Kind::mul) || post_)) fail("float16 runs only Add and Mul with Relu or Clip");
    a_ = in.t[0]->shape();
    b_ = in.t[1]->shape();
    if (a_.size() > XNN_MAX_TENSOR_DIMS || b_.size() > XNN_MAX_TENSOR_DIMS) fail("rank above " + std::to_string(XNN_MAX_TENSOR_DIMS));
    out[0] = {t, broadcast_shapes(a_, b_, node_)};
    inplace_ = out[0].shape == a_ ? 0 : out[0].shape == b_ ? 1 : -1;
    dirty_ = true;
    if (op_ && t == dtype_) return;
    release();
    dtype_ = t;
    if (t == DType::f16) {
      if (kind_ == Kind::add) check(xnn_create_add_nd_f16(lo_, hi_, 0, &op_), "create float16 add");
      else check(xnn_create_multiply_nd_f16(lo_, hi_, 0, &op_), "create float16 multiply");
      return;
    }
    switch (kind_) {
      case Kind::add: check(xnn_create_add_nd_f32(lo_, hi_, 0, &op_), "create add"); break;
      case Kind::sub: check(xnn_create_subtract_nd_f32(lo_, hi_, 0, &op_), "create subtract"); break;
      case Kind::mul: check(xnn_create_multiply_nd_f32(lo_, hi_, 0, &op_), "create multiply"); break;
      case Kind::div: check(xnn_create_divide_nd_f32(lo_, hi_, 0, &op_), "create divide"); break;
      case Kind::max:
        check(xnn_create_maximum_nd_f32(0, &op_), "create maximum");
        post_ = act_.kind != Activation::Kind::none;
        break;
      case Kind::min:
        check(xnn_create_minimum_nd_f32(0, &op_), "create minimum");
        post_ = act_.kind != Activation::Kind::none;
        break;
    }
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const float* a = in[0]->ptr<float>();
    const float* b = in[1]->ptr<float>();
    float* y = out[0]->ptr<float>();
    if (rebind(a, b, y)) {
      size_t sa[XNN_MAX_TENSOR_DIMS], sb[XNN_MAX_TENSOR_DIMS];
      for (size_t i = 0; i < a_.size(); ++i) sa[i] = static_cast<size_t>(a_[i]);
      for (size_t i = 0; i < b_.size(); ++i) sb[i] = static_cast<size_t>(b_[i]);
      xnn_status s = xnn_status_success;
      if (dtype_ == DType::f16) {
        const void *ah = in[0]->data(), *bh = in[1]->data();
        void* yh = out[0]->data();
        s = kind_ == Kind::add ? xnn_setup_add_nd_f16(op_, a_.size(), sa, b_.size(), sb, ah, bh, yh, pool_)
                               : xnn_setup_multiply_nd_f16(op_, a_.size(), sa, b_.size(), sb, ah, bh, yh, pool_);
      } else
      switch (kind_) {
        case Kind::add: s = xnn_setup_add_nd_f32(op_, a_.size(), sa, b_.size(), sb, a, b, y, pool_); break;
        case Kind::sub: s = xnn_setup_subtract_nd_f32(op_, a_.size(), sa, b_.size(), sb, a, b, y, pool_); break;
        case Kind::mul: s = xnn_setup_multiply_nd_f32(op_, a_.size(), sa, b_.size(), sb, a, b, y, pool_); break;
        case Kind::div: s = xnn_setup_divide_nd_f32(op_, a_.size(), sa, b_.size(), sb, a, b, y, pool_); break;
        case Kind::max: s = xnn_setup_maximum_nd_f32(op_, a_.size(), sa, b_.size(), sb, a, b, y, pool_); break;
        case Kind::min: s = xnn_setup_minimum_nd_f32(op_, a_.size(), sa, b_.size(), sb, a, b, y, pool_); break;
      }
      check(s, "setup binary");
    }
    if (dtype_ == DType::f16) check(xnn_run_operator(op_, pool_), "run");
    else execute(y, static_cast<size_t>(out[0]->numel()));
  }

 public:
  int inplace_input() const override { return inplace_; }

 private:
  Kind kind_;
  DType dtype_ = DType::f32;
  Shape a_, b_;
  int inplace_ = -1;
};

// Constant Pad with the pads given as an attribute "pads" (begin..., end...), all >= 0, in the input's
// own (NHWC) dimension order, and "value".
class NhwcPadOp : public XnnOp {
 public:
  using XnnOp::XnnOp;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0)) fail("input is missing");
    dtype_ = in.t[0]->dtype();
    if (dtype_ != DType::f32 && dtype_ != DType::i8 && dtype_ != DType::f16) fail(std::string("input type ") + dtype_name(dtype_) + " is not supported");
    const Shape& x = in.t[0]->shape();
    pads_ = node_.attr_ints("pads");
    if (pads_.size() != 2 * x.size() || x.size() > XNN_MAX_TENSOR_DIMS) fail("pads " + shape_str(pads_) + " do not match input " + shape_str(x));
    Shape y = x;
    for (size_t d = 0; d < x.size(); ++d) {
      if (pads_[d] < 0 || pads_[d + x.size()] < 0) fail("negative pads are not supported here");
      y[d] += pads_[d] + pads_[d + x.size()];
    }
    x_ = x;
    dirty_ = true;
    release();
    const float v = node_.attr_f("value", 0.f);
    if (dtype_ == DType::i8) {
      const int8_t q = static_cast<int8_t>(std::clamp(std::lround(v), -128L, 127L));  // the value is a quantized level
      check(xnn_create_constant_pad_nd_x8(&q, 0, &op_), "create int8 constant pad");
    } else if (dtype_ == DType::f16) {
      const uint16_t h = float_to_half(v);
      check(xnn_create_constant_pad_nd_x16(&h, 0, &op_), "create float16 constant pad");
    } else {
      uint32_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      check(xnn_create_constant_pad_nd_x32(&bits, 0, &op_), "create constant pad");
    }
    out[0] = {dtype_, y};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    void* y = out[0]->data();
    if (rebind(in[0]->data(), nullptr, y)) {
      const size_t r = x_.size();
      size_t s[XNN_MAX_TENSOR_DIMS], pre[XNN_MAX_TENSOR_DIMS], post[XNN_MAX_TENSOR_DIMS];
      for (size_t d = 0; d < r; ++d) {
        s[d] = static_cast<size_t>(x_[d]);
        pre[d] = static_cast<size_t>(pads_[d]);
        post[d] = static_cast<size_t>(pads_[d + r]);
      }
      if (dtype_ == DType::i8) check(xnn_setup_constant_pad_nd_x8(op_, r, s, pre, post, in[0]->data(), y, pool_), "setup int8 constant pad");
      else if (dtype_ == DType::f16) check(xnn_setup_constant_pad_nd_x16(op_, r, s, pre, post, in[0]->data(), y, pool_), "setup float16 constant pad");
      else check(xnn_setup_constant_pad_nd_x32(op_, r, s, pre, post, in[0]->data(), y, pool_), "setup constant pad");
    }
    check(xnn_run_operator(op_, pool_), "run");
  }

 private:
  DType dtype_ = DType::f32;
  Shape x_;
  std::vector<int64_t> pads_;
};

// Quantized level of `v` in (scale, zero point), clamped to int8.
int8_t quantize_level(float v, float s, int32_t z) {
  return static_cast<int8_t>(std::clamp<long>(std::lround(v / s) + z, -128L, 127L));
}

// Output bounds of an int8 op with a fused Relu/Clip, in quantized levels.
void int8_bounds(const Activation& a, float s, int32_t z, int8_t& lo, int8_t& hi) {
  lo = -128;
  hi = 127;
  if (a.kind == Activation::Kind::relu) {
    lo = quantize_level(0.f, s, z);
  } else if (a.kind == Activation::Kind::clip) {
    lo = quantize_level(a.a, s, z);
    hi = quantize_level(a.b, s, z);
  } else if (a.kind != Activation::Kind::none) {
    throw Error(std::string("int8 ops fuse only Relu and Clip, not ") + a.name());
  }
}

// One int8 result from a float value: clamp, then round half to even by adding and removing 1.5 * 2^23.
inline int8_t scalar(float v, float lo, float hi) {
  constexpr float kMagic = 12582912.f;
  v = std::min(std::max(v, lo), hi);
  return static_cast<int8_t>(static_cast<int32_t>((v + kMagic) - kMagic));
}

// y[0..8) = round(clamp(ka*a + kb*b + off, lo, hi)) for int8 a, b (b may be nullptr when kb = 0).
inline void block8(const int8_t* a, const int8_t* b, int8_t* y, float ka, float kb, float off, float lo, float hi) {
#if defined(__AVX2__)
  __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(a)))), _mm256_set1_ps(ka),
                             _mm256_set1_ps(off));
  if (b) v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b)))), _mm256_set1_ps(kb), v);
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(lo)), _mm256_set1_ps(hi));
  const __m256i q = _mm256_cvtps_epi32(v);  // round to nearest even
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(y), _mm_packs_epi16(w, w));
#elif defined(__ARM_NEON) && defined(__aarch64__)
  const int16x8_t a16 = vmovl_s8(vld1_s8(a));
  float32x4_t v0 = vmlaq_n_f32(vdupq_n_f32(off), vcvtq_f32_s32(vmovl_s16(vget_low_s16(a16))), ka);
  float32x4_t v1 = vmlaq_n_f32(vdupq_n_f32(off), vcvtq_f32_s32(vmovl_s16(vget_high_s16(a16))), ka);
  if (b) {
    const int16x8_t b16 = vmovl_s8(vld1_s8(b));
    v0 = vmlaq_n_f32(v0, vcvtq_f32_s32(vmovl_s16(vget_low_s16(b16))), kb);
    v1 = vmlaq_n_f32(v1, vcvtq_f32_s32(vmovl_s16(vget_high_s16(b16))), kb);
  }
  v0 = vminq_f32(vmaxq_f32(v0, vdupq_n_f32(lo)), vdupq_n_f32(hi));
  v1 = vminq_f32(vmaxq_f32(v1, vdupq_n_f32(lo)), vdupq_n_f32(hi));
  const int16x8_t w = vcombine_s16(vqmovn_s32(vcvtnq_s32_f32(v0)), vqmovn_s32(vcvtnq_s32_f32(v1)));
  vst1_s8(y, vqmovn_s16(w));
#else
  for (int j = 0; j < 8; ++j) y[j] = scalar(ka * static_cast<float>(a[j]) + (b ? kb * static_cast<float>(b[j]) : 0.f) + off, lo, hi);
#endif
}

// Constant scalar inputs of the int8 ops: a float scale, an int8 zero point (0 when omitted).
float scalar_f32(const Op& op, const OpInputs& in, size_t i) {
  if (!in.has(i) || !in.is_const[i] || in.t[i]->numel() != 1 || in.t[i]->dtype() != DType::f32)
    throw Error(op.node().label() + ": input " + std::to_string(i) + " must be a constant float scale");
  return in.t[i]->ptr<float>()[0];
}
int32_t scalar_i8(const Op& op, const OpInputs& in, size_t i) {
  if (!in.has(i)) return 0;
  if (!in.is_const[i] || in.t[i]->numel() != 1 || in.t[i]->dtype() != DType::i8)
    throw Error(op.node().label() + ": input " + std::to_string(i) + " must be a constant int8 zero point");
  return in.t[i]->ptr<int8_t>()[0];
}

// int8 convolution as ONNX QLinearConv with per-output-channel weight scales (XNNPACK qc8), made by the
// layout pass from DequantizeLinear -> Conv (+ Relu/Clip) -> QuantizeLinear.
// Inputs: x int8 NHWC, w int8 OIHW, w_scale [1 or M], bias float [M] or "", x_scale, x_zero, y_scale, y_zero.
// The float bias becomes int32 in units of x_scale * w_scale[m] (rounded to nearest).
class NhwcQConvOp : public XnnOp {
 public:
  using XnnOp::XnnOp;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0) || in.t[0]->dtype() != DType::i8) fail("input must be int8");
    const Tensor& wt = need_const(in, 1, "weight");
    const Tensor& wsc = need_const(in, 2, "weight scale");
    const Shape& x = in.t[0]->shape();
    const Shape& ws = wt.shape();
    if (x.size() != 4 || ws.size() != 4 || wt.dtype() != DType::i8) fail("NHWC int8 input " + shape_str(x) + " and int8 weight " + shape_str(ws) + " must be 4-D");
    const int64_t group = node_.attr_i("group", 1);
    const int64_t c = x[3], m = ws[0];
    if (group < 1 || c % group || m % group || c / group != ws[1])
      fail("group=" + std::to_string(group) + " does not fit input channels " + std::to_string(c) + " and weight " + shape_str(ws));
    if (wsc.dtype() != DType::f32 || (wsc.numel() != 1 && wsc.numel() != m)) fail("weight scale " + shape_str(wsc.shape()) + " is not per-tensor or per-channel");
    Window w = make_window(node_, as_nchw(x), {ws[2], ws[3]}, false);
    const float xs = scalar_f32(*this, in, 4), ys = scalar_f32(*this, in, 6);
    const int32_t xz = scalar_i8(*this, in, 5), yz = scalar_i8(*this, in, 7);
    if (!op_ || w.pt != w_.pt || w.pl != w_.pl || w.pb != w_.pb || w.pr != w_.pr || c != c_) {
      release();
      const int64_t ig = c / group, og = m / group, khw = w.kh * w.kw;
      const std::vector<int8_t> packed = to_ohwi(wt.ptr<int8_t>(), m, ig, khw);
      std::vector<float> kscale(static_cast<size_t>(m));
      std::vector<int32_t> bias(static_cast<size_t>(m), 0);
      const Tensor* b = in.has(3) ? &need_const(in, 3, "bias") : nullptr;
      if (b && (b->dtype() != DType::f32 || b->numel() != m)) fail("bias " + shape_str(b->shape()) + " does not match " + std::to_string(m) + " output channels");
      for (int64_t o = 0; o < m; ++o) {
        kscale[static_cast<size_t>(o)] = wsc.ptr<float>()[wsc.numel() == 1 ? 0 : o];
        if (b) bias[static_cast<size_t>(o)] = static_cast<int32_t>(std::lround(b->ptr<float>()[o] / (xs * kscale[static_cast<size_t>(o)])));
      }
      int8_t lo, hi;
      int8_bounds(act_, ys, yz, lo, hi);
      // 1x1 stride-1 convolutions are GEMMs: our VNNI kernel where the CPU has it (XNNPACK 2022 has none)
      const bool vnni = qgemm_vnni_available();
      gemm_ = vnni && group == 1 && w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.pt == 0 && w.pl == 0 && w.pb == 0 && w.pr == 0;
      // stems (few input channels): XNNPACK's int8 kernels step channels by 8; patches of kh*kw*c bytes
      // per output pixel through the same GEMM kernel do not
      im2col_ = vnni && !gemm_ && group == 1;
      // depthwise: 4 horizontal taps per vpdpbusd lane (qgemm.h); XNNPACK 2022's int8 depthwise kernels
      // multiply one tap per lane
      dw_ = vnni && !im2col_ && group == c && m == c && w.dh == 1 && w.dw == 1 && w.kw <= 8 && w.kh <= 16;
      if (dw_) {
        std::vector<float> req(static_cast<size_t>(m));
        for (int64_t o = 0; o < m; ++o) req[static_cast<size_t>(o)] = xs * kscale[static_cast<size_t>(o)] / ys;
        qdw_ = qdw_pack(wt.ptr<int8_t>(), m, w.kh, w.kw, w.sh, w.sw, bias.data(), xz, req.data(), yz, lo, hi);
      }
      if (gemm_ || im2col_) {
        std::vector<float> req(static_cast<size_t>(m));
        for (int64_t o = 0; o < m; ++o) req[static_cast<size_t>(o)] = xs * kscale[static_cast<size_t>(o)] / ys;
        qgemm_ = qgemm_pack(packed.data(), m, khw * ig, bias.data(), xz, req.data(), yz, lo, hi);  // OHWI = [m][kh*kw*c]
        xz_ = static_cast<int8_t>(xz);
        band_rows_ = std::max<int64_t>(1, 32 * 1024 / std::max<int64_t>(1, w.ow * khw * ig));  // ~32 KB of patches per band
      }
      // the same layer read in place from padded input rows (qgemm.h), where im2col would copy the windows
      direct_ = im2col_ && w.dh == 1 && w.dw == 1;
      if (direct_) {
        std::vector<float> req(static_cast<size_t>(m));
        for (int64_t o = 0; o < m; ++o) req[static_cast<size_t>(o)] = xs * kscale[static_cast<size_t>(o)] / ys;
        qdirect_ = qdirect_pack(packed.data(), m, c, w.kh, w.kw, w.sh, w.sw, bias.data(), xz, req.data(), yz, lo, hi);
        // bands of output rows whose padded input rows fill about 32 KB
        const int64_t pitch = qdirect_pitch(qdirect_, w.ow);
        direct_rows_ = std::max<int64_t>(1, (32 * 1024 / pitch - w.kh) / w.sh + 1);
      }
      {  // XNNPACK's int8 convolution: the only kernel, or the other candidate of the VNNI GEMM (engine/tuning.h)
        check(xnn_create_convolution2d_nhwc_qc8(
                static_cast<uint32_t>(w.pt), static_cast<uint32_t>(w.pr), static_cast<uint32_t>(w.pb), static_cast<uint32_t>(w.pl),
                static_cast<uint32_t>(w.kh), static_cast<uint32_t>(w.kw), static_cast<uint32_t>(w.sh), static_cast<uint32_t>(w.sw),
                static_cast<uint32_t>(w.dh), static_cast<uint32_t>(w.dw), static_cast<uint32_t>(group), static_cast<size_t>(ig),
                static_cast<size_t>(og), static_cast<size_t>(c), static_cast<size_t>(m), static_cast<int8_t>(xz), xs, kscale.data(),
                packed.data(), bias.data(), static_cast<int8_t>(yz), ys, lo, hi, 0, EC_XNN_CACHES &op_),
            "create int8 convolution");
      }
    }
    w_ = w;
    c_ = c;
    dirty_ = true;
    out[0] = {DType::i8, {x[0], w.oh, w.ow, m}};
  }
  std::vector<std::string> kernel_candidates() const override {
    if (direct_ && op_) return {"vnni-direct", "xnnpack", "vnni-im2col"};
    if ((gemm_ || im2col_ || dw_) && op_) return {gemm_ ? "vnni-gemm" : im2col_ ? "vnni-im2col" : "vnni-depthwise", "xnnpack"};
    return {};
  }
  void choose_kernel(size_t i) override {
    use_xnn_ = i == 1;
    use_direct_ = i == 0;  // with direct_: else vnni-im2col (2); without: the layer's only VNNI kernel is 0
    dirty_ = true;
  }
  size_t chosen_kernel() const override { return use_xnn_ ? 1 : direct_ && !use_direct_ ? 2 : 0; }
  // The VNNI layers stay when XNNPACK won (int8 weights, small; the next reshape reuses them).
  void drop_other_kernels() override {
    if ((gemm_ || im2col_ || dw_) && !use_xnn_) release();
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    if (direct_ && use_direct_) {
      run_direct(in[0]->ptr<int8_t>(), out[0]->ptr<int8_t>(), in[0]->dim(0));
      return;
    }
    if (gemm_ && !use_xnn_) {
      run_gemm(in[0]->ptr<int8_t>(), out[0]->ptr<int8_t>(), in[0]->numel() / c_);
      return;
    }
    if (im2col_ && !use_xnn_) {
      run_im2col(in[0]->ptr<int8_t>(), out[0]->ptr<int8_t>(), in[0]->dim(0));
      return;
    }
    if (dw_ && !use_xnn_) {
      run_depthwise(in[0]->ptr<int8_t>(), out[0]->ptr<int8_t>(), in[0]->dim(0));
      return;
    }
    if (rebind(in[0]->data(), nullptr, out[0]->data()))
      check(xnn_setup_convolution2d_nhwc_qc8(op_, static_cast<size_t>(in[0]->dim(0)), static_cast<size_t>(w_.ih), static_cast<size_t>(w_.iw),
                                             in[0]->ptr<int8_t>(), out[0]->ptr<int8_t>(), pool_),
            "setup int8 convolution");
    check(xnn_run_operator(op_, pool_), "run");
  }

 protected:
  struct GemmTask {
    const QGemmLayer* l;
    const int8_t* x;
    int8_t* y;
    int64_t pixels, per_task;
    const int8_t* r;
    int64_t cr;
  };
  // Pixels split in tiles across the pool (multiples of 4, the kernel's row block).
  void run_gemm(const int8_t* x, int8_t* y, int64_t pixels, const int8_t* r = nullptr, int64_t cr = 0) const {
    const size_t threads = pool_ ? pthreadpool_get_threads_count(pool_) : 1;
    const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(pixels / 64, static_cast<int64_t>(threads) * 4));
    const int64_t per = ((pixels + tasks - 1) / tasks + 3) / 4 * 4;
    GemmTask t{&qgemm_, x, y, pixels, per, r, cr};
    const TsanRegion region;
    pthreadpool_parallelize_1d(
        pool_,
        [](void* ctx, size_t i) {
          const TsanTask mark;
          auto* t = static_cast<GemmTask*>(ctx);
          const int64_t p0 = static_cast<int64_t>(i) * t->per_task, p1 = std::min(t->pixels, p0 + t->per_task);
          if (p0 < p1) qgemm_vnni(*t->l, t->x, t->y, p0, p1, t->r, t->cr);
        },
        &t, static_cast<size_t>(tasks), 0);
  }

  // Output rows [r0, r1) of one image as patches (one row of kh*kw*c bytes per output pixel); padding
  // holds the input zero point, i.e. a real 0.
  void im2col(const int8_t* x, int8_t* buf, int64_t r0, int64_t r1) const {
    const Window& w = w_;
    const int64_t c = c_, run = w.kw * c;
    int8_t* p = buf;
    for (int64_t oy = r0; oy < r1; ++oy)
      for (int64_t ox = 0; ox < w.ow; ++ox) {
        const int64_t ix0 = ox * w.sw - w.pl;
        const bool inside_x = w.dw == 1 && ix0 >= 0 && ix0 + w.kw <= w.iw;
        for (int64_t ky = 0; ky < w.kh; ++ky) {
          const int64_t iy = oy * w.sh - w.pt + ky * w.dh;
          if (inside_x && iy >= 0 && iy < w.ih) {  // one contiguous run of kw * c bytes
            copy_small(p, x + (iy * w.iw + ix0) * c, run);
            p += run;
            continue;
          }
          for (int64_t kx = 0; kx < w.kw; ++kx, p += c) {
            const int64_t ix = ix0 + kx * w.dw;
            const bool in = iy >= 0 && iy < w.ih && ix >= 0 && ix < w.iw;
            for (int64_t t = 0; t < c; ++t) p[t] = in ? x[(iy * w.iw + ix) * c + t] : xz_;
          }
        }
      }
  }
  // Copies n bytes without a library call for the short runs of a stem (two overlapping words).
  static void copy_small(int8_t* d, const int8_t* s, int64_t n) {
    if (n >= 8 && n <= 16) {
      __builtin_memcpy(d, s, 8);
      __builtin_memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4 && n < 8) {
      __builtin_memcpy(d, s, 4);
      __builtin_memcpy(d + n - 4, s + n - 4, 4);
    } else {
      std::memcpy(d, s, static_cast<size_t>(n));
    }
  }
  struct BandTask {
    NhwcQConvOp* self;
    const int8_t* x;
    int8_t* y;
    int64_t bands;
  };
  // One task per band of output rows, so a worker that wakes late finds bands left to take (with one task per
  // worker, the calling thread took the sleeping worker's share too: the YOLO-shaped stem ran no faster at 2
  // threads); each thread builds a band's patches in its own buffer (thread_local: one band, ~32 KB, per thread).
  void run_im2col(const int8_t* x, int8_t* y, int64_t batch) {
    const int64_t bands = (w_.oh + band_rows_ - 1) / band_rows_;
    const int64_t m = qgemm_.n;
    for (int64_t b = 0; b < batch; ++b) {
      BandTask t{this, x + b * w_.ih * w_.iw * c_, y + b * w_.oh * w_.ow * m, bands};
      const TsanRegion region;
      pthreadpool_parallelize_1d(
          pool_,
          [](void* ctx, size_t band) {
            const TsanTask mark;
            auto* t = static_cast<BandTask*>(ctx);
            NhwcQConvOp& op = *t->self;
            static thread_local std::vector<int8_t> buf;
            const int64_t r0 = static_cast<int64_t>(band) * op.band_rows_, r1 = std::min(op.w_.oh, r0 + op.band_rows_);
            const size_t need = static_cast<size_t>((r1 - r0) * op.w_.ow * op.w_.kh * op.w_.kw * op.c_);
            if (buf.size() < need) buf.resize(need);
            op.im2col(t->x, buf.data(), r0, r1);
            qgemm_vnni(op.qgemm_, buf.data(), t->y + r0 * op.w_.ow * op.qgemm_.n, 0, (r1 - r0) * op.w_.ow);
          },
          &t, static_cast<size_t>(bands), 0);
    }
  }

  struct DirectTask {
    const NhwcQConvOp* self;
    const int8_t* x;
    int8_t* y;
    int64_t rows;  // output rows per task
  };
  // Bands of output rows across the pool (at most direct_rows_, and at least 4 bands a thread when the rows
  // allow, so a worker that wakes late finds bands left); each thread's padded rows in its own buffer.
  void run_direct(const int8_t* x, int8_t* y, int64_t batch) const {
    const int64_t threads = pool_ ? static_cast<int64_t>(pthreadpool_get_threads_count(pool_)) : 1;
    const int64_t rows = threads <= 1 ? direct_rows_ : std::max<int64_t>(1, std::min(direct_rows_, w_.oh / (4 * threads)));
    const int64_t m = qdirect_.g.n;
    for (int64_t b = 0; b < batch; ++b) {
      DirectTask t{this, x + b * w_.ih * w_.iw * c_, y + b * w_.oh * w_.ow * m, rows};
      const TsanRegion region;
      pthreadpool_parallelize_1d(
          pool_,
          [](void* ctx, size_t i) {
            const TsanTask mark;
            auto* t = static_cast<DirectTask*>(ctx);
            const NhwcQConvOp& op = *t->self;
            const int64_t r0 = static_cast<int64_t>(i) * t->rows, r1 = std::min(op.w_.oh, r0 + t->rows);
            if (r0 >= r1) return;
            static thread_local std::vector<uint8_t> buf;
            const size_t need = qdirect_work_bytes(op.qdirect_, op.w_.ow, r1 - r0);
            if (buf.size() < need) buf.resize(need);
            qdirect_vnni(op.qdirect_, t->x, op.w_.ih, op.w_.iw, op.w_.pt, op.w_.pl, t->y, op.w_.ow, r0, r1, buf.data());
          },
          &t, static_cast<size_t>((w_.oh + rows - 1) / rows), 0);
    }
  }

  struct DwTask {
    const NhwcQConvOp* self;
    const int8_t* x;
    int8_t* y;
    int64_t rows;  // output rows per task
  };
  // Bands of output rows across the pool: one band on one thread (each band rearranges the kh - sh input rows
  // it shares with the band above again), a few per thread otherwise, but bands of at least 2 (kh - sh) rows, so
  // the rows rearranged twice stay under a third (MobileNetV3's 5x5 layer on 14 x 14: 6 bands of 3 rows made 35
  // input rows into quads instead of 18, and ran 2x slower at 2 threads than at 1); each thread's quad rows in its
  // own buffer.
  void run_depthwise(const int8_t* x, int8_t* y, int64_t batch) const {
    const size_t threads = pool_ ? pthreadpool_get_threads_count(pool_) : 1;
    const int64_t min_rows = std::max<int64_t>(1, 2 * (w_.kh - w_.sh));
    const int64_t tasks = threads <= 1 ? 1
                                       : std::min<int64_t>(std::min<int64_t>(w_.oh, static_cast<int64_t>(threads) * 3),
                                                           std::max<int64_t>(static_cast<int64_t>(threads), w_.oh / min_rows));
    const int64_t rows = (w_.oh + tasks - 1) / tasks;
    for (int64_t b = 0; b < batch; ++b) {
      DwTask t{this, x + b * w_.ih * w_.iw * c_, y + b * w_.oh * w_.ow * c_, rows};
      const TsanRegion region;
      pthreadpool_parallelize_1d(
          pool_,
          [](void* ctx, size_t i) {
            const TsanTask mark;
            auto* t = static_cast<DwTask*>(ctx);
            const NhwcQConvOp& op = *t->self;
            const int64_t r0 = static_cast<int64_t>(i) * t->rows, r1 = std::min(op.w_.oh, r0 + t->rows);
            if (r0 >= r1) return;
            static thread_local std::vector<int8_t> buf;
            const size_t need = qdw_work_bytes(op.qdw_, op.w_.ow);
            if (buf.size() < need) buf.resize(need);
            qdw_vnni(op.qdw_, t->x, op.w_.ih, op.w_.iw, op.w_.pt, op.w_.pl, t->y, op.w_.ow, r0, r1, buf.data());
          },
          &t, static_cast<size_t>((w_.oh + rows - 1) / rows), 0);
    }
  }

  Window w_;
  int64_t c_ = 0;
  bool gemm_ = false, im2col_ = false, dw_ = false, direct_ = false;
  bool use_direct_ = true;   // "vnni-direct" chosen (where direct_), the built-in rule's pick
  QDirectLayer qdirect_;     // the "vnni-direct" candidate
  int64_t direct_rows_ = 1;  // output rows per band of vnni-direct (~32 KB of padded input rows)
  QDwLayer qdw_;  // the "vnni-depthwise" candidate
  bool use_xnn_ = false;  // the VNNI path exists but XNNPACK's kernel was measured faster
  QGemmLayer qgemm_;
  int8_t xz_ = 0;
  int64_t band_rows_ = 1;  // output rows per im2col task (~32 KB of patches)
};

// An int8 convolution whose output is read as float, not quantized again (detection heads, a model's last
// layer): DequantizeLinear -> Conv (1x1, stride 1, no padding, one group; + any fused activation), made by the
// layout pass where the VNNI GEMM runs, as one int8 GEMM whose epilogue writes float: y = sum * x_scale *
// w_scale[m] + bias in NHWC (the bias in float, as the QDQ graph adds it), then the activation. The float Conv it replaces multiplied dequantized weights: 4x the
// bytes, 1/4 the multiply-adds per instruction. Inputs: x int8 NHWC, w int8 OIHW, w_scale [1 or M], bias float
// [M] or "", x_scale, x_zero.
class NhwcQConvF32Op : public XnnOp {
 public:
  using XnnOp::XnnOp;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0) || in.t[0]->dtype() != DType::i8) fail("input must be int8");
    if (!qgemm_vnni_available()) fail("needs the VNNI GEMM, which this CPU or build lacks");
    const Tensor& wt = need_const(in, 1, "weight");
    const Tensor& wsc = need_const(in, 2, "weight scale");
    const Shape& x = in.t[0]->shape();
    const Shape& ws = wt.shape();
    if (x.size() != 4 || ws.size() != 4 || wt.dtype() != DType::i8 || ws[1] != x[3] || ws[2] != 1 || ws[3] != 1)
      fail("NHWC int8 input " + shape_str(x) + " and int8 weight " + shape_str(ws) + " are not a 1x1 convolution");
    const int64_t m = ws[0], c = x[3];
    if (wsc.dtype() != DType::f32 || (wsc.numel() != 1 && wsc.numel() != m)) fail("weight scale " + shape_str(wsc.shape()) + " is not per-tensor or per-channel");
    const Tensor* b = in.has(3) ? &need_const(in, 3, "bias") : nullptr;
    if (b && (b->dtype() != DType::f32 || b->numel() != m)) fail("bias " + shape_str(b->shape()) + " does not match " + std::to_string(m) + " output channels");
    const float xs = scalar_f32(*this, in, 4);
    const int32_t xz = scalar_i8(*this, in, 5);
    if (qgemm_.n != m || qgemm_.k != c) {
      std::vector<float> scale(static_cast<size_t>(m));
      for (int64_t o = 0; o < m; ++o) scale[static_cast<size_t>(o)] = xs * wsc.ptr<float>()[wsc.numel() == 1 ? 0 : o];
      qgemm_ = qgemm_pack(wt.ptr<int8_t>(), m, c, nullptr, xz, scale.data(), 0, -128, 127);  // the bias stays float
      bias_.assign(static_cast<size_t>((m + 15) / 16 * 16), 0.f);
      if (b) std::copy(b->ptr<float>(), b->ptr<float>() + m, bias_.begin());
    }
    out[0] = {DType::f32, {x[0], x[1], x[2], m}};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    const int64_t pixels = in[0]->numel() / qgemm_.k, m = qgemm_.n;
    const int8_t* x = in[0]->ptr<int8_t>();
    float* y = out[0]->ptr<float>();
    const int64_t threads = pool_ ? static_cast<int64_t>(pthreadpool_get_threads_count(pool_)) : 1;
    const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(pixels / 64, threads * 4));
    const int64_t per = ((pixels + tasks - 1) / tasks + 3) / 4 * 4;
    parallel_for(tasks, [&](int64_t i) {
      const int64_t p0 = i * per, p1 = std::min(pixels, p0 + per);
      if (p0 >= p1) return;
      qgemm_vnni_f32(qgemm_, x, y, bias_.data(), p0, p1);
      if (act_.kind != Activation::Kind::none) act_.apply(y + p0 * m, static_cast<size_t>((p1 - p0) * m));
    });
  }

 private:
  QGemmLayer qgemm_;
  std::vector<float> bias_;  // [ceil(M/16)*16], added in float
};

// int8 Add (as com.microsoft QLinearAdd) with a fused Relu/Clip. Inputs: a int8, b int8, a_scale, a_zero,
// b_scale, b_zero, y_scale, y_zero. Equal shapes run our own loop (float rescaling, round half to even,
// threads over pixels); with attribute zero_extend_b = 1, b may have fewer channels (last axis) than a and
// counts as zero beyond them (a channel-padded residual without the pad). Broadcasting goes to XNNPACK qs8.
// An int8 1x1 convolution on the VNNI GEMM with the following QLinearAdd fused into its epilogue (made by
// the layout pass from QConv -> QAdd when the convolution's output is read only there). Inputs: the eight of
// QConv (whose y_scale, y_zero the Add reads the convolution's output with), then the residual int8 NHWC
// [N,H,W,cr <= M], its scale and zero point, the Add's output scale and zero point; the Add's activation as
// attributes _add_act, _add_act_a, _add_act_b.
class NhwcQConvAddOp : public NhwcQConvOp {
 public:
  using NhwcQConvOp::NhwcQConvOp;
  std::vector<std::string> kernel_candidates() const override { return {}; }
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    NhwcQConvOp::reshape(in, out);
    if (!gemm_) fail("the fused int8 Add needs a 1x1 convolution on the VNNI kernel");
    release();  // the Add lives in the VNNI kernel's epilogue: XNNPACK's convolution is no candidate here
    if (!in.has(8) || in.t[8]->dtype() != DType::i8) fail("residual must be int8");
    r_ = in.t[8]->shape();
    const Shape& y = out[0].shape;
    if (r_.size() != 4 || r_[0] != y[0] || r_[1] != y[1] || r_[2] != y[2] || r_[3] > y[3])
      fail("residual " + shape_str(r_) + " does not fit the output " + shape_str(y));
    const float cs = scalar_f32(*this, in, 6), rs = scalar_f32(*this, in, 9), ys = scalar_f32(*this, in, 11);
    const int32_t cz = scalar_i8(*this, in, 7), rz = scalar_i8(*this, in, 10), yz = scalar_i8(*this, in, 12);
    Node a;
    for (const char* k : {"_act", "_act_a", "_act_b"})
      if (node_.has(std::string("_add") + k)) a.attrs[k] = node_.attrs.at(std::string("_add") + k);
    int8_bounds(Activation::from_node(a), ys, yz, qgemm_.add_lo, qgemm_.add_hi);
    qgemm_.add = true;
    qgemm_.ka = cs / ys;
    qgemm_.kb = rs / ys;
    qgemm_.off = static_cast<float>(yz) - qgemm_.ka * static_cast<float>(cz) - qgemm_.kb * static_cast<float>(rz);
    qgemm_.rz = rz;
  }
  int inplace_input() const override { return r_.size() == 4 && r_[3] == qgemm_.n ? 8 : -1; }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    run_gemm(in[0]->ptr<int8_t>(), out[0]->ptr<int8_t>(), in[0]->numel() / c_, in[8]->ptr<int8_t>(), r_[3]);
  }

 private:
  Shape r_;
};

class NhwcQAddOp : public XnnOp {
 public:
  using XnnOp::XnnOp;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    for (size_t i : {0, 1})
      if (!in.has(i) || in.t[i]->dtype() != DType::i8) fail("inputs must be int8");
    a_ = in.t[0]->shape();
    b_ = in.t[1]->shape();
    if (a_.size() > XNN_MAX_TENSOR_DIMS || b_.size() > XNN_MAX_TENSOR_DIMS) fail("rank above " + std::to_string(XNN_MAX_TENSOR_DIMS));
    const float as = scalar_f32(*this, in, 2), bs = scalar_f32(*this, in, 4), ys = scalar_f32(*this, in, 6);
    const int32_t az = scalar_i8(*this, in, 3), bz = scalar_i8(*this, in, 5), yz = scalar_i8(*this, in, 7);
    int8_bounds(act_, ys, yz, lo8_, hi8_);
    ka_ = as / ys;
    kb_ = bs / ys;
    // y = ka*a + kb*b + off, so the loop is two multiply-adds per element
    off_ = static_cast<float>(yz) - ka_ * static_cast<float>(az) - kb_ * static_cast<float>(bz);
    off_a_only_ = static_cast<float>(yz) - ka_ * static_cast<float>(az);
    dirty_ = true;
    inplace_ = 0;
    const bool extend = node_.attr_i("zero_extend_b", 0) != 0;
    own_ = false;  // equal shapes: XNNPACK qs8 (fixed-point, faster than our float rescaling)
    if (extend && !own_) {
      bool ok = !a_.empty() && a_.size() == b_.size() && b_.back() <= a_.back();
      for (size_t d = 0; ok && d + 1 < a_.size(); ++d) ok = a_[d] == b_[d];
      if (!ok) fail("zero_extend_b: b " + shape_str(b_) + " must match a " + shape_str(a_) + " but in the last axis");
      own_ = true;
    }
    if (own_) {
      out[0] = {DType::i8, a_};
      return;
    }
    inplace_ = 0;  // XNNPACK: only when no broadcasting grows the output
    if (broadcast_shapes(a_, b_, node_) != a_) inplace_ = -1;
    out[0] = {DType::i8, broadcast_shapes(a_, b_, node_)};
    if (op_) return;
    check(xnn_create_add_nd_qs8(static_cast<int8_t>(az), as, static_cast<int8_t>(bz), bs, static_cast<int8_t>(yz), ys, lo8_, hi8_, 0, &op_),
          "create int8 add");
  }
  int inplace_input() const override { return inplace_; }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    if (own_) {
      run_own(in[0]->ptr<int8_t>(), in[1]->ptr<int8_t>(), out[0]->ptr<int8_t>());
      return;
    }
    if (rebind(in[0]->data(), in[1]->data(), out[0]->data())) {
      size_t sa[XNN_MAX_TENSOR_DIMS], sb[XNN_MAX_TENSOR_DIMS];
      for (size_t i = 0; i < a_.size(); ++i) sa[i] = static_cast<size_t>(a_[i]);
      for (size_t i = 0; i < b_.size(); ++i) sb[i] = static_cast<size_t>(b_[i]);
      check(xnn_setup_add_nd_qs8(op_, a_.size(), sa, b_.size(), sb, in[0]->ptr<int8_t>(), in[1]->ptr<int8_t>(), out[0]->ptr<int8_t>(), pool_),
            "setup int8 add");
    }
    check(xnn_run_operator(op_, pool_), "run");
  }

 private:
  struct Task {
    const NhwcQAddOp* self;
    const int8_t *a, *b;
    int8_t* y;
    int64_t rows, ca, cb, rows_per_task;
  };
  // Rows [r0, r1) of the [rows][ca] output; b rows have cb <= ca channels.
  void rows(const int8_t* a, const int8_t* b, int8_t* y, int64_t r0, int64_t r1, int64_t ca, int64_t cb) const {
    const float ka = ka_, kb = kb_, off = off_, off1 = off_a_only_, lo = lo8_, hi = hi8_;
    for (int64_t r = r0; r < r1; ++r) {
      const int8_t* ar = a + r * ca;
      const int8_t* br = b + r * cb;
      int8_t* yr = y + r * ca;
      // rows are short (BlazeFace: 24-96 channels): blocks of 8 with SIMD where we have it, then scalars.
      // Rounding is to nearest even (the SIMD conversions' default mode; the scalar path adds and removes
      // 1.5 * 2^23 after clamping).
      int64_t c = 0;
      for (; c + 8 <= cb; c += 8) block8(ar + c, br + c, yr + c, ka, kb, off, lo, hi);
      for (; c < cb; ++c) yr[c] = scalar(ka * static_cast<float>(ar[c]) + kb * static_cast<float>(br[c]) + off, lo, hi);
      for (; c + 8 <= ca; c += 8) block8(ar + c, nullptr, yr + c, ka, 0.f, off1, lo, hi);
      for (; c < ca; ++c) yr[c] = scalar(ka * static_cast<float>(ar[c]) + off1, lo, hi);
    }
  }
  void run_own(const int8_t* a, const int8_t* b, int8_t* y) const {
    const int64_t ca = a_.empty() ? 1 : a_.back(), cb = b_.empty() ? 1 : b_.back();
    const int64_t rows_total = numel(a_) / std::max<int64_t>(ca, 1);
    const size_t threads = pool_ ? pthreadpool_get_threads_count(pool_) : 1;
    const int64_t tasks = std::max<int64_t>(1, std::min<int64_t>(rows_total / 64, static_cast<int64_t>(threads) * 4));
    Task t{this, a, b, y, rows_total, ca, cb, (rows_total + tasks - 1) / tasks};
    const TsanRegion region;
    pthreadpool_parallelize_1d(
        pool_,
        [](void* ctx, size_t i) {
          const TsanTask mark;
          auto* k = static_cast<Task*>(ctx);
          const int64_t r0 = static_cast<int64_t>(i) * k->rows_per_task, r1 = std::min(k->rows, r0 + k->rows_per_task);
          if (r0 < r1) k->self->rows(k->a, k->b, k->y, r0, r1, k->ca, k->cb);
        },
        &t, static_cast<size_t>(tasks), 0);
  }

  Shape a_, b_;
  int inplace_ = 0;
  bool own_ = false;
  float ka_ = 1, kb_ = 1, off_ = 0, off_a_only_ = 0;
  int8_t lo8_ = -128, hi8_ = 127;
};

// QuantizeLinear to int8 / DequantizeLinear from int8 with a per-tensor scale and zero point (XNNPACK
// convert; rounding half to even as ONNX specifies). Inputs as the ONNX operators; any layout.
class XnnConvertOp : public XnnOp {
 public:
  XnnConvertOp(const Node& n, int64_t o, bool quantize) : XnnOp(n, o), quantize_(quantize) {}
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!in.has(0) || in.t[0]->dtype() != (quantize_ ? DType::f32 : DType::i8)) fail(quantize_ ? "input must be float32" : "input must be int8");
    const float s = scalar_f32(*this, in, 1);
    const int32_t z = scalar_i8(*this, in, 2);
    n_ = static_cast<size_t>(in.t[0]->numel());
    release();
    if (quantize_) check(xnn_create_convert_nc_f32_qs8(1, 1, 1, s, static_cast<int8_t>(z), -128, 127, 0, &op_), "create quantize");
    else check(xnn_create_convert_nc_qs8_f32(1, 1, 1, s, static_cast<int8_t>(z), 0, &op_), "create dequantize");
    dirty_ = true;
    out[0] = {quantize_ ? DType::i8 : DType::f32, in.t[0]->shape()};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    if (rebind(in[0]->data(), nullptr, out[0]->data())) {
      // one "channel" per element: the batch is the element count, so XNNPACK can split it across threads
      if (quantize_) check(xnn_setup_convert_nc_f32_qs8(op_, n_, in[0]->ptr<float>(), out[0]->ptr<int8_t>(), pool_), "setup quantize");
      else check(xnn_setup_convert_nc_qs8_f32(op_, n_, in[0]->ptr<int8_t>(), out[0]->ptr<float>(), pool_), "setup dequantize");
    }
    check(xnn_run_operator(op_, pool_), "run");
  }

 private:
  bool quantize_;
  size_t n_ = 0;
};

// Cast between float32 and float16 (attribute "to": 10 = FLOAT16, 1 = FLOAT) with XNNPACK's converts, made by
// the float16 pass (fp16.h) where float16 and float32 regions meet; rounding to nearest even.
class XnnCastOp : public XnnOp {
 public:
  using XnnOp::XnnOp;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    to16_ = node_.attr_i("to", 0) == 10;
    if (!to16_ && node_.attr_i("to", 0) != 1) fail("\"to\" must be 1 (FLOAT) or 10 (FLOAT16)");
    if (!in.has(0) || in.t[0]->dtype() != (to16_ ? DType::f32 : DType::f16)) fail(to16_ ? "input must be float32" : "input must be float16");
    n_ = static_cast<size_t>(in.t[0]->numel());
    release();
    if (to16_) check(xnn_create_convert_nc_f32_f16(1, 1, 1, 0, &op_), "create convert to float16");
    else check(xnn_create_convert_nc_f16_f32(1, 1, 1, 0, &op_), "create convert to float32");
    dirty_ = true;
    out[0] = {to16_ ? DType::f16 : DType::f32, in.t[0]->shape()};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void*) override {
    if (rebind(in[0]->data(), nullptr, out[0]->data())) {
      if (to16_) check(xnn_setup_convert_nc_f32_f16(op_, n_, in[0]->ptr<float>(), out[0]->data(), pool_), "setup convert to float16");
      else check(xnn_setup_convert_nc_f16_f32(op_, n_, in[0]->data(), out[0]->ptr<float>(), pool_), "setup convert to float32");
    }
    check(xnn_run_operator(op_, pool_), "run");
  }

 private:
  bool to16_ = true;
  size_t n_ = 0;
};

// Pointwise (1x1) convolution with the residual Add of the next node fused (engine/pointwise.h): inputs
// x [N,H,W,K], weight [n,K,1,1], bias [n] (optional), residual; the Add's activation. The residual is
// [N,H,W,cr] with cr <= n (cr < n: a channel-zero-padded operand read unpadded); other shapes that broadcast
// to the output are added after the convolution.
class NhwcPointwiseOp : public XnnOp {
 public:
  using XnnOp::XnnOp;
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (!pointwise_available()) fail("the fused pointwise kernel is not available on this CPU");
    need_f32(in, 0);
    need_f32(in, 3);
    const Tensor& wt = need_const(in, 1, "weight");
    const Shape& x = in.t[0]->shape();
    const Shape& ws = wt.shape();
    if (x.size() != 4 || ws.size() != 4 || ws[1] != x[3] || ws[2] != 1 || ws[3] != 1)
      fail("NHWC input " + shape_str(x) + " and weight " + shape_str(ws) + " are not a pointwise convolution");
    const Tensor* bias = in.has(2) ? &need_const(in, 2, "bias") : nullptr;
    if (bias && (bias->dtype() != DType::f32 || bias->numel() != ws[0])) fail("bias " + shape_str(bias->shape()) + " does not match the weight");
    y_ = {x[0], x[1], x[2], ws[0]};
    r_ = in.t[3]->shape();
    direct_ = r_.size() == 4 && r_[0] == y_[0] && r_[1] == y_[1] && r_[2] == y_[2] && r_[3] <= y_[3];
    if (!direct_) {
      const Shape b = broadcast_shapes(y_, r_, node_);
      if (b != y_) fail("residual " + shape_str(r_) + " broadcasts the output " + shape_str(y_) + " to " + shape_str(b));
    }
    const bool fused = direct_ && !post_;  // clamp in the kernel's epilogue
    layer_ = pointwise_pack(wt.ptr<float>(), ws[0], ws[1], bias ? bias->ptr<float>() : nullptr, fused ? lo_ : -kInf, fused ? hi_ : kInf);
    // the other candidate: XNNPACK's 1x1 convolution, then the residual and the clamp in a second pass
    release();
    check(xnn_create_convolution2d_nhwc_f32(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, static_cast<size_t>(ws[1]), static_cast<size_t>(ws[0]),
                                           static_cast<size_t>(ws[1]), static_cast<size_t>(ws[0]), to_ohwi(wt.ptr<float>(), ws[0], ws[1], 1).data(),
                                           bias ? bias->ptr<float>() : nullptr, -kInf, kInf, 0, EC_XNN_CACHES &op_),
          "create pointwise convolution");
    dirty_ = true;
    out[0] = {DType::f32, y_};
  }
  // The output may share the residual's buffer (our kernel reads each row of it before writing there);
  // XNNPACK's convolution would overwrite it first, so that candidate then writes to the workspace.
  int inplace_input() const override { return direct_ && r_ == y_ ? 3 : -1; }
  size_t workspace_bytes() const override { return op_ && direct_ && r_ == y_ ? static_cast<size_t>(numel(y_)) * sizeof(float) : 0; }
  std::vector<std::string> kernel_candidates() const override {
    if (op_ && !layer_.w.empty()) return {"ec-pointwise", "xnnpack"};
    return {};
  }
  void choose_kernel(size_t i) override { use_xnn_ = i == 1; }
  size_t chosen_kernel() const override { return use_xnn_ ? 1 : 0; }
  void drop_other_kernels() override {
    if (!use_xnn_) release();
    else layer_ = PointwiseLayer{};
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void* ws) override {
    if (use_xnn_) {
      run_xnnpack(in, out, static_cast<float*>(ws));
      return;
    }
    run_ec(in[0]->ptr<float>(), in[3]->ptr<float>(), out[0]->ptr<float>());
  }

 protected:
  // Our kernel over the whole output: y = pointwise(x) + r (r as given to reshape), then the activation.
  void run_ec(const float* x, const float* r, float* y) const {
    struct Ctx {
      const PointwiseLayer* layer;
      const float *x, *r;
      float* y;
      int64_t cr;
    } c{&layer_, x, direct_ ? r : nullptr, y, direct_ ? r_[3] : 0};
    const int64_t rows = y_[0] * y_[1] * y_[2];
    const size_t threads = pool_ ? pthreadpool_get_threads_count(pool_) : 1;
    // tiles of whole kernel blocks (48 rows: a multiple of 16, 12, 8 and 6), about 4 per thread
    const size_t tile = static_cast<size_t>(std::max<int64_t>(48, (rows / static_cast<int64_t>(4 * threads) + 47) / 48 * 48));
    auto body = [](void* p, size_t start, size_t count) {
      const TsanTask mark;
      const Ctx& k = *static_cast<const Ctx*>(p);
      pointwise_run(*k.layer, k.x, k.r, k.cr, k.y, static_cast<int64_t>(start), static_cast<int64_t>(start + count));
    };
    if (threads > 1 && static_cast<size_t>(rows) > tile) {
      const TsanRegion region;
      pthreadpool_parallelize_1d_tile_1d(pool_, body, &c, static_cast<size_t>(rows), tile, PTHREADPOOL_FLAG_DISABLE_DENORMALS);
    } else {
      body(&c, 0, static_cast<size_t>(rows));
    }
    finish(r, y);
  }
  // After the kernel: a residual that broadcasts is added here, then the activation the kernel could not clamp.
  void finish(const float* r, float* y) const {
    if (!direct_) add_broadcast_residual(r, y, y);
    if (post_) apply_activation(y, static_cast<size_t>(numel(y_)));
  }

  // y = clamp(c + r) with r broadcast to the output shape (c may be y).
  void add_broadcast_residual(const float* r, const float* c, float* y) const {
    int64_t st[4] = {0, 0, 0, 0}, s = 1;
    for (size_t d = r_.size(); d-- > 0;) {
      st[4 - (r_.size() - d)] = r_[d] == 1 ? 0 : s;
      s *= r_[d];
    }
    int64_t i = 0;
    for (int64_t a = 0; a < y_[0]; ++a)
      for (int64_t h = 0; h < y_[1]; ++h)
        for (int64_t w = 0; w < y_[2]; ++w)
          for (int64_t ch = 0; ch < y_[3]; ++ch, ++i) y[i] = std::min(hi_, std::max(lo_, c[i] + r[a * st[0] + h * st[1] + w * st[2] + ch * st[3]]));
  }
  void run_xnnpack(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, float* ws) {
    const float* r = in[3]->ptr<float>();
    float* y = out[0]->ptr<float>();
    float* c = y == r ? ws : y;  // sharing the residual's buffer: convolve aside first
    if (rebind(in[0]->data(), c, y))
      check(xnn_setup_convolution2d_nhwc_f32(op_, static_cast<size_t>(y_[0]), static_cast<size_t>(y_[1]), static_cast<size_t>(y_[2]),
                                             in[0]->ptr<float>(), c, pool_),
            "setup pointwise convolution");
    check(xnn_run_operator(op_, pool_), "run");
    if (!direct_) {
      add_broadcast_residual(r, c, y);
    } else {
      struct Ctx {
        const float *c, *r;
        float* y;
        int64_t m, cr;
        float lo, hi;
      } k{c, r, y, y_[3], r_[3], lo_, hi_};
      auto body = [](void* p, size_t start, size_t count) {
        const TsanTask mark;
        const Ctx& k = *static_cast<const Ctx*>(p);
        for (size_t px = start; px < start + count; ++px) {
          const float* cp = k.c + static_cast<int64_t>(px) * k.m;
          const float* rp = k.r + static_cast<int64_t>(px) * k.cr;
          float* yp = k.y + static_cast<int64_t>(px) * k.m;
          for (int64_t ch = 0; ch < k.cr; ++ch) yp[ch] = std::min(k.hi, std::max(k.lo, cp[ch] + rp[ch]));
          for (int64_t ch = k.cr; ch < k.m; ++ch) yp[ch] = std::min(k.hi, std::max(k.lo, cp[ch]));
        }
      };
      const size_t pixels = static_cast<size_t>(y_[0] * y_[1] * y_[2]);
      const TsanRegion region;
      pthreadpool_parallelize_1d_tile_1d(pool_, body, &k, pixels, 256, PTHREADPOOL_FLAG_DISABLE_DENORMALS);
    }
    if (post_) apply_activation(y, static_cast<size_t>(out[0]->numel()));
  }

  PointwiseLayer layer_;
  Shape y_, r_;
  bool direct_ = false;
  bool use_xnn_ = false;
};

// A depthwise convolution whose output only feeds a PointwiseAdd (layout pass: "DwPointwiseAdd"): inputs x
// [N,H,W,C], the depthwise weight [C,1,K,K] (K 3 or 5, stride 1 or 2) and bias (optional), the pointwise weight
// [n,C,1,1] and bias (optional), the residual; the depthwise convolution's attributes and its clamp ("_dw_act",
// Relu or Clip), the Add's activation. Candidates:
//   "ec-dw-pw": bands of output rows on the threads; each band's depthwise rows go to the thread's buffer (a few
//     tens of KB, in L1/L2) and the pointwise kernel reads them from there, so the depthwise map never goes out to
//     memory (BlazeFace-256's 24-32-channel maps at 128 x 128: 1.5 MB written and read back per block);
//   "xnnpack-dw": XNNPACK's depthwise convolution over the whole map into the workspace, then the pointwise
//     kernel over it (MobileNetV2's 144-channel layers chose XNNPACK's depthwise before the fusion).
// (Our depthwise over the whole map, then the pointwise kernel, was a candidate too: timed alone it won some
// layers by a few per cent, and BlazeFace-256 ran 4 % slower with those choices than with "ec-dw-pw".)
// The output never shares the residual's buffer: the residual is usually x itself, whose rows the next bands'
// depthwise windows still read.
class NhwcDwPointwiseOp : public NhwcPointwiseOp {
 public:
  NhwcDwPointwiseOp(const Node& n, int64_t o) : NhwcPointwiseOp(n, o) {
    Node a = n;  // the depthwise convolution's own activation, under the names Activation reads
    a.attrs.clear();
    for (const char* at : {"_act", "_act_a", "_act_b"})
      if (n.has(std::string("_dw") + at)) a.attrs[at] = n.attrs.at(std::string("_dw") + at);
    bool post = false;
    fused_bounds(Activation::from_node(a), dlo_, dhi_, post);
    if (post) fail("the depthwise convolution's activation " + a.attr_s("_act", "") + " is not a clamp");
  }
  void reshape(const OpInputs& in, std::vector<TensorSpec>& out) override {
    if (in.size() != 6) fail("expects 6 inputs, has " + std::to_string(in.size()));
    need_f32(in, 0);
    const Tensor& wt = need_const(in, 1, "depthwise weight");
    const Shape& x = in.t[0]->shape();
    const Shape& ws = wt.shape();
    if (x.size() != 4 || ws.size() != 4 || wt.dtype() != DType::f32 || ws[0] != x[3] || ws[1] != 1 || ws[2] != ws[3] || node_.attr_i("group", 1) != x[3])
      fail("NHWC input " + shape_str(x) + " and weight " + shape_str(ws) + " are not a depthwise convolution");
    const auto kernel = node_.attr_ints("kernel_shape", {ws[2], ws[3]});
    if (kernel != std::vector<int64_t>{ws[2], ws[3]}) fail("kernel_shape " + shape_str(kernel) + " does not match weight " + shape_str(ws));
    const Window w = make_window(node_, as_nchw(x), kernel, false);
    if (!DepthwiseConv::supports(w.kh, w.kw, w.sh, w.sw, w.dh, w.dw))
      fail("depthwise window " + std::to_string(w.kh) + "x" + std::to_string(w.kw) + " stride " + std::to_string(w.sh) + " is not supported");
    const Tensor* bias = in.has(2) ? &need_const(in, 2, "depthwise bias") : nullptr;
    if (bias && (bias->dtype() != DType::f32 || bias->numel() != ws[0])) fail("depthwise bias " + shape_str(bias->shape()) + " does not match the weight");
    w_ = w;
    c_ = x[3];
    dw_ = std::make_unique<DepthwiseConv>(wt.ptr<float>(), bias ? bias->ptr<float>() : nullptr, c_, static_cast<int>(w.kh), static_cast<int>(w.sh));
    d_ = Tensor::view(DType::f32, {x[0], w.oh, w.ow, c_}, nullptr);  // the depthwise map: its shape, for the pointwise part
    OpInputs pw;
    pw.t = {&d_, in.t[3], in.t[4], in.t[5]};
    for (size_t i : {size_t{0}, size_t{3}, size_t{4}, size_t{5}}) pw.is_const.push_back(i > 0 && i < in.is_const.size() && in.is_const[i]);
    NhwcPointwiseOp::reshape(pw, out);
    // the third candidate: XNNPACK's depthwise convolution (in place of the base's 1x1 one)
    release();
    const std::vector<float> packed = to_ohwi(wt.ptr<float>(), c_, 1, w.kh * w.kw);
    check(xnn_create_convolution2d_nhwc_f32(static_cast<uint32_t>(w.pt), static_cast<uint32_t>(w.pr), static_cast<uint32_t>(w.pb),
                                            static_cast<uint32_t>(w.pl), static_cast<uint32_t>(w.kh), static_cast<uint32_t>(w.kw),
                                            static_cast<uint32_t>(w.sh), static_cast<uint32_t>(w.sw), 1, 1, static_cast<uint32_t>(c_), 1, 1,
                                            static_cast<size_t>(c_), static_cast<size_t>(c_), packed.data(), bias ? bias->ptr<float>() : nullptr,
                                            dlo_, dhi_, 0, EC_XNN_CACHES & op_),
          "create depthwise convolution");
    dirty_ = true;
  }
  int inplace_input() const override { return -1; }
  size_t workspace_bytes() const override { return static_cast<size_t>(numel(d_.shape())) * sizeof(float); }
  std::vector<std::string> kernel_candidates() const override { return {"ec-dw-pw", "xnnpack-dw"}; }
  void choose_kernel(size_t i) override { xnn_dw_ = i == 1; }
  size_t chosen_kernel() const override { return xnn_dw_ ? 1 : 0; }
  void drop_other_kernels() override {
    if (!xnn_dw_) release();
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, void* ws) override {
    const float* x = in[0]->ptr<float>();
    const float* r = in[5]->ptr<float>();
    float* y = out[0]->ptr<float>();
    const Window& w = w_;
    const int64_t batch = y_[0];
    if (xnn_dw_) {
      float* d = static_cast<float*>(ws);
      if (rebind(x, nullptr, d))
        check(xnn_setup_convolution2d_nhwc_f32(op_, static_cast<size_t>(batch), static_cast<size_t>(w.ih), static_cast<size_t>(w.iw), x, d, pool_),
              "setup depthwise convolution");
      check(xnn_run_operator(op_, pool_), "run depthwise convolution");
      run_ec(d, r, y);
      return;
    }
    // bands of about 32 KB of depthwise output (at least one row)
    const int64_t band = std::clamp<int64_t>(8192 / (w.ow * c_), 1, w.oh), bands = (w.oh + band - 1) / band;
    const int64_t n = y_[3], cr = direct_ ? r_[3] : 0;
    const size_t floats = static_cast<size_t>(band * w.ow * c_);
    parallel_for(batch * bands, [&](int64_t t) {
      const int64_t b = t / bands, oy0 = (t % bands) * band, oy1 = std::min(w.oh, oy0 + band);
      thread_local std::vector<float> buf;
      if (buf.size() < floats) buf.resize(floats);
      dw_->rows(x + b * w.ih * w.iw * c_, buf.data(), oy0, oy1, w, dlo_, dhi_);
      const int64_t p0 = (b * w.oh + oy0) * w.ow;
      pointwise_run(layer_, buf.data(), direct_ ? r + p0 * cr : nullptr, cr, y + p0 * n, 0, (oy1 - oy0) * w.ow);
    });
    finish(r, y);
  }

 private:
  Window w_;
  int64_t c_ = 0;
  float dlo_ = -kInf, dhi_ = kInf;  // the depthwise output's clamp
  std::unique_ptr<DepthwiseConv> dw_;
  Tensor d_;             // shape of the depthwise map (no data)
  bool xnn_dw_ = false;  // the kernel: "xnnpack-dw" (else "ec-dw-pw")
};

template <class T, auto K>
std::unique_ptr<Op> make_kind(const Node& n, int64_t o) {
  return std::make_unique<T>(n, o, K);
}
std::unique_ptr<Op> make_conv(const Node& n, int64_t o) { return std::make_unique<NhwcConvOp>(n, o); }
std::unique_ptr<Op> make_pad(const Node& n, int64_t o) { return std::make_unique<NhwcPadOp>(n, o); }
std::unique_ptr<Op> make_qconv(const Node& n, int64_t o) { return std::make_unique<NhwcQConvOp>(n, o); }
std::unique_ptr<Op> make_qadd(const Node& n, int64_t o) { return std::make_unique<NhwcQAddOp>(n, o); }
std::unique_ptr<Op> make_qconv_add(const Node& n, int64_t o) { return std::make_unique<NhwcQConvAddOp>(n, o); }
std::unique_ptr<Op> make_qconv_f32(const Node& n, int64_t o) { return std::make_unique<NhwcQConvF32Op>(n, o); }
std::unique_ptr<Op> make_pointwise(const Node& n, int64_t o) { return std::make_unique<NhwcPointwiseOp>(n, o); }
std::unique_ptr<Op> make_dw_pointwise(const Node& n, int64_t o) { return std::make_unique<NhwcDwPointwiseOp>(n, o); }

}  // namespace

void register_nhwc_ops(std::map<std::string, OpFactory>& r) {
  using P = NhwcPoolOp;
  using B = NhwcBinaryOp;
  r["Conv"] = make_conv;
  r["ConvTranspose"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<NhwcConvTransposeOp>(n, o); };
  r["Pad"] = make_pad;
  r["QConv"] = make_qconv;
  r["QAdd"] = make_qadd;
  r["QConvAdd"] = make_qconv_add;
  r["QConvF32"] = make_qconv_f32;
  r["PointwiseAdd"] = make_pointwise;
  r["DwPointwiseAdd"] = make_dw_pointwise;
  r["Cast"] = [](const Node& n, int64_t o) -> std::unique_ptr<Op> { return std::make_unique<XnnCastOp>(n, o); };
  r["QuantizeLinear"] = make_kind<XnnConvertOp, true>;
  r["DequantizeLinear"] = make_kind<XnnConvertOp, false>;
  r["MaxPool"] = make_kind<P, P::Kind::max>;
  r["AveragePool"] = make_kind<P, P::Kind::avg>;
  r["GlobalAveragePool"] = make_kind<P, P::Kind::global_avg>;
  r["Add"] = make_kind<B, B::Kind::add>;
  r["Sub"] = make_kind<B, B::Kind::sub>;
  r["Mul"] = make_kind<B, B::Kind::mul>;
  r["Div"] = make_kind<B, B::Kind::div>;
  r["Max"] = make_kind<B, B::Kind::max>;
  r["Min"] = make_kind<B, B::Kind::min>;
}
#else
void register_nhwc_ops(std::map<std::string, OpFactory>&) {}
#endif

namespace {
bool g_deconv_vector = true;
}  // namespace
bool deconv_avx512_available() {
#if defined(EC_HAVE_DECONV_AVX512) && defined(__x86_64__)
  static const bool cpu = __builtin_cpu_supports("avx512f");
  return cpu && g_deconv_vector;
#else
  return false;
#endif
}
void set_deconv_vector_kernel(bool enabled) { g_deconv_vector = enabled; }

const char* winograd_transform_kernel() { return winograd_avx512() ? "avx512" : "portable"; }
void set_winograd_vector_transforms(bool enabled) { g_winograd_vector = enabled; }

}  // namespace ec
