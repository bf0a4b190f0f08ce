// Kernel microbenchmarks (Google Benchmark) of the native engine's hot operators at BlazeFace-like
// shapes, each run as a one-node model through the engine's full prepare/run path.
//   ./build/bench/bench_kernels --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstring>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <random>
#include <vector>

#include "bench_util.h"
#include "engine.h"

namespace {

using namespace ec;
using ec::bench::ints;
using ec::bench::integer;


Tensor rnd(Shape s, uint32_t seed) {
  Tensor t(DType::f32, std::move(s));
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(g);
  return t;
}

ValueInfo value(const std::string& name, Shape s, DType t = DType::f32) {
  ValueInfo v;
  v.name = name;
  v.dtype = t;
  v.has_shape = true;
  for (int64_t d : s) v.dims.push_back({d, ""});
  return v;
}

// Conv with input [1,c,hw,hw], m output channels, k x k kernel, stride s, pad k/2, groups g, on one of:
//   kind 0: native-ref (reference NCHW kernels, NCHW graph);
//   kind 1: native fp32 on XNNPACK: the graph takes and returns NHWC (TensorFlow-style Transposes around
//           the Conv, which the layout pass folds away), so only the convolution is timed;
//   kind 2: native int8 (XNNPACK qc8, or our VNNI GEMM for 1x1 and stems where the CPU has VNNI): the same
//           with Q/DQ around the Conv and per-channel int8 weights, so the time includes quantizing the input
//           and dequantizing the output (two cheap passes).
void BM_Conv(benchmark::State& state) {
  const int64_t c = state.range(0), hw = state.range(1), m = state.range(2), k = state.range(3), s = state.range(4),
                g = state.range(5), threads = state.range(6), kind = state.range(7);
  Model model;
  model.opsets[""] = 13;
  model.graph.initializers["w"] = rnd({m, c / g, k, k}, 1);
  model.graph.initializers["b"] = rnd({m}, 2);
  Node n{"conv", "Conv", "", {"x", "w", "b"}, {"y"}, {}};
  n.attrs["pads"] = ints({k / 2, k / 2, k / 2, k / 2});
  n.attrs["strides"] = ints({s, s});
  n.attrs["group"] = integer(g);
  auto& nodes = model.graph.nodes;
  Shape in_shape{1, c, hw, hw};
  if (kind == 0) {
    model.graph.inputs.push_back(value("x", in_shape));
    nodes.push_back(n);
    model.graph.outputs.push_back(value("y", {}));
  } else {
    in_shape = {1, hw, hw, c};
    model.graph.inputs.push_back(value("xin", in_shape));
    nodes.push_back(Node{"to_nchw", "Transpose", "", {"xin"}, {"x"}, {{"perm", ints({0, 3, 1, 2})}}});
    if (kind == 2) {
      Tensor q(DType::i8, {m, c / g, k, k});
      std::mt19937 rng(5);
      for (int64_t i = 0; i < q.numel(); ++i) q.ptr<int8_t>()[i] = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
      model.graph.initializers["wq"] = q;
      model.graph.initializers["ws"] = Tensor::from_f32({m}, std::vector<float>(static_cast<size_t>(m), 0.004f));
      model.graph.initializers["s"] = Tensor::from_f32({}, {0.02f});
      model.graph.initializers["z"] = Tensor(DType::i8, {});
      nodes.push_back(Node{"qx", "QuantizeLinear", "", {"x", "s", "z"}, {"xq"}, {}});
      nodes.push_back(Node{"dqx", "DequantizeLinear", "", {"xq", "s", "z"}, {"xd"}, {}});
      nodes.push_back(Node{"dqw", "DequantizeLinear", "", {"wq", "ws"}, {"wd"}, {{"axis", integer(0)}}});
      n.inputs = {"xd", "wd", "b"};
      n.outputs = {"yc"};
      nodes.push_back(n);
      nodes.push_back(Node{"qy", "QuantizeLinear", "", {"yc", "s", "z"}, {"yq"}, {}});
      nodes.push_back(Node{"dqy", "DequantizeLinear", "", {"yq", "s", "z"}, {"y"}, {}});
    } else {
      nodes.push_back(n);
    }
    nodes.push_back(Node{"to_nhwc", "Transpose", "", {"y"}, {"yout"}, {{"perm", ints({0, 2, 3, 1})}}});
    model.graph.outputs.push_back(value("yout", {}));
  }
  EngineOptions o;
  o.threads = static_cast<int>(threads);
  auto e = create_engine(kind == 0 ? "native-ref" : "native", model, o);
  e->prepare({});
  Tensor in = rnd(in_shape, 3);
  std::memcpy(e->input(0).data(), in.data(), in.size_bytes());
  for (auto _ : state) e->run();
  const int64_t oh = (hw + 2 * (k / 2) - k) / s + 1;
  const double macs = static_cast<double>(m * oh * oh * (c / g) * k * k);
  state.counters["GMAC/s"] = benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = static_cast<double>(threads);
  state.SetLabel(kind == 0 ? "reference" : kind == 1 ? "xnnpack-f32" : "int8");
}

// {c, hw, m, k, stride, group, threads} for each kind (reference, XNNPACK fp32, XNNPACK int8)
void conv_args(benchmark::internal::Benchmark* b) {
  const std::vector<std::vector<int64_t>> shapes = {
      {3, 128, 24, 5, 2, 1},   // BlazeFace stem
      {24, 64, 24, 3, 1, 24},  // depthwise 3x3
      {24, 64, 28, 1, 1, 1},   // pointwise
      {96, 8, 96, 1, 1, 1},    // small pointwise
      {32, 64, 64, 3, 1, 1},   // dense 3x3
  };
  for (int64_t threads : {1, 2})
    for (const auto& sh : shapes)
      for (int64_t kind : {0, 1, 2}) {
        std::vector<int64_t> a = sh;
        a.push_back(threads);
        a.push_back(kind);
        b->Args(a);
      }
}
BENCHMARK(BM_Conv)->ArgNames({"c", "hw", "m", "k", "s", "g", "thr", "kind"})->Apply(conv_args)->Unit(benchmark::kMicrosecond);

// The core's float multiply-add ceiling, for reading model figures against (GMAC/s of a model = MACs / time):
// 16 independent chains of vector FMAs, no memory traffic. Counter "GMAC/s" = multiply-adds per second / 1e9.
// The widest vectors the CPU has: AVX-512 (16 lanes) where present, else the build's (AVX2: 8; NEON: 4).
template <int W>
struct Lanes {
  typedef float V __attribute__((vector_size(W * 4)));
};
template <int W>
inline int64_t fma_chains(int64_t iters, float seed) {
  using V = typename Lanes<W>::V;
  V acc[16], m, a;
  for (int k = 0; k < 16; ++k)
    for (int l = 0; l < W; ++l) acc[k][l] = seed * static_cast<float>(k + l);
  for (int l = 0; l < W; ++l) m[l] = 0.999999f, a[l] = 1e-7f;
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 16; ++k) acc[k] = acc[k] * m + a;
  V sum = acc[0];
  for (int k = 1; k < 16; ++k) sum += acc[k];
  benchmark::DoNotOptimize(sum);
  return iters * 16 * W;
}
#if defined(__x86_64__)
__attribute__((target("avx512f"))) int64_t fma_chains_avx512(int64_t iters, float seed) {
  __m512 acc[16];
  for (int k = 0; k < 16; ++k) acc[k] = _mm512_set1_ps(seed * static_cast<float>(k));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 16; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, a);
  for (int k = 1; k < 16; ++k) acc[0] = _mm512_add_ps(acc[0], acc[k]);
  float out[16];
  _mm512_storeu_ps(out, acc[0]);
  benchmark::DoNotOptimize(out);
  return iters * 16 * 16;
}
#endif

void BM_PeakFma(benchmark::State& state) {
  int64_t macs = 0;
  for (auto _ : state) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) {
      macs += fma_chains_avx512(1 << 16, 1.f);
      continue;
    }
#endif
#if defined(__AVX__)
    macs += fma_chains<8>(1 << 16, 1.f);
#else
    macs += fma_chains<4>(1 << 16, 1.f);
#endif
  }
  state.counters["GMAC/s"] = benchmark::Counter(static_cast<double>(macs) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeakFma)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
