#include "passes.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <map>
#include <set>

#include "error.h"
#include "op.h"

namespace ec {
namespace {

bool is_graph_output(const Graph& g, const std::string& v) {
  for (auto& o : g.outputs)
    if (o.name == v) return true;
  return false;
}

void rename_input(Graph& g, const std::string& from, const std::string& to) {
  for (auto& n : g.nodes)
    for (auto& in : n.inputs)
      if (in == from) in = to;
}

const Tensor* init(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it == g.initializers.end() ? nullptr : &it->second;
}

void set_act(Node& n, const std::string& kind, float a = 0, float b = 0) {
  Attribute s;
  s.kind = Attribute::Kind::s;
  s.s = kind;
  n.attrs["_act"] = s;
  Attribute fa;
  fa.kind = Attribute::Kind::f;
  fa.f = a;
  n.attrs["_act_a"] = fa;
  fa.f = b;
  n.attrs["_act_b"] = fa;
}

}  // namespace

int constants_to_initializers(Graph& g) {
  int count = 0;
  std::vector<Node> kept;
  for (auto& n : g.nodes) {
    if (n.op_type == "Constant" && n.domain.empty() && n.outputs.size() == 1 && n.has("value") &&
        !is_graph_output(g, n.outputs[0])) {
      g.initializers[n.outputs[0]] = n.attr_t("value");
      ++count;
      continue;
    }
    kept.push_back(n);
  }
  g.nodes = std::move(kept);
  return count;
}

int fold_weight_casts(Graph& g) {
  int count = 0;
  std::vector<Node> kept;
  for (auto& n : g.nodes) {
    const Tensor* t = n.op_type == "Cast" && n.domain.empty() && n.inputs.size() == 1 && n.outputs.size() == 1 ? init(g, n.inputs[0]) : nullptr;
    if (t && n.attr_i("to", 0) == 1 && (t->dtype() == DType::f16 || t->dtype() == DType::f32) && !is_graph_output(g, n.outputs[0])) {
      Tensor f(DType::f32, t->shape());
      if (t->dtype() == DType::f32) std::copy(t->ptr<float>(), t->ptr<float>() + t->numel(), f.ptr<float>());
      else
        for (int64_t i = 0; i < t->numel(); ++i) f.ptr<float>()[i] = half_to_float(t->ptr<uint16_t>()[i]);
      g.initializers[n.outputs[0]] = f;
      ++count;
      continue;
    }
    kept.push_back(n);
  }
  g.nodes = std::move(kept);
  // drop the float16 originals nothing reads any more
  std::set<std::string> read;
  for (auto& n : g.nodes)
    for (auto& in : n.inputs) read.insert(in);
  for (auto& o : g.outputs) read.insert(o.name);
  for (auto it = g.initializers.begin(); it != g.initializers.end();)
    it = it->second.dtype() == DType::f16 && !read.count(it->first) ? g.initializers.erase(it) : std::next(it);
  return count;
}

int remove_identities(Graph& g) {
  int count = 0;
  std::vector<Node> kept;
  for (auto& n : g.nodes) {
    bool drop = (n.op_type == "Identity" || n.op_type == "Dropout") && n.domain.empty() && !n.inputs.empty() &&
                !is_graph_output(g, n.outputs[0]) && (n.outputs.size() == 1 || n.outputs[1].empty());
    if (drop) {
      rename_input(g, n.outputs[0], n.inputs[0]);
      ++count;
      continue;
    }
    kept.push_back(n);
  }
  g.nodes = std::move(kept);
  return count;
}

int fold_batchnorm(Graph& g) {
  int count = 0;
  auto cons = consumers(g);
  std::set<size_t> dead;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& bn = g.nodes[i];
    if (bn.op_type != "BatchNormalization" || bn.inputs.size() < 5) continue;
    if (bn.outputs.size() > 1 && !bn.outputs[1].empty()) continue;
    const std::string& x = bn.inputs[0];
    if (cons[x].size() != 1 || is_graph_output(g, x)) continue;
    // find producer conv
    size_t ci = g.nodes.size();
    for (size_t j = 0; j < i; ++j)
      if (!dead.count(j) && !g.nodes[j].outputs.empty() && g.nodes[j].outputs[0] == x) ci = j;
    if (ci == g.nodes.size() || g.nodes[ci].op_type != "Conv") continue;
    Node& conv = g.nodes[ci];
    const Tensor* w = init(g, conv.in(1));
    const Tensor *sc = init(g, bn.inputs[1]), *bb = init(g, bn.inputs[2]), *mu = init(g, bn.inputs[3]), *var = init(g, bn.inputs[4]);
    if (!w || !sc || !bb || !mu || !var || w->dtype() != DType::f32 || cons[conv.in(1)].size() != 1) continue;
    const int64_t m = w->dim(0);
    if (sc->numel() != m || bb->numel() != m || mu->numel() != m || var->numel() != m) continue;
    if (sc->dtype() != DType::f32 || bb->dtype() != DType::f32 || mu->dtype() != DType::f32 || var->dtype() != DType::f32) continue;
    const Tensor* b = conv.in(2).empty() ? nullptr : init(g, conv.in(2));
    if (!conv.in(2).empty() && (!b || cons[conv.in(2)].size() != 1)) continue;
    const float eps = bn.attr_f("epsilon", 1e-5f);
    Tensor nw = w->clone();
    Tensor nb(DType::f32, {m});
    const int64_t per = w->numel() / m;
    for (int64_t c = 0; c < m; ++c) {
      const float s = sc->ptr<float>()[c] / std::sqrt(var->ptr<float>()[c] + eps);
      for (int64_t k = 0; k < per; ++k) nw.ptr<float>()[c * per + k] *= s;
      const float b0 = b ? b->ptr<float>()[c] : 0.f;
      nb.ptr<float>()[c] = (b0 - mu->ptr<float>()[c]) * s + bb->ptr<float>()[c];
    }
    g.initializers[conv.in(1)] = nw;
    std::string bias_name = conv.in(2).empty() ? conv.name + "_folded_bias" : conv.in(2);
    g.initializers[bias_name] = nb;
    if (conv.inputs.size() < 3) conv.inputs.resize(3);
    conv.inputs[2] = bias_name;
    conv.outputs[0] = bn.outputs[0];
    dead.insert(i);
    ++count;
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!dead.count(i)) kept.push_back(g.nodes[i]);
  g.nodes = std::move(kept);
  return count;
}

int fuse_activations(Graph& g) {
  int count = 0;
  bool changed = true;
  while (changed) {
    changed = false;
    auto cons = consumers(g);
    for (size_t i = 0; i < g.nodes.size() && !changed; ++i) {
      Node& p = g.nodes[i];
      const bool is_add = p.op_type == "Add" && p.inputs.size() == 2;  // residual Add + activation
      if ((p.op_type != "Conv" && p.op_type != "ConvTranspose" && p.op_type != "Gemm" && !is_add) || p.has("_act")) continue;
      const std::string& y = p.outputs[0];
      if (is_graph_output(g, y)) continue;
      auto& cs = cons[y];
      if (cs.size() == 2 && !is_add) {  // SiLU: y * Sigmoid(y)
        size_t a = cs[0], b = cs[1];
        if (g.nodes[a].op_type != "Sigmoid") std::swap(a, b);
        Node& sg = g.nodes[a];
        Node& mul = g.nodes[b];
        if (sg.op_type != "Sigmoid" || mul.op_type != "Mul" || is_graph_output(g, sg.outputs[0])) continue;
        if (cons[sg.outputs[0]].size() != 1) continue;
        bool ok = (mul.inputs[0] == y && mul.inputs[1] == sg.outputs[0]) || (mul.inputs[1] == y && mul.inputs[0] == sg.outputs[0]);
        if (!ok) continue;
        set_act(p, "silu");
        p.outputs[0] = mul.outputs[0];
        size_t hi = std::max(a, b), lo = std::min(a, b);
        g.nodes.erase(g.nodes.begin() + static_cast<long>(hi));
        g.nodes.erase(g.nodes.begin() + static_cast<long>(lo));
        ++count;
        changed = true;
        continue;
      }
      if (cs.size() != 1) continue;
      Node& act = g.nodes[cs[0]];
      const std::string& t = act.op_type;
      if (t == "Relu") set_act(p, "relu");
      else if (t == "LeakyRelu") set_act(p, "leaky_relu", act.attr_f("alpha", 0.01f));
      else if (t == "Sigmoid") set_act(p, "sigmoid");
      else if (t == "HardSigmoid") set_act(p, "hard_sigmoid", act.attr_f("alpha", 0.2f), act.attr_f("beta", 0.5f));
      else if (t == "HardSwish") set_act(p, "hard_swish");
      else if (t == "Tanh") set_act(p, "tanh");
      else if (t == "Clip") {
        float lo = -INFINITY, hi = INFINITY;
        if (act.has("min") || act.has("max") || act.inputs.size() == 1) {
          lo = act.attr_f("min", -INFINITY);
          hi = act.attr_f("max", INFINITY);
        } else {
          const Tensor* tmin = act.in(1).empty() ? nullptr : init(g, act.in(1));
          const Tensor* tmax = act.in(2).empty() ? nullptr : init(g, act.in(2));
          if ((!act.in(1).empty() && !tmin) || (!act.in(2).empty() && !tmax)) continue;
          if (tmin) lo = static_cast<float>(tmin->to_f64().at(0));
          if (tmax) hi = static_cast<float>(tmax->to_f64().at(0));
        }
        set_act(p, "clip", lo, hi);
      } else {
        continue;
      }
      p.outputs[0] = act.outputs[0];
      g.nodes.erase(g.nodes.begin() + static_cast<long>(cs[0]));
      ++count;
      changed = true;
    }
  }
  return count;
}

namespace {

// Elementwise float functions an int8 lookup table can stand for (one input value -> one output value).
bool lut_op(const Node& n) {
  static const std::set<std::string> ops = {"Sigmoid", "Tanh", "Relu", "LeakyRelu", "HardSigmoid", "HardSwish", "Clip", "Mul", "Add",
                                            "Sub",     "Div",  "Neg",  "Exp",       "Abs",         "Elu",       "Softplus"};
  return n.domain.empty() && n.outputs.size() == 1 && ops.count(n.op_type) != 0;
}

// A scalar float initializer's value.
bool scalar_value(const Graph& g, const std::string& v, double& x) {
  const Tensor* t = v.empty() ? nullptr : init(g, v);
  if (!t || t->numel() != 1 || t->dtype() != DType::f32) return false;
  x = t->ptr<float>()[0];
  return true;
}

// The per-tensor int8 parameters of a QuantizeLinear / DequantizeLinear node (scale input 1, zero point input 2,
// absent = 0 when `zero_optional`).
bool int8_params(const Graph& g, const Node& n, double& scale, int32_t& zero, bool zero_optional) {
  const Tensor* s = n.inputs.size() > 1 ? init(g, n.in(1)) : nullptr;
  if (!s || s->numel() != 1 || s->dtype() != DType::f32 || !(s->ptr<float>()[0] > 0)) return false;
  scale = s->ptr<float>()[0];
  if (n.in(2).empty()) {
    zero = 0;
    return zero_optional;
  }
  const Tensor* z = init(g, n.in(2));
  if (!z || z->numel() != 1 || z->dtype() != DType::i8) return false;
  zero = z->ptr<int8_t>()[0];
  return true;
}

// Evaluates the region's nodes (in graph order) on the 256 dequantized values of `src`; false when an
// operand is neither the source, a region value nor a scalar constant.
bool eval_region(const Graph& g, const std::vector<size_t>& region, const std::string& src, const std::array<double, 256>& x,
                 std::map<std::string, std::array<double, 256>>& val) {
  val[src] = x;
  for (size_t ni : region) {
    const Node& n = g.nodes[ni];
    std::vector<const std::array<double, 256>*> a;
    std::vector<std::array<double, 256>> consts;
    consts.reserve(n.inputs.size());
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (n.inputs[k].empty()) {
        a.push_back(nullptr);
        continue;
      }
      auto it = val.find(n.inputs[k]);
      if (it != val.end()) {
        a.push_back(&it->second);
        continue;
      }
      double c = 0;
      if (!scalar_value(g, n.inputs[k], c)) return false;
      consts.emplace_back();
      consts.back().fill(c);
      a.push_back(&consts.back());
    }
    if (a.empty() || !a[0]) return false;
    std::array<double, 256>& y = val[n.outputs[0]];
    const std::string& t = n.op_type;
    const bool binary = t == "Mul" || t == "Add" || t == "Sub" || t == "Div";
    if (binary && (a.size() != 2 || !a[1])) return false;
    const double alpha = n.attr_f("alpha", t == "LeakyRelu" ? 0.01f : t == "HardSigmoid" ? 0.2f : 1.f);
    const double beta = n.attr_f("beta", 0.5f);
    double lo = -INFINITY, hi = INFINITY;
    if (t == "Clip") {
      if (n.has("min") || n.has("max")) {
        lo = n.attr_f("min", -INFINITY);
        hi = n.attr_f("max", INFINITY);
      } else {
        if (a.size() > 1 && a[1]) lo = (*a[1])[0];
        if (a.size() > 2 && a[2]) hi = (*a[2])[0];
        for (size_t k = 1; k < n.inputs.size(); ++k)
          if (!n.inputs[k].empty() && val.count(n.inputs[k])) return false;  // bounds must be constants
      }
    }
    for (size_t i = 0; i < 256; ++i) {
      const double v = (*a[0])[i];
      const double w = binary ? (*a[1])[i] : 0;
      double r = 0;
      if (t == "Sigmoid") r = 1 / (1 + std::exp(-v));
      else if (t == "Tanh") r = std::tanh(v);
      else if (t == "Relu") r = v > 0 ? v : 0;
      else if (t == "LeakyRelu") r = v >= 0 ? v : alpha * v;
      else if (t == "HardSigmoid") r = std::clamp(alpha * v + beta, 0.0, 1.0);
      else if (t == "HardSwish") r = v * std::clamp(v / 6 + 0.5, 0.0, 1.0);
      else if (t == "Clip") r = std::min(std::max(v, lo), hi);
      else if (t == "Mul") r = v * w;
      else if (t == "Add") r = v + w;
      else if (t == "Sub") r = v - w;
      else if (t == "Div") r = v / w;
      else if (t == "Neg") r = -v;
      else if (t == "Exp") r = std::exp(v);
      else if (t == "Abs") r = std::fabs(v);
      else if (t == "Elu") r = v >= 0 ? v : alpha * (std::exp(v) - 1);
      else if (t == "Softplus") r = std::log1p(std::exp(v));
      y[i] = r;
    }
  }
  return true;
}

}  // namespace

int fuse_int8_lookup_tables(Graph& g) {
  int count = 0;
  bool changed = true;
  while (changed) {
    changed = false;
    auto cons = consumers(g);
    std::map<std::string, size_t> prod;
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (auto& o : g.nodes[i].outputs) prod[o] = i;
    for (size_t qi = 0; qi < g.nodes.size() && !changed; ++qi) {
      const Node& q = g.nodes[qi];
      double ys = 0, xs = 0;
      int32_t yz = 0, xz = 0;
      if (q.op_type != "QuantizeLinear" || !q.domain.empty() || !int8_params(g, q, ys, yz, false)) continue;
      // walk back from the Q's input through elementwise ops to one DequantizeLinear of int8 data
      std::set<size_t> region;
      std::string src;
      size_t dqi = 0;
      std::vector<std::string> todo = {q.in(0)};
      bool ok = true;
      while (ok && !todo.empty()) {
        const std::string v = todo.back();
        todo.pop_back();
        if (v.empty() || init(g, v) || v == src) continue;
        auto pit = prod.find(v);
        if (pit == prod.end()) {
          ok = false;
          break;
        }
        const Node& p = g.nodes[pit->second];
        if (p.op_type == "DequantizeLinear" && p.domain.empty()) {
          if (!src.empty() && src != v) ok = false;
          src = v;
          dqi = pit->second;
          continue;
        }
        if (!lut_op(p)) {
          ok = false;
          break;
        }
        if (region.insert(pit->second).second)
          for (auto& in : p.inputs) todo.push_back(in);
      }
      if (!ok || src.empty() || region.empty()) continue;
      const Node& dq = g.nodes[dqi];
      if (!int8_params(g, dq, xs, xz, true)) continue;
      // the DQ reads int8 data: made by a QuantizeLinear to int8 or by another lookup table
      auto qp = prod.find(dq.in(0));
      if (qp == prod.end()) continue;
      const Node& qsrc = g.nodes[qp->second];
      double s2 = 0;
      int32_t z2 = 0;
      const bool int8_in = (qsrc.op_type == "QuantizeLinear" && qsrc.domain.empty() && int8_params(g, qsrc, s2, z2, false)) ||
                           (qsrc.op_type == "QLut" && qsrc.domain == kEcDomain);
      if (!int8_in) continue;
      // every value inside the region is read only inside it (or by the Q), and none is a graph output
      for (size_t ri : region) {
        const std::string& o = g.nodes[ri].outputs[0];
        if (is_graph_output(g, o)) ok = false;
        for (size_t c : cons[o]) ok = ok && (region.count(c) || c == qi);
      }
      if (!ok || cons[q.in(0)].size() != 1) continue;
      std::vector<size_t> order(region.begin(), region.end());  // graph order (nodes are topologically sorted)
      std::array<double, 256> x{};
      for (int i = 0; i < 256; ++i) x[static_cast<size_t>(i)] = (i - 128 - xz) * xs;
      std::map<std::string, std::array<double, 256>> val;
      if (!eval_region(g, order, src, x, val)) continue;
      Tensor table(DType::i8, {256});
      const auto& y = val.at(q.in(0));
      for (size_t i = 0; i < 256; ++i) {
        const double r = std::isnan(y[i]) ? 0.0 : std::nearbyint(y[i] / ys) + yz;  // round half to even, as QuantizeLinear
        table.ptr<int8_t>()[i] = static_cast<int8_t>(std::clamp(r, -128.0, 127.0));
      }
      const std::string tname = q.outputs[0] + "#lut";
      g.initializers[tname] = table;
      Node lut{q.name + "#lut", "QLut", kEcDomain, {dq.in(0), tname, q.in(1), q.in(2)}, q.outputs, {}};
      // replace the Q by the table; drop the region, and the DQ when nothing else reads it
      std::set<size_t> drop(region.begin(), region.end());
      bool dq_used = is_graph_output(g, src);
      for (size_t c : cons[src]) dq_used = dq_used || !region.count(c);
      if (!dq_used) drop.insert(dqi);
      g.nodes[qi] = lut;
      std::vector<Node> kept;
      for (size_t i = 0; i < g.nodes.size(); ++i)
        if (!drop.count(i)) kept.push_back(std::move(g.nodes[i]));
      g.nodes = std::move(kept);
      ++count;
      changed = true;
    }
  }
  return count;
}

int int8_concats(Graph& g) {
  int count = 0;
  auto cons = consumers(g);
  std::map<std::string, size_t> prod;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (auto& o : g.nodes[i].outputs) prod[o] = i;
  std::vector<Node> out;
  std::set<size_t> drop;
  std::vector<std::pair<size_t, std::vector<Node>>> before;  // new nodes to place before node index
  for (size_t ci = 0; ci < g.nodes.size(); ++ci) {
    const Node& c = g.nodes[ci];
    if (c.op_type != "Concat" || !c.domain.empty() || c.inputs.size() < 2 || c.outputs.size() != 1 || is_graph_output(g, c.outputs[0])) continue;
    const auto& cc = cons[c.outputs[0]];
    if (cc.size() != 1) continue;
    const Node& q = g.nodes[cc[0]];
    double ys = 0;
    int32_t yz = 0;
    if (q.op_type != "QuantizeLinear" || !q.domain.empty() || !int8_params(g, q, ys, yz, false)) continue;
    // every input: DequantizeLinear (per tensor) of int8 data made by a QuantizeLinear to int8 or a lookup table
    bool ok = true, any = false;
    std::vector<std::pair<double, int32_t>> params;
    for (const std::string& v : c.inputs) {
      auto pit = prod.find(v);
      double xs = 0;
      int32_t xz = 0;
      if (v.empty() || pit == prod.end()) { ok = false; break; }
      const Node& dq = g.nodes[pit->second];
      if (dq.op_type != "DequantizeLinear" || !dq.domain.empty() || !int8_params(g, dq, xs, xz, true)) { ok = false; break; }
      auto sp = prod.find(dq.in(0));
      if (sp == prod.end()) { ok = false; break; }
      const Node& src = g.nodes[sp->second];
      double s2 = 0;
      int32_t z2 = 0;
      if (!((src.op_type == "QuantizeLinear" && src.domain.empty() && int8_params(g, src, s2, z2, false)) ||
            (src.op_type == "QLut" && src.domain == kEcDomain))) { ok = false; break; }
      params.push_back({xs, xz});
      any = any || xs != ys || xz != yz;
    }
    if (!ok || !any) continue;  // (all inputs already at the output's scale: the layout pass takes it as it is)
    Node nc = c;
    std::vector<Node> added;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const double xs = params[i].first;
      const int32_t xz = params[i].second;
      if (xs == ys && xz == yz) continue;
      const size_t dqi = prod.at(c.inputs[i]);
      const Node& dq = g.nodes[dqi];
      // Q(DQ(x)) for each of the 256 int8 values in the float arithmetic of the two operators (DequantizeLinear:
      // (x - zero) * scale; QuantizeLinear: x / scale rounded half to even, plus zero, saturated): bit-exact
      Tensor table(DType::i8, {256});
      for (int k = 0; k < 256; ++k) {
        const float v = static_cast<float>(k - 128 - xz) * static_cast<float>(xs);
        const float r = std::nearbyint(v / static_cast<float>(ys)) + static_cast<float>(yz);
        table.ptr<int8_t>()[k] = static_cast<int8_t>(std::clamp(r, -128.f, 127.f));
      }
      const std::string base = c.outputs[0] + "#in" + std::to_string(i);
      g.initializers[base + "#lut"] = table;
      added.push_back(Node{base + "#lut", "QLut", kEcDomain, {dq.in(0), base + "#lut", q.in(1), q.in(2)}, {base + "#q"}, {}});
      added.push_back(Node{base + "#dq", "DequantizeLinear", "", {base + "#q", q.in(1), q.in(2)}, {base}, {}});
      nc.inputs[i] = base;
      // the old DequantizeLinear goes when this Concat was all that read it
      bool used = is_graph_output(g, c.inputs[i]);
      for (size_t k : cons[c.inputs[i]]) used = used || k != ci;
      if (!used) drop.insert(dqi);
    }
    g.nodes[ci] = nc;
    before.push_back({ci, std::move(added)});
    ++count;
  }
  if (!count) return 0;
  std::map<size_t, std::vector<Node>> at(std::make_move_iterator(before.begin()), std::make_move_iterator(before.end()));
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    auto it = at.find(i);
    if (it != at.end())
      for (Node& n : it->second) out.push_back(std::move(n));
    if (!drop.count(i)) out.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(out);
  return count;
}

int int8_weight_gemms(Graph& g) {
  int count = 0;
  auto cons = consumers(g);
  std::map<std::string, size_t> prod;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (auto& o : g.nodes[i].outputs) prod[o] = i;
  std::set<size_t> drop;
  for (auto& n : g.nodes) {
    if (n.op_type != "Gemm" || !n.domain.empty() || n.inputs.size() < 2 || n.outputs.size() != 1) continue;
    if (n.attr_i("transA", 0) != 0 || n.attr_i("transB", 0) != 1) continue;
    auto pi = prod.find(n.in(1));
    if (pi == prod.end()) continue;
    const Node& dq = g.nodes[pi->second];
    if (dq.op_type != "DequantizeLinear" || !dq.domain.empty() || dq.outputs.size() != 1) continue;
    const Tensor* q = init(g, dq.in(0));
    const Tensor* s = init(g, dq.in(1));
    if (!q || !s || q->dtype() != DType::i8 || q->rank() != 2 || s->dtype() != DType::f32) continue;
    if (s->numel() != 1 && (s->numel() != q->dim(0) || dq.attr_i("axis", 1) != 0)) continue;
    if (!dq.in(2).empty()) {
      const Tensor* z = init(g, dq.in(2));
      bool zero = z != nullptr && z->dtype() == DType::i8;
      for (int64_t i = 0; zero && i < z->numel(); ++i) zero = z->ptr<int8_t>()[i] == 0;
      if (!zero) continue;
    }
    if (n.inputs.size() > 2 && !n.in(2).empty()) {
      const Tensor* c = init(g, n.in(2));
      if (!c || c->dtype() != DType::f32 || c->numel() != q->dim(0) || c->shape().back() != q->dim(0)) continue;
    }
    if (cons[dq.outputs[0]].size() == 1 && !is_graph_output(g, dq.outputs[0])) drop.insert(pi->second);
    n.inputs[1] = dq.in(0);
    n.inputs.resize(3);  // x, int8 weights, C (or ""), then the weight scale
    n.inputs.push_back(dq.in(1));
    n.op_type = "WGemm";
    n.domain = kEcDomain;
    ++count;
  }
  if (!drop.empty()) {
    std::vector<Node> kept;
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (!drop.count(i)) kept.push_back(std::move(g.nodes[i]));
    g.nodes = std::move(kept);
  }
  return count;
}

std::string optimize_for_native(Graph& g) {
  int c = constants_to_initializers(g);
  int cast = fold_weight_casts(g);
  int id = remove_identities(g);
  int bn = fold_batchnorm(g);
  int lut = fuse_int8_lookup_tables(g);
  int cat = int8_concats(g);
  int act = fuse_activations(g);
  int wg = int8_weight_gemms(g);
  return std::to_string(c) + " constants, " + std::to_string(cast) + " weight casts folded, " + std::to_string(id) + " identities removed, " + std::to_string(bn) +
         " BN folded, " + std::to_string(lut) + " int8 lookup tables, " + std::to_string(cat) + " int8 concats, " + std::to_string(act) + " activations fused, " +
         std::to_string(wg) + " int8-weight Gemms";
}

}  // namespace ec
