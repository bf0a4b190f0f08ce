#include "quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "engine.h"
#include "error.h"
#include "pass.h"

namespace ec::compress {

QuantizedTensor quantize_symmetric(const Tensor& w, int axis) {
  if (w.dtype() != DType::f32) throw Error("quantize: weights must be float32, got " + std::string(dtype_name(w.dtype())));
  const Shape& s = w.shape();
  int64_t outer = 1, dim = 1, inner = w.numel();
  if (axis >= 0) {
    if (static_cast<size_t>(axis) >= s.size()) throw Error("quantize: axis " + std::to_string(axis) + " out of range for " + shape_str(s));
    outer = 1;
    for (int i = 0; i < axis; ++i) outer *= s[static_cast<size_t>(i)];
    dim = s[static_cast<size_t>(axis)];
    inner = 1;
    for (size_t i = static_cast<size_t>(axis) + 1; i < s.size(); ++i) inner *= s[i];
  }
  QuantizedTensor r;
  r.q = Tensor(DType::i8, s);
  r.scale = axis >= 0 ? Tensor(DType::f32, {dim}) : Tensor(DType::f32, {});
  r.zero = axis >= 0 ? Tensor(DType::i8, {dim}) : Tensor(DType::i8, {});
  const float* x = w.ptr<float>();
  for (int64_t c = 0; c < dim; ++c) {
    float amax = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) amax = std::max(amax, std::fabs(x[(o * dim + c) * inner + i]));
    const float scale = amax > 0 ? amax / 127.f : 1.f;
    r.scale.ptr<float>()[c] = scale;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t k = (o * dim + c) * inner + i;
        r.q.ptr<int8_t>()[k] = static_cast<int8_t>(std::clamp(static_cast<int>(std::nearbyint(x[k] / scale)), -127, 127));
      }
  }
  return r;
}

namespace {

// KL(p || q) over bins where p > 0.
double kl(const std::vector<double>& p, const std::vector<double>& q) {
  double sp = 0, sq = 0;
  for (double v : p) sp += v;
  for (double v : q) sq += v;
  double d = 0;
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] > 0) {
      const double pi = p[i] / sp, qi = q[i] > 0 ? q[i] / sq : 1e-12;
      d += pi * std::log(pi / qi);
    }
  return d;
}

}  // namespace

double choose_amax(const AbsHistogram& h, const std::string& method, double percentile) {
  const size_t n = h.counts.size();
  if (h.max <= 0 || n == 0) return h.max > 0 ? h.max : 1e-8;
  const double bw = h.max / static_cast<double>(n);
  if (method == "minmax") return h.max;
  double total = 0;
  for (double c : h.counts) total += c;
  if (method == "percentile") {
    if (percentile <= 0 || percentile > 100) throw Error("quantize: percentile " + std::to_string(percentile) + " is not in (0, 100]");
    double acc = 0;
    for (size_t i = 0; i < n; ++i) {
      acc += h.counts[i];
      if (acc >= total * percentile / 100.0) return (static_cast<double>(i) + 1) * bw;
    }
    return h.max;
  }
  const size_t levels = 128;  // int8 symmetric: magnitudes 0..127
  if (method == "entropy") {
    double best = INFINITY;
    size_t best_i = n;
    for (size_t i = levels; i <= n; ++i) {
      std::vector<double> p(h.counts.begin(), h.counts.begin() + static_cast<long>(i));
      double outliers = 0;
      for (size_t k = i; k < n; ++k) outliers += h.counts[k];
      p[i - 1] += outliers;
      // merge the i bins into 128 levels, then spread each level back over its non-empty bins
      std::vector<double> q(i, 0.0);
      const double per = static_cast<double>(i) / static_cast<double>(levels);
      for (size_t l = 0; l < levels; ++l) {
        const size_t b0 = static_cast<size_t>(std::floor(l * per)), b1 = std::max(b0 + 1, static_cast<size_t>(std::floor((l + 1) * per)));
        double sum = 0;
        size_t nonzero = 0;
        for (size_t b = b0; b < b1 && b < i; ++b) {
          sum += h.counts[b];
          nonzero += h.counts[b] > 0;
        }
        for (size_t b = b0; b < b1 && b < i; ++b)
          if (h.counts[b] > 0) q[b] = sum / static_cast<double>(nonzero);
      }
      const double d = kl(p, q);
      if (d < best) {
        best = d;
        best_i = i;
      }
    }
    return (static_cast<double>(best_i) + 0.5) * bw;
  }
  if (method == "mse") {
    double best = INFINITY, best_a = h.max;
    for (size_t i = levels / 4; i <= n; ++i) {
      const double a = static_cast<double>(i) * bw, step = a / 127.0;
      double err = 0;
      for (size_t b = 0; b < n; ++b) {
        if (h.counts[b] == 0) continue;
        const double x = (static_cast<double>(b) + 0.5) * bw;
        const double dq = x >= a ? a : std::nearbyint(x / step) * step;
        err += h.counts[b] * (x - dq) * (x - dq);
      }
      if (err < best) {
        best = err;
        best_a = a;
      }
    }
    return best_a;
  }
  throw Error("quantize: calibration method '" + method + "' is not minmax, percentile, entropy or mse");
}

std::string upgrade_to_opset13(Model& m) {
  const int64_t v = m.opset();
  if (v >= 13) return "";
  // operators whose meaning changed between the model's opset and 13 in ways not rewritten here
  static const std::set<std::string> changed = {"Softmax", "LogSoftmax", "Hardmax", "Pad", "Clip", "Resize", "Upsample", "Slice", "TopK",
                                                "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "Scan", "If", "Loop"};
  for (const Node& n : m.graph.nodes) {
    if (!n.domain.empty()) return "custom domain '" + n.domain + "'";
    if (changed.count(n.op_type) && !(n.op_type == "ReduceMean" || n.op_type == "ReduceMax" || n.op_type == "ReduceMin" || n.op_type == "ReduceProd"))
      return n.label() + " changes meaning between opset " + std::to_string(v) + " and 13";
  }
  int fresh = 0;
  for (Node& n : m.graph.nodes) {
    auto to_input = [&](const char* attr, size_t pos) {
      if (!n.has(attr)) return;
      const auto vals = n.attr_ints(attr);
      const std::string name = n.name + "_" + attr + "_" + std::to_string(fresh++);
      m.graph.initializers[name] = Tensor::from_i64({static_cast<int64_t>(vals.size())}, vals);
      if (n.inputs.size() < pos) n.inputs.resize(pos);
      n.inputs.insert(n.inputs.begin() + static_cast<long>(pos), name);
      n.attrs.erase(attr);
    };
    if (n.op_type == "Squeeze" || n.op_type == "Unsqueeze") to_input("axes", 1);
    else if (n.op_type == "Split") to_input("split", 1);
    else if (n.op_type == "ReduceSum") to_input("axes", 1);
  }
  m.opsets[""] = 13;
  return "";
}

namespace {

bool is_weighted(const Node& n, const Graph& g) {
  return (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") && n.inputs.size() >= 2 && g.initializers.count(n.inputs[1]) &&
         g.initializers.at(n.inputs[1]).dtype() == DType::f32 && !g.initializers.count(n.inputs[0]);
}

// Output channel axis of a node's weight tensor.
int weight_axis(const Node& n) {
  if (n.op_type == "Conv") return 0;
  if (n.op_type == "Gemm") return n.attr_i("transB", 0) ? 0 : 1;
  return 1;  // MatMul B [K, N]
}

// A native engine for `m` prepared for the calibration samples' shapes.
std::unique_ptr<Engine> calibration_engine(const Model& m, const PassContext& ctx, bool optimize) {
  EngineOptions eo;
  eo.threads = ctx.threads;
  eo.optimize = optimize;
  auto eng = create_engine("native", m, eo);
  std::map<std::string, Shape> shapes;
  for (size_t i = 0; i < ctx.calibration.front().size(); ++i) shapes[m.graph.inputs[i].name] = ctx.calibration.front()[i].shape();
  eng->prepare(shapes);
  return eng;
}

// Copies one calibration sample into the engine's inputs and runs it.
void run_sample(Engine& eng, const std::vector<Tensor>& sample) {
  for (size_t i = 0; i < sample.size(); ++i) std::memcpy(eng.input(i).data(), sample[i].data(), sample[i].size_bytes());
  eng.run();
}

// Calibration: |x| histograms of the given activations over the samples, with the native engine.
std::map<std::string, AbsHistogram> histograms(const Model& m, const std::vector<std::string>& acts, const PassContext& ctx, size_t bins) {
  Model probe = m;
  for (const std::string& a : acts) {
    bool present = false;
    for (auto& o : probe.graph.outputs) present = present || o.name == a;
    if (!present) {
      ValueInfo v;
      v.name = a;
      probe.graph.outputs.push_back(v);
    }
  }
  auto eng = calibration_engine(probe, ctx, /*optimize=*/false);  // keep every value of the original graph
  std::map<std::string, AbsHistogram> h;
  for (int pass = 0; pass < 2; ++pass) {  // 1: ranges, 2: histograms over them
    for (const auto& sample : ctx.calibration) {
      run_sample(*eng, sample);
      for (const std::string& a : acts) {
        const Tensor& t = eng->output(eng->output_index(a));
        AbsHistogram& hh = h[a];
        const float* p = t.ptr<float>();
        if (pass == 0) {
          for (int64_t k = 0; k < t.numel(); ++k) hh.max = std::max(hh.max, static_cast<double>(std::fabs(p[k])));
          continue;
        }
        if (hh.counts.empty()) hh.counts.assign(bins, 0.0);
        if (hh.max <= 0) continue;
        const double scale = static_cast<double>(bins) / hh.max;
        for (int64_t k = 0; k < t.numel(); ++k)
          hh.counts[std::min(bins - 1, static_cast<size_t>(std::fabs(p[k]) * scale))] += 1;
      }
    }
  }
  return h;
}

// Output SNR (dB, over all outputs and calibration samples) of `m` against reference outputs.
double output_snr_db(const Model& m, const PassContext& ctx, const std::vector<std::vector<Tensor>>& ref) {
  auto eng = calibration_engine(m, ctx, true);
  double sig = 0, err = 0;
  for (size_t k = 0; k < ctx.calibration.size(); ++k) {
    run_sample(*eng, ctx.calibration[k]);
    for (size_t o = 0; o < eng->num_outputs(); ++o) {
      const Tensor& y = eng->output(o);
      const Tensor& r = ref[k][o];
      for (int64_t i = 0; i < y.numel(); ++i) {
        const double a = r.ptr<float>()[i], b = y.ptr<float>()[i];
        sig += a * a;
        err += (a - b) * (a - b);
      }
    }
  }
  return err > 0 ? 10 * std::log10(sig / err) : INFINITY;
}

// A place where a node reads an activation: (node index, input index).
using Use = std::pair<size_t, size_t>;

// Inserts a Q/DQ pair on activation `a` and makes the uses in `uses` read the dequantized value.
void insert_act_qdq(Graph& g, const std::string& a, double amax, const std::vector<Use>& uses, const std::string& base, std::vector<Node>& added) {
  g.initializers[base + "_scale"] = Tensor::from_f32({}, {static_cast<float>(std::max(amax, 1e-8) / 127.0)});
  g.initializers[base + "_zero"] = Tensor(DType::i8, {});
  added.push_back(Node{base + "_Q", "QuantizeLinear", "", {a, base + "_scale", base + "_zero"}, {base + "_int8"}, {}});
  // the int8 type comes with the quantized tensor: DequantizeLinear needs no zero point input
  added.push_back(Node{base + "_DQ", "DequantizeLinear", "", {base + "_int8", base + "_scale"}, {base + "_dq"}, {}});
  for (const Use& u : uses)
    if (g.nodes[u.first].inputs[u.second] == a) g.nodes[u.first].inputs[u.second] = base + "_dq";
}

// Operators whose float inputs are quantized with `activations: all`, so that the engine can run them in
// int8 (QLinearConv-style Conv, Add, MaxPool, Concat): every activation they read gets a Q/DQ pair, which
// also quantizes the outputs of the producers in the chain.
bool int8_capable(const Node& n) {
  return n.domain.empty() && (n.op_type == "Add" || n.op_type == "MaxPool" || n.op_type == "Concat" || n.op_type == "AveragePool" ||
                              n.op_type == "GlobalAveragePool" || n.op_type == "Split");
}

// `a` (a Conv's output) is read only by a non-linear activation that no int8 convolution can clamp to: SiLU
// (Sigmoid(a) and a * Sigmoid(a)), HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyRelu, Elu. With `activations:
// all` it gets its own Q/DQ, so the engine runs the Conv in int8 and the activation as an int8 -> int8 lookup
// table (engine/passes.h), as TFLite does. Relu and Clip are left alone: the int8 convolution clamps to them.
bool feeds_table_activation(const Graph& g, const std::string& a, const std::vector<size_t>& readers) {
  static const std::set<std::string> unary = {"HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "LeakyRelu", "Elu"};
  if (readers.empty()) return false;
  for (auto& o : g.outputs)
    if (o.name == a) return false;
  if (readers.size() == 2) {  // SiLU
    const Node *s = &g.nodes[readers[0]], *m = &g.nodes[readers[1]];
    if (s->op_type != "Sigmoid") std::swap(s, m);
    return s->op_type == "Sigmoid" && m->op_type == "Mul" && s->in(0) == a &&
           ((m->in(0) == a && m->in(1) == s->outputs[0]) || (m->in(1) == a && m->in(0) == s->outputs[0]));
  }
  return readers.size() == 1 && g.nodes[readers[0]].domain.empty() && unary.count(g.nodes[readers[0]].op_type) != 0;
}

// Ops whose output keeps its input's quantization (so the engine can run them on int8 data unchanged).
bool passes_scale_through(const Node& n, const Graph& g) {
  if (n.op_type == "MaxPool" || n.op_type == "Reshape" || n.op_type == "Transpose" || n.op_type == "Flatten" || n.op_type == "Split") return true;
  if (n.op_type != "Concat") return false;
  int acts = 0;
  for (auto& in : n.inputs) acts += !g.initializers.count(in);
  return acts == 1 || n.inputs.size() == 2;  // one activation (the rest constant padding)
}

std::string quantize_pass(Model& m, const StepParams& p, PassContext& ctx) {
  const std::string method = p.text("method", "entropy");
  const double pct = p.number("percentile", 99.99);
  const std::string weights = p.text("weights", "per-channel");
  if (weights != "per-channel" && weights != "per-tensor") throw Error(p.where + ": weights '" + weights + "' is not per-channel or per-tensor");
  const auto excluded = p.list("exclude");
  const std::set<std::string> exclude(excluded.begin(), excluded.end());
  std::string note;
  bool per_channel = weights == "per-channel";
  if (per_channel) {
    const std::string why = upgrade_to_opset13(m);
    if (!why.empty()) {
      per_channel = false;
      note = "; per-tensor weights: opset " + std::to_string(m.opset()) + " kept (" + why + ")";
    }
  }
  const std::string act_mode = p.text("activations", "inputs");
  if (act_mode != "inputs" && act_mode != "all") throw Error(p.where + ": activations '" + act_mode + "' is not inputs or all");
  Graph& g = m.graph;
  std::vector<size_t> targets;
  std::vector<std::string> acts;
  std::map<std::string, std::vector<Use>> act_uses;
  int skipped = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!is_weighted(n, g)) continue;
    if (exclude.count(n.name)) {
      ++skipped;
      continue;
    }
    targets.push_back(i);
    if (std::find(acts.begin(), acts.end(), n.inputs[0]) == acts.end()) acts.push_back(n.inputs[0]);
    act_uses[n.inputs[0]].push_back({i, 0});
  }
  if (targets.empty()) return "quantize: no Conv/Gemm/MatMul with constant weights to quantize";
  if (act_mode == "all") {
    // conv inputs are already listed; add every float activation an int8-capable op reads
    // runtime values only: not what Constant / ConstantOfShape make (channel padding zeros stay float and
    // constant, as the engine pads int8 data with the zero point)
    std::set<std::string> produced;
    for (auto& in : g.inputs) produced.insert(in.name);
    for (auto& n : g.nodes)
      if (n.op_type != "Constant" && n.op_type != "ConstantOfShape")
        for (auto& o : n.outputs) produced.insert(o);
    const auto readers = consumers(g);
    for (size_t i : targets) {  // pre-activation outputs of convolutions followed by SiLU, HardSwish...
      const Node& n = g.nodes[i];
      if (n.op_type != "Conv" || n.outputs.size() != 1) continue;
      const std::string& a = n.outputs[0];
      auto it = readers.find(a);
      if (it == readers.end() || !feeds_table_activation(g, a, it->second)) continue;
      if (std::find(acts.begin(), acts.end(), a) == acts.end()) acts.push_back(a);
      for (size_t r : it->second)
        for (size_t k = 0; k < g.nodes[r].inputs.size(); ++k)
          if (g.nodes[r].inputs[k] == a) act_uses[a].push_back({r, k});
    }
    // a Mul of two activations that is not x * Sigmoid(x) (squeeze-excitation's gating): its inputs are
    // quantized too, so that what feeds it (a HardSwish, the gate's HardSigmoid) can become a lookup table
    std::map<std::string, const Node*> made_by;
    for (auto& n : g.nodes)
      for (auto& o : n.outputs) made_by[o] = &n;
    auto gating_mul = [&](const Node& n) {
      if (n.op_type != "Mul" || !n.domain.empty() || n.inputs.size() != 2 || !produced.count(n.in(0)) || !produced.count(n.in(1))) return false;
      for (size_t k = 0; k < 2; ++k) {
        auto it = made_by.find(n.inputs[k]);
        if (it != made_by.end() && it->second->op_type == "Sigmoid" && it->second->in(0) == n.inputs[1 - k]) return false;  // SiLU
      }
      return true;
    };
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if ((!int8_capable(n) && !gating_mul(n)) || exclude.count(n.name)) continue;
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        const std::string& a = n.inputs[k];
        if (a.empty() || !produced.count(a)) continue;
        if (std::find(acts.begin(), acts.end(), a) == acts.end()) acts.push_back(a);
        act_uses[a].push_back({i, k});
      }
    }
  }
  for (const std::string& name : exclude) {
    bool found = false;
    for (const Node& n : g.nodes) found = found || n.name == name;
    if (!found) throw Error(p.where + ": exclude: no node named '" + name + "'");
  }
  auto hist = histograms(m, acts, ctx, 2048);
  std::map<std::string, double> amax;
  for (const std::string& a : acts) amax[a] = choose_amax(hist.at(a), method, pct);
  if (act_mode == "all") {
    // MaxPool, channel padding by Concat with zeros, Reshape...: the output shares the input's scale (the
    // engine then runs them on int8 data; zeros and maxima are exact in any scale)
    std::map<std::string, const Node*> producer;
    for (auto& n : g.nodes)
      for (auto& o : n.outputs) producer[o] = &n;
    for (const std::string& a : acts) {  // acts are in graph order, so chains resolve front to back
      auto it = producer.find(a);
      if (it == producer.end() || !passes_scale_through(*it->second, g)) continue;
      for (auto& in : it->second->inputs)
        if (amax.count(in)) {
          amax[a] = amax[in];
          break;
        }
    }
  }
  // Measured sensitivity: quantize one activation at a time, keep the `keep_float` most damaging in float.
  const int keep_float = static_cast<int>(p.number("keep_float", 0));
  std::vector<std::pair<double, std::string>> sensitivity;
  if (keep_float > 0) {
    std::vector<std::vector<Tensor>> ref;
    {
      auto eng = calibration_engine(m, ctx, true);
      for (auto& sample : ctx.calibration) {
        run_sample(*eng, sample);
        std::vector<Tensor> outs;
        for (size_t o = 0; o < eng->num_outputs(); ++o) outs.push_back(eng->output(o).clone());
        ref.push_back(outs);
      }
    }
    for (const std::string& a : acts) {
      Model one = m;
      std::vector<Node> add;
      insert_act_qdq(one.graph, a, amax[a], act_uses[a], "probe", add);
      one.graph.nodes.insert(one.graph.nodes.begin(), add.begin(), add.end());
      topo_sort(one.graph, m.path);
      sensitivity.push_back({output_snr_db(one, ctx, ref), a});
    }
    std::sort(sensitivity.begin(), sensitivity.end());
  }
  std::set<std::string> float_acts;
  for (int i = 0; i < keep_float && i < static_cast<int>(sensitivity.size()); ++i) float_acts.insert(sensitivity[static_cast<size_t>(i)].second);
  std::vector<Node> added;
  int fresh = 0;
  for (const std::string& a : acts)
    if (!float_acts.count(a)) insert_act_qdq(g, a, amax[a], act_uses[a], "qa" + std::to_string(fresh++), added);
  auto uses = consumers(g);
  for (size_t i : targets) {
    Node& n = g.nodes[i];
    const std::string w = n.inputs[1];
    const Tensor wt = g.initializers.at(w);
    const int axis = per_channel ? weight_axis(n) : -1;
    QuantizedTensor qt = quantize_symmetric(wt, axis);
    const std::string base = "qw" + std::to_string(fresh++);
    g.initializers[base + "_int8"] = qt.q;
    g.initializers[base + "_scale"] = qt.scale;
    // no zero point: int8 weights are symmetric, and DequantizeLinear's default zero point is 0
    Node dq{base + "_DQ", "DequantizeLinear", "", {base + "_int8", base + "_scale"}, {base + "_dq"}, {}};
    if (axis >= 0) {
      Attribute ax;
      ax.kind = Attribute::Kind::i;
      ax.i = axis;
      dq.attrs["axis"] = ax;
    }
    added.push_back(dq);
    n.inputs[1] = base + "_dq";
    if (uses[w].size() <= 1) g.initializers.erase(w);
  }
  g.nodes.insert(g.nodes.begin(), added.begin(), added.end());
  topo_sort(g, m.path);
  char line[512];
  std::snprintf(line, sizeof line,
                "quantize: %zu layers int8 (weights symmetric %s, %zu activations (%s) symmetric per-tensor by %s over %zu samples), %d excluded%s",
                targets.size(), per_channel ? "per-channel" : "per-tensor", acts.size() - float_acts.size(), act_mode.c_str(), method.c_str(),
                ctx.calibration.size(), skipped, note.c_str());
  std::string r = line;
  if (!float_acts.empty()) {
    r += "; activations kept float by measured sensitivity (output SNR when quantized alone):";
    for (int i = 0; i < keep_float && i < static_cast<int>(sensitivity.size()); ++i) {
      std::snprintf(line, sizeof line, " %.1f dB", sensitivity[static_cast<size_t>(i)].first);
      r += line;
    }
  }
  return r;
}

std::string fp16_pass(Model& m, const StepParams& p, PassContext&) {
  const double min_elems = p.number("min_elements", 16);
  Graph& g = m.graph;
  std::vector<Node> casts;
  size_t before = 0, after = 0;
  int n = 0;
  for (auto& kv : std::map<std::string, Tensor>(g.initializers)) {
    const Tensor& t = kv.second;
    if (t.dtype() != DType::f32 || static_cast<double>(t.numel()) < min_elems) continue;
    bool only_weights = true;  // leave shape/scale operands alone
    for (const Node& nd : g.nodes)
      for (size_t i = 0; i < nd.inputs.size(); ++i)
        if (nd.inputs[i] == kv.first && !((nd.op_type == "Conv" || nd.op_type == "Gemm" || nd.op_type == "MatMul" || nd.op_type == "ConvTranspose" ||
                                           nd.op_type == "BatchNormalization" || nd.op_type == "Add" || nd.op_type == "Mul" || nd.op_type == "PRelu")))
          only_weights = false;
    if (!only_weights) continue;
    Tensor h(DType::f16, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) h.ptr<uint16_t>()[i] = float_to_half(t.ptr<float>()[i]);
    const std::string hn = kv.first + "_fp16";
    g.initializers.erase(kv.first);
    g.initializers[hn] = h;
    Attribute to;
    to.kind = Attribute::Kind::i;
    to.i = 1;  // FLOAT
    casts.push_back(Node{kv.first + "_cast", "Cast", "", {hn}, {kv.first}, {{"to", to}}});
    before += t.size_bytes();
    after += h.size_bytes();
    ++n;
  }
  g.nodes.insert(g.nodes.begin(), casts.begin(), casts.end());
  topo_sort(g, m.path);
  char line[256];
  std::snprintf(line, sizeof line, "fp16: %d weight tensors stored as float16 (%zu -> %zu bytes), cast to float32 on load", n, before, after);
  return line;
}

// Dynamic int8 for Gemm/MatMul (as ONNX Runtime's dynamic quantization): weights int8 symmetric per output
// column; activations uint8, quantized at run time by DynamicQuantizeLinear; MatMulInteger accumulates in
// int32, then the product of the two scales (and Gemm's alpha and bias) restores float.
std::string quantize_dynamic_pass(Model& m, const StepParams& p, PassContext&) {
  const auto ex = p.list("exclude");
  const std::set<std::string> exclude(ex.begin(), ex.end());
  Graph& g = m.graph;
  auto uses = consumers(g);
  std::vector<Node> out;
  std::map<std::string, std::string> dq;  // activation -> prefix of its DynamicQuantizeLinear outputs
  int done = 0, skipped = 0, fresh = 0;
  std::string why;
  for (const Node& n : g.nodes) {
    const bool candidate = (n.op_type == "Gemm" || n.op_type == "MatMul") && n.inputs.size() >= 2 && g.initializers.count(n.inputs[1]) &&
                           !exclude.count(n.name);
    if (!candidate) {
      out.push_back(n);
      continue;
    }
    const Tensor& w = g.initializers.at(n.inputs[1]);
    if (w.dtype() != DType::f32 || w.rank() != 2 || n.attr_i("transA", 0) != 0) {
      ++skipped;
      why = n.label() + " has a transposed A or a non-2-D weight";
      out.push_back(n);
      continue;
    }
    const bool tb = n.op_type == "Gemm" && n.attr_i("transB", 0);
    const int64_t K = tb ? w.dim(1) : w.dim(0), N = tb ? w.dim(0) : w.dim(1);
    Tensor wk(DType::f32, {K, N});
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c = 0; c < N; ++c) wk.ptr<float>()[k * N + c] = tb ? w.ptr<float>()[c * K + k] : w.ptr<float>()[k * N + c];
    QuantizedTensor q = quantize_symmetric(wk, 1);
    const float alpha = n.op_type == "Gemm" ? n.attr_f("alpha", 1.f) : 1.f;
    for (int64_t c = 0; c < N; ++c) q.scale.ptr<float>()[c] *= alpha;
    const std::string b = "dq" + std::to_string(fresh++);
    const std::string x = n.inputs[0];
    if (!dq.count(x)) {
      const std::string a = "da" + std::to_string(fresh++);
      out.push_back(Node{a, "DynamicQuantizeLinear", "", {x}, {a + "_q", a + "_s", a + "_z"}, {}});
      dq[x] = a;
    }
    const std::string a = dq[x];
    g.initializers[b + "_w"] = q.q;
    g.initializers[b + "_ws"] = q.scale;
    Attribute to;
    to.kind = Attribute::Kind::i;
    to.i = 1;
    out.push_back(Node{b + "_mmi", "MatMulInteger", "", {a + "_q", b + "_w", a + "_z"}, {b + "_i32"}, {}});
    out.push_back(Node{b + "_cast", "Cast", "", {b + "_i32"}, {b + "_f"}, {{"to", to}}});
    out.push_back(Node{b + "_sa", "Mul", "", {b + "_f", a + "_s"}, {b + "_fa"}, {}});
    const bool bias = n.op_type == "Gemm" && n.inputs.size() > 2 && !n.inputs[2].empty();
    out.push_back(Node{b + "_sw", "Mul", "", {b + "_fa", b + "_ws"}, {bias ? b + "_y" : n.outputs[0]}, {}});
    if (bias) {
      std::string c = n.inputs[2];
      const float beta = n.attr_f("beta", 1.f);
      if (beta != 1.f) {
        if (!g.initializers.count(c)) throw Error(n.label() + ": beta != 1 with a non-constant C is not supported by quantize-dynamic");
        Tensor cc = g.initializers.at(c).clone();
        for (int64_t i = 0; i < cc.numel(); ++i) cc.ptr<float>()[i] *= beta;
        c = b + "_c";
        g.initializers[c] = cc;
      }
      out.push_back(Node{b + "_bias", "Add", "", {b + "_y", c}, {n.outputs[0]}, {}});
    }
    if (uses[n.inputs[1]].size() <= 1) g.initializers.erase(n.inputs[1]);
    ++done;
  }
  g.nodes = std::move(out);
  topo_sort(g, m.path);
  std::string line = "quantize-dynamic: " + std::to_string(done) + " Gemm/MatMul layers int8 (weights per column, activations uint8 at run time)";
  if (skipped) line += ", " + std::to_string(skipped) + " skipped (" + why + ")";
  return line;
}

}  // namespace

void register_quantize_passes(std::map<std::string, PassInfo>& r) {
  r["quantize-dynamic"] = {"quantize-dynamic", {"exclude"}, false,
                           "dynamic int8 for Gemm/MatMul: int8 weights, activations quantized at run time (MatMulInteger)", quantize_dynamic_pass};
  r["quantize"] = {"quantize", {"method", "percentile", "weights", "exclude", "keep_float", "activations"}, true,
                   "int8 PTQ to QDQ ONNX: method minmax|percentile|entropy|mse, percentile P, weights per-channel|per-tensor, exclude [nodes], "
                   "keep_float N (the N activations most sensitive to quantization stay float), activations inputs|all (all: also what Add, "
                   "MaxPool and Concat read, so whole blocks run in int8)",
                   quantize_pass};
  r["fp16"] = {"fp16", {"min_elements"}, false, "float16 weights with Cast to float32", fp16_pass};
}

}  // namespace ec::compress
