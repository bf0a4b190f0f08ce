#include "layout.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "op.h"

namespace ec {
namespace {

// Position in NHWC of each NCHW dimension: N->0, C->3, H->1, W->2.
constexpr int64_t kPos[4] = {0, 3, 1, 2};
const std::vector<int64_t> kToNhwc = {0, 2, 3, 1};
const std::vector<int64_t> kToNchw = {0, 3, 1, 2};

const std::set<std::string> kUnary = {"Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Elu",
                                      "Selu", "Abs", "Neg", "Exp", "Log", "Sqrt", "Erf", "Softplus", "Identity"};
const std::set<std::string> kBinary = {"Add", "Sub", "Mul", "Div", "Max", "Min"};

Attribute ints_attr(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::ints;
  a.ints = std::move(v);
  return a;
}

// A constant of rank <= 4 as it broadcasts against an NCHW tensor, re-laid out for the NHWC tensor.
Tensor const_to_nhwc(const Tensor& t) {
  Shape s = t.shape();
  while (s.size() < 4) s.insert(s.begin(), 1);
  Shape o{s[0], s[2], s[3], s[1]};
  Tensor r(t.dtype(), o);
  const size_t es = dtype_size(t.dtype());
  const auto* src = static_cast<const uint8_t*>(t.data());
  auto* dst = static_cast<uint8_t*>(r.data());
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t h = 0; h < s[2]; ++h)
      for (int64_t w = 0; w < s[3]; ++w)
        for (int64_t c = 0; c < s[1]; ++c) {
          const int64_t si = ((n * s[1] + c) * s[2] + h) * s[3] + w;
          const int64_t di = ((n * s[2] + h) * s[3] + w) * s[1] + c;
          std::memcpy(dst + di * es, src + si * es, es);
        }
  return r;
}

class Converter {
 public:
  explicit Converter(Graph& g) : g_(g) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (auto& o : g.nodes[i].outputs) producer_[o] = i;
  }

  LayoutStats run() {
    for (const Node& n : g_.nodes) visit(n);
    for (auto& o : g_.outputs) {
      std::string r = resolve(o.name);
      if (nhwc_only_.count(o.name)) {
        to_nchw(o.name);
      } else if (r != o.name) {  // output of a folded Transpose: materialise under its own name
        Node t{"", "Transpose", "", {r}, {o.name}, {}};
        t.name = o.name + "#copy";
        t.attrs["perm"] = ints_attr({0, 1, 2, 3});
        out_.push_back(t);
      }
    }
    if (stats_.nhwc_nodes == 0) return stats_;
    // Drop nodes whose outputs nobody reads any more (the original ConstantOfShape of a re-laid-out pad).
    std::set<std::string> used;
    for (auto& o : g_.outputs) used.insert(o.name);
    std::vector<Node> kept;
    for (size_t i = out_.size(); i-- > 0;) {
      const Node& n = out_[i];
      bool live = false;
      for (auto& o : n.outputs) live = live || used.count(o);
      if (!live) continue;
      for (auto& in : n.inputs) used.insert(in);
      kept.push_back(n);
    }
    std::reverse(kept.begin(), kept.end());
    g_.nodes = std::move(kept);
    for (auto& kv : new_inits_) g_.initializers[kv.first] = kv.second;
    for (auto it = g_.initializers.begin(); it != g_.initializers.end();)
      it = used.count(it->first) ? std::next(it) : g_.initializers.erase(it);
    return stats_;
  }

 private:
  std::string resolve(const std::string& v) const {
    auto it = alias_.find(v);
    return it == alias_.end() ? v : it->second;
  }
  bool has_nhwc(const std::string& v) const { return nhwc_.count(v) != 0; }
  const Tensor* init(const std::string& v) const {
    auto it = g_.initializers.find(v);
    return it == g_.initializers.end() ? nullptr : &it->second;
  }
  // A ConstantOfShape whose shape is a 4-value initializer: re-laid out by permuting the shape.
  const Tensor* const_of_shape(const std::string& v) const {
    auto it = producer_.find(v);
    if (it == producer_.end()) return nullptr;
    const Node& p = g_.nodes[it->second];
    if (p.op_type != "ConstantOfShape" || !p.domain.empty()) return nullptr;
    const Tensor* s = init(p.in(0));
    return s && s->numel() == 4 && s->dtype() == DType::i64 ? s : nullptr;
  }
  // True when `v` can be given in NHWC: it has an NHWC version, or is a constant we can re-lay out.
  bool nhwc_ready(const std::string& v, bool broadcast_const) const {
    if (v.empty()) return false;
    if (has_nhwc(v)) return true;
    if (const Tensor* t = init(v)) return broadcast_const && t->rank() <= 4;
    return const_of_shape(v) != nullptr;
  }

  // Name of the NHWC version of `v`, emitting a Transpose (or a re-laid-out constant) the first time.
  std::string to_nhwc(const std::string& v) {
    auto it = nhwc_.find(v);
    if (it != nhwc_.end()) return it->second;
    const std::string name = v + "#nhwc";
    auto pit = producer_.find(v);
    if (pit != producer_.end()) {  // the model's own NHWC -> NCHW Transpose (TensorFlow exports): undo it
      const Node& p = g_.nodes[pit->second];
      if (p.op_type == "Transpose" && p.domain.empty() && p.attr_ints("perm") == kToNchw && !nhwc_only_.count(p.in(0))) {
        nhwc_[v] = resolve(p.in(0));
        ++stats_.folded;
        return nhwc_[v];
      }
    }
    if (const Tensor* t = init(v)) {
      new_inits_[name] = const_to_nhwc(*t);
    } else if (const Tensor* s = const_of_shape(v)) {
      auto d = s->to_i64();
      const std::string sname = name + "#shape";
      new_inits_[sname] = Tensor::from_i64({4}, {d[0], d[2], d[3], d[1]});
      Node c = g_.nodes[producer_.at(v)];
      c.name += "#nhwc";
      c.inputs = {sname};
      c.outputs = {name};
      out_.push_back(c);
    } else {
      Node t{v + "#to_nhwc", "Transpose", "", {resolve(v)}, {name}, {}};
      t.attrs["perm"] = ints_attr(kToNhwc);
      out_.push_back(t);
      ++stats_.transposes;
    }
    nhwc_[v] = name;
    return name;
  }
  // Name under which `v` is available in NCHW, emitting the Transpose back the first time.
  std::string to_nchw(const std::string& v) {
    if (v.empty()) return v;
    if (!nhwc_only_.count(v)) return resolve(v);
    Node t{v + "#to_nchw", "Transpose", "", {nhwc_.at(v)}, {v}, {}};
    t.attrs["perm"] = ints_attr(kToNchw);
    out_.push_back(t);
    ++stats_.transposes;
    nhwc_only_.erase(v);
    return v;
  }
  // Emits `n` in NHWC: inputs listed in `nhwc_inputs` are taken in NHWC, outputs renamed.
  void emit_nhwc(Node n, const std::vector<size_t>& nhwc_inputs, bool internal) {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (std::find(nhwc_inputs.begin(), nhwc_inputs.end(), i) != nhwc_inputs.end()) n.inputs[i] = to_nhwc(n.inputs[i]);
      else n.inputs[i] = resolve(n.inputs[i]);
    }
    for (auto& o : n.outputs) {
      if (o.empty()) continue;
      nhwc_[o] = o + "#nhwc";
      nhwc_only_.insert(o);
      o += "#nhwc";
    }
    if (internal) n.domain = kEcDomain;
    out_.push_back(std::move(n));
    ++stats_.nhwc_nodes;
  }
  void emit_nchw(Node n) {
    for (auto& in : n.inputs) in = to_nchw(in);
    out_.push_back(std::move(n));
  }

  void visit(const Node& n) {
    if (!n.domain.empty() && n.domain != "ai.onnx") return emit_nchw(n);
    const std::string& op = n.op_type;
    if (op == "Conv") {
      const Tensor* w = init(n.in(1));
      const bool bias_ok = n.in(2).empty() || init(n.in(2));
      if (w && w->rank() == 4 && w->dtype() == DType::f32 && bias_ok && !init(n.in(0)) && n.outputs.size() == 1)
        return emit_nhwc(n, {0}, true);
      return emit_nchw(n);
    }
    if ((op == "MaxPool" || op == "AveragePool") && has_nhwc(n.in(0)) && n.outputs.size() == 1 && n.attr_ints("kernel_shape").size() == 2 &&
        n.attr_i("storage_order", 0) == 0)
      return emit_nhwc(n, {0}, true);
    if (op == "GlobalAveragePool" && has_nhwc(n.in(0))) return emit_nhwc(n, {0}, true);
    if (kBinary.count(op) && n.inputs.size() == 2) {
      const bool a = has_nhwc(n.in(0)), b = has_nhwc(n.in(1));
      if ((a || b) && nhwc_ready(n.in(0), true) && nhwc_ready(n.in(1), true)) return emit_nhwc(n, {0, 1}, true);
      return emit_nchw(n);
    }
    if (kUnary.count(op) && has_nhwc(n.in(0)) && n.outputs.size() == 1) return emit_nhwc(n, {0}, false);
    if (op == "Concat" && !n.inputs.empty()) {
      bool any = false, all = true;
      for (auto& in : n.inputs) {
        any = any || has_nhwc(in);
        all = all && (has_nhwc(in) || (init(in) && init(in)->rank() == 4) || const_of_shape(in));
      }
      const int64_t axis = n.attr_i("axis", 0);
      if (any && all && axis >= -4 && axis < 4) {
        Node c = n;
        c.attrs["axis"].kind = Attribute::Kind::i;
        c.attrs["axis"].i = kPos[axis < 0 ? axis + 4 : axis];
        std::vector<size_t> idx(n.inputs.size());
        for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
        return emit_nhwc(c, idx, false);
      }
      return emit_nchw(n);
    }
    if (op == "Pad" && has_nhwc(n.in(0)) && n.attr_s("mode", "constant") == "constant") {
      std::vector<int64_t> pads;
      float value = 0;
      bool ok = true;
      if (n.inputs.size() > 1) {
        const Tensor* p = init(n.in(1));
        const Tensor* v = n.in(2).empty() ? nullptr : init(n.in(2));
        ok = p && (n.in(2).empty() || (v && v->numel() == 1 && v->dtype() == DType::f32)) && n.in(3).empty();
        if (ok) pads = p->to_i64();
        if (ok && v) value = v->ptr<float>()[0];
      } else {
        pads = n.attr_ints("pads");
        value = n.attr_f("value", 0.f);
      }
      ok = ok && pads.size() == 8 && std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p >= 0; });
      if (ok) {
        Node p{n.name, "Pad", "", {n.in(0)}, n.outputs, {}};
        std::vector<int64_t> np(8);
        for (int d = 0; d < 4; ++d) {
          np[kPos[d]] = pads[d];
          np[4 + kPos[d]] = pads[4 + d];
        }
        p.attrs["pads"] = ints_attr(np);
        p.attrs["value"].kind = Attribute::Kind::f;
        p.attrs["value"].f = value;
        return emit_nhwc(p, {0}, true);
      }
      return emit_nchw(n);
    }
    if (op == "Transpose" && has_nhwc(n.in(0))) {
      auto perm = n.attr_ints("perm", {3, 2, 1, 0});
      if (perm.size() == 4) {
        std::vector<int64_t> r(4);
        for (int i = 0; i < 4; ++i) r[i] = kPos[perm[i] < 0 || perm[i] > 3 ? 0 : perm[i]];
        const std::string src = nhwc_.at(n.in(0));
        ++stats_.folded;
        if (r == std::vector<int64_t>{0, 1, 2, 3}) {
          alias_[n.outputs[0]] = src;
          return;
        }
        Node t = n;
        t.inputs = {src};
        t.attrs["perm"] = ints_attr(r);
        out_.push_back(t);
        return;
      }
    }
    emit_nchw(n);
  }

  Graph& g_;
  std::map<std::string, size_t> producer_;
  std::map<std::string, std::string> nhwc_;   // value -> its NHWC version
  std::set<std::string> nhwc_only_;           // values that exist only in NHWC so far
  std::map<std::string, std::string> alias_;  // outputs of folded Transposes -> the value they equal
  std::map<std::string, Tensor> new_inits_;
  std::vector<Node> out_;
  LayoutStats stats_;
};

}  // namespace

LayoutStats convert_to_nhwc(Graph& g) {
  bool any_conv = false;
  for (auto& n : g.nodes) any_conv = any_conv || (n.op_type == "Conv" && n.domain.empty());
  if (!any_conv) return {};
  Graph copy = g;
  LayoutStats s = Converter(copy).run();
  if (s.nhwc_nodes > 0) g = std::move(copy);
  return s;
}

std::string to_string(const LayoutStats& s) {
  return std::to_string(s.nhwc_nodes) + " NHWC nodes, " + std::to_string(s.transposes) + " transposes inserted, " +
         std::to_string(s.folded) + " folded";
}

}  // namespace ec
