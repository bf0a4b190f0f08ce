// Kernel microbenchmarks (Google Benchmark) of the native engine's hot operators at BlazeFace-like
// shapes, each run as a one-node model through the engine's full prepare/run path.
//   ./build/bench/bench_kernels --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>

#include "engine.h"

namespace {

using namespace ec;

Attribute ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::ints;
  a.ints = std::move(v);
  return a;
}
Attribute one(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::i;
  a.i = v;
  return a;
}

Tensor rnd(Shape s, uint32_t seed) {
  Tensor t(DType::f32, std::move(s));
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(g);
  return t;
}

// Conv with input [1,c,hw,hw], m output channels, k x k kernel, stride s, pad k/2, groups g.
void BM_Conv(benchmark::State& state) {
  const int64_t c = state.range(0), hw = state.range(1), m = state.range(2), k = state.range(3), s = state.range(4),
                g = state.range(5), threads = state.range(6);
  Model model;
  model.opsets[""] = 13;
  ValueInfo x;
  x.name = "x";
  x.has_shape = true;
  for (int64_t d : {int64_t{1}, c, hw, hw}) x.dims.push_back({d, ""});
  model.graph.inputs.push_back(x);
  model.graph.initializers["w"] = rnd({m, c / g, k, k}, 1);
  model.graph.initializers["b"] = rnd({m}, 2);
  Node n{"conv", "Conv", "", {"x", "w", "b"}, {"y"}, {}};
  n.attrs["pads"] = ints({k / 2, k / 2, k / 2, k / 2});
  n.attrs["strides"] = ints({s, s});
  n.attrs["group"] = one(g);
  model.graph.nodes.push_back(n);
  ValueInfo y;
  y.name = "y";
  model.graph.outputs.push_back(y);
  EngineOptions o;
  o.threads = static_cast<int>(threads);
  auto e = create_engine("native", model, o);
  e->prepare({});
  Tensor in = rnd({1, c, hw, hw}, 3);
  std::memcpy(e->input(0).data(), in.data(), in.size_bytes());
  for (auto _ : state) e->run();
  const int64_t oh = (hw + 2 * (k / 2) - k) / s + 1;
  const double macs = static_cast<double>(m * oh * oh * (c / g) * k * k);
  state.counters["GMAC/s"] = benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = static_cast<double>(threads);
}

// {c, hw, m, k, stride, group, threads}
BENCHMARK(BM_Conv)
    ->ArgNames({"c", "hw", "m", "k", "s", "g", "thr"})
    ->Args({3, 128, 24, 5, 2, 1, 1})    // BlazeFace stem
    ->Args({24, 64, 24, 3, 1, 24, 1})   // depthwise 3x3
    ->Args({24, 64, 28, 1, 1, 1, 1})    // pointwise
    ->Args({96, 8, 96, 1, 1, 1, 1})     // small pointwise
    ->Args({32, 64, 64, 3, 1, 1, 1})    // dense 3x3
    ->Args({3, 128, 24, 5, 2, 1, 2})
    ->Args({24, 64, 24, 3, 1, 24, 2})
    ->Args({24, 64, 28, 1, 1, 1, 2})
    ->Args({32, 64, 64, 3, 1, 1, 2})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
