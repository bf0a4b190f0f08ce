#include "layout.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "op.h"
#include "pointwise.h"
#include "qgemm.h"
#include "stem.h"

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
  Converter(Graph& g, bool fuse_pointwise) : g_(g), uses_(consumers(g)), fuse_pointwise_(fuse_pointwise) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (auto& o : g.nodes[i].outputs) producer_[o] = i;
    for (auto& o : g.outputs) graph_outputs_.insert(o.name);
  }

  LayoutStats run() {
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (!absorbed_.count(i)) visit(g_.nodes[i]);
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
    if (fuse_pointwise_ && pointwise_available()) {
      fuse_pointwise_add();
      fuse_depthwise_pointwise();
    }
    if (fuse_pointwise_) fuse_conv_add();
    if (qgemm_vnni_available()) fuse_qconv_add();
    fuse_nchw_outputs();
    fuse_nchw_inputs();
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
    if (it != g_.initializers.end()) return &it->second;
    auto f = folded_inits_.find(v);
    return f == folded_inits_.end() ? nullptr : &f->second;
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
    if (const Node* p = producer(v))  // the model's own NHWC -> NCHW Transpose, undone by to_nhwc
      if (p->op_type == "Transpose" && p->domain.empty() && p->attr_ints("perm") == kToNchw && !nhwc_only_.count(p->in(0))) return true;
    if (const Tensor* t = init(v)) return broadcast_const && t->rank() <= 4;
    return const_of_shape(v) != nullptr;
  }

  const Node* producer(const std::string& v) const {
    auto it = producer_.find(v);
    return it == producer_.end() ? nullptr : &g_.nodes[it->second];
  }
  const Tensor* scalar_init(const std::string& v, DType t) const {
    const Tensor* x = v.empty() ? nullptr : init(v);
    return x && x->numel() == 1 && x->dtype() == t ? x : nullptr;
  }
  // Per-tensor int8 quantization of an activation: scale and zero point initializers.
  struct QParam {
    std::string scale, zero;
    float s = 0;
    int32_t z = 0;
  };
  // `v` = DequantizeLinear(q) with q an int8 activation made by a QuantizeLinear with an int8 zero point:
  // returns q's name and parameters.
  // A QLut (passes.h) stands for the QuantizeLinear it replaced: its inputs 2 and 3 are that node's scale and zero.
  static bool is_int8_producer(const Node* qn) {
    return qn && ((qn->op_type == "QuantizeLinear" && qn->domain.empty()) || (qn->op_type == "QLut" && qn->domain == kEcDomain));
  }
  static size_t q_scale_input(const Node& qn) { return qn.op_type == "QLut" ? 2 : 1; }
  bool int8_source(const std::string& v, std::string& q, QParam& p) const {
    const Node* dq = producer(v);
    if (!dq || dq->op_type != "DequantizeLinear" || !dq->domain.empty()) return false;
    const Node* qn = producer(dq->in(0));
    if (!is_int8_producer(qn)) return false;
    const size_t si = q_scale_input(*qn);
    const Tensor* qs = scalar_init(qn->in(si), DType::f32);
    const Tensor* qz = scalar_init(qn->in(si + 1), DType::i8);
    const Tensor* ds = scalar_init(dq->in(1), DType::f32);
    const Tensor* dz = dq->in(2).empty() ? nullptr : scalar_init(dq->in(2), DType::i8);
    if (!qs || !qz || !ds || (!dq->in(2).empty() && !dz)) return false;
    const int32_t z = qz->ptr<int8_t>()[0];
    if (ds->ptr<float>()[0] != qs->ptr<float>()[0] || (dz ? dz->ptr<int8_t>()[0] : 0) != z) return false;
    q = dq->in(0);
    p = {qn->in(si), qn->in(si + 1), qs->ptr<float>()[0], z};
    return true;
  }
  // `q` is made by a QuantizeLinear to int8 or a QLut (and the DequantizeLinear reading it has no other zero point).
  bool int8_source_q(const std::string& q) const {
    const Node* qn = producer(q);
    if (!is_int8_producer(qn)) return false;
    const size_t si = q_scale_input(*qn);
    return scalar_init(qn->in(si), DType::f32) && scalar_init(qn->in(si + 1), DType::i8);
  }
  // `v` (not a graph output) is read only by one QuantizeLinear to int8: returns that node's index.
  bool int8_sink(const std::string& v, size_t& qi, QParam& p) const {
    if (graph_outputs_.count(v)) return false;
    auto it = uses_.find(v);
    if (it == uses_.end() || it->second.size() != 1) return false;
    const Node& q = g_.nodes[it->second[0]];
    if (q.op_type != "QuantizeLinear" || !q.domain.empty() || q.in(0) != v) return false;
    const Tensor* qs = scalar_init(q.in(1), DType::f32);
    const Tensor* qz = scalar_init(q.in(2), DType::i8);
    if (!qs || !qz) return false;
    qi = it->second[0];
    p = {q.in(1), q.in(2), qs->ptr<float>()[0], qz->ptr<int8_t>()[0]};
    return true;
  }
  // `v` = DequantizeLinear of an int8 initializer with zero point 0, per-tensor or per output channel.
  bool int8_weight(const std::string& v, std::string& wq, std::string& ws) const {
    const Node* dq = producer(v);
    if (!dq || dq->op_type != "DequantizeLinear" || !dq->domain.empty()) return false;
    const Tensor* q = init(dq->in(0));
    const Tensor* s = init(dq->in(1));
    if (!q || !s || q->dtype() != DType::i8 || q->rank() != 4 || s->dtype() != DType::f32) return false;
    if (s->numel() != 1 && (s->numel() != q->dim(0) || dq->attr_i("axis", 1) != 0)) return false;
    if (!dq->in(2).empty()) {
      const Tensor* z = init(dq->in(2));
      if (!z) return false;
      for (int64_t i = 0; i < z->numel(); ++i)
        if (z->ptr<int8_t>()[i] != 0) return false;
    }
    wq = dq->in(0);
    ws = dq->in(1);
    return true;
  }
  // A float weight given as DequantizeLinear of initializers: folded into a float initializer.
  std::string float_weight(const std::string& v) {
    if (init(v)) return v;
    const Node* dq = producer(v);
    if (!dq || dq->op_type != "DequantizeLinear" || !dq->domain.empty()) return "";
    const Tensor* q = init(dq->in(0));
    const Tensor* s = init(dq->in(1));
    const Tensor* z = dq->in(2).empty() ? nullptr : init(dq->in(2));
    if (!q || !s || (!dq->in(2).empty() && !z) || s->dtype() != DType::f32 || q->rank() == 0) return "";
    if (q->dtype() != DType::i8 && q->dtype() != DType::u8) return "";
    const int64_t axis = s->numel() == 1 ? 0 : dq->attr_i("axis", 1);
    if (axis < 0 || axis >= static_cast<int64_t>(q->rank()) || (s->numel() != 1 && s->numel() != q->dim(static_cast<size_t>(axis)))) return "";
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < q->rank(); ++d) inner *= q->dim(d);
    const int64_t dim = s->numel() == 1 ? 1 : q->dim(static_cast<size_t>(axis));
    Tensor f(DType::f32, q->shape());
    for (int64_t i = 0; i < q->numel(); ++i) {
      const int64_t c = s->numel() == 1 ? 0 : (i / inner) % dim;
      const int32_t qv = q->dtype() == DType::i8 ? q->ptr<int8_t>()[i] : q->ptr<uint8_t>()[i];
      const int32_t zv = !z ? 0 : z->dtype() == DType::i8 ? z->ptr<int8_t>()[z->numel() == 1 ? 0 : c] : z->ptr<uint8_t>()[z->numel() == 1 ? 0 : c];
      f.ptr<float>()[i] = static_cast<float>(qv - zv) * s->ptr<float>()[c];
    }
    const std::string name = v + "#f32";
    new_inits_[name] = f;
    folded_inits_[name] = f;
    return name;
  }
  static bool int8_act_ok(const Node& n) {
    const std::string a = n.attr_s("_act", "");
    return a.empty() || a == "relu" || a == "clip";
  }

  // Conv reading DequantizeLinear(int8 x) and int8 weights, read only by QuantizeLinear: one int8 conv.
  bool try_int8_conv(const Node& n) {
    std::string xq, wq, ws;
    QParam xp, yp;
    size_t qi = 0;
    if (!int8_source(n.in(0), xq, xp) || !int8_weight(n.in(1), wq, ws)) return false;
    if (!int8_sink(n.outputs[0], qi, yp)) return try_int8_conv_f32(n, xq, wq, ws, xp);
    if (!int8_act_ok(n)) return false;
    // XNNPACK's int8 kernels step input channels by 8: a stem with 3 channels per group runs faster in
    // float (the input is dequantized, the output quantized)
    const int64_t group = n.attr_i("group", 1);
    // (unless our VNNI GEMM takes the stem as patches)
    if (init(wq)->dim(1) < 8 && !(group > 1 && init(wq)->dim(1) == 1) && !(group == 1 && qgemm_vnni_available())) return false;
    if (!n.in(2).empty() && !(init(n.in(2)) && init(n.in(2))->dtype() == DType::f32)) return false;
    Node c{n.name, "QConv", "", {xq, wq, ws, n.in(2), xp.scale, xp.zero, yp.scale, yp.zero}, {g_.nodes[qi].outputs[0]}, n.attrs};
    absorbed_.insert(qi);
    emit_nhwc(c, {0}, true);
    return true;
  }
  // The same Conv with a float output (no QuantizeLinear after it: a detection head, the last layer), 1x1,
  // stride 1, no padding, one group, where the VNNI GEMM runs: one QConvF32 writing float (its activation
  // applied in float), instead of a float convolution of the dequantized input and weights.
  bool try_int8_conv_f32(const Node& n, const std::string& xq, const std::string& wq, const std::string& ws, const QParam& xp) {
    if (!qgemm_vnni_available() || n.attr_i("group", 1) != 1) return false;
    const Tensor* w = init(wq);
    if (w->dim(2) != 1 || w->dim(3) != 1) return false;
    for (int64_t v : n.attr_ints("strides"))
      if (v != 1) return false;
    for (int64_t v : n.attr_ints("pads"))
      if (v != 0) return false;
    const std::string pad = n.attr_s("auto_pad", "NOTSET");
    if (pad != "NOTSET" && pad != "VALID") return false;
    if (!n.in(2).empty() && !(init(n.in(2)) && init(n.in(2))->dtype() == DType::f32)) return false;
    Node c{n.name, "QConvF32", "", {xq, wq, ws, n.in(2), xp.scale, xp.zero}, n.outputs, n.attrs};
    emit_nhwc(c, {0}, true);
    ++stats_.int8_float_out;
    return true;
  }
  // Add of two int8 activations read only by QuantizeLinear.
  bool try_int8_add(const Node& n) {
    std::string aq, bq;
    QParam ap, bp, yp;
    size_t qi = 0;
    if (n.op_type != "Add" || n.inputs.size() != 2 || !int8_act_ok(n) || !int8_source(n.in(0), aq, ap) || !int8_source(n.in(1), bq, bp) ||
        !int8_sink(n.outputs[0], qi, yp))
      return false;
    if (!nhwc_ready(aq, false) && !nhwc_ready(bq, false)) return false;
    Node a{n.name, "QAdd", "", {aq, bq, ap.scale, ap.zero, bp.scale, bp.zero, yp.scale, yp.zero}, {g_.nodes[qi].outputs[0]}, n.attrs};
    absorbed_.insert(qi);
    emit_nhwc(a, {0, 1}, true);
    // an operand zero-padded along channels only for this Add (BlazeFace's residual): read it unpadded
    Node& e = out_.back();
    for (size_t k : {1, 0}) {
      auto it = int8_pads_.find(e.inputs[k]);
      if (it == int8_pads_.end() || uses_[it->second.first].size() != 1) continue;
      if (k == 0) {  // keep the padded operand second
        std::swap(e.inputs[0], e.inputs[1]);
        std::swap(e.inputs[2], e.inputs[4]);
        std::swap(e.inputs[3], e.inputs[5]);
      }
      e.inputs[1] = it->second.second;
      e.attrs["zero_extend_b"].kind = Attribute::Kind::i;
      e.attrs["zero_extend_b"].i = 1;
      break;
    }
    return true;
  }
  // MaxPool or channel zero-padding (Concat with ConstantOfShape zeros) between a DequantizeLinear and a
  // QuantizeLinear of the same scale: runs on the int8 data directly.
  bool try_int8_movement(const Node& n) {
    std::string xq;
    QParam xp, yp;
    size_t qi = 0;
    if (!int8_source(n.in(0), xq, xp) || !has_nhwc(xq) || !int8_sink(n.outputs[0], qi, yp) || xp.s != yp.s || xp.z != yp.z) return false;
    if (n.op_type == "MaxPool") {
      auto k = n.attr_ints("kernel_shape");
      if (k.size() != 2 || k[0] * k[1] < 2 || n.outputs.size() != 1 || n.attr_i("storage_order", 0) != 0) return false;
      Node m = n;
      m.inputs = {xq};
      m.outputs = {g_.nodes[qi].outputs[0]};
      absorbed_.insert(qi);
      emit_nhwc(m, {0}, true);
      return true;
    }
    if (n.op_type == "Concat" && n.inputs.size() == 2 && n.attr_i("axis", 0) == 1) {
      const Tensor* zs = const_of_shape(n.in(1));
      const Node* cz = producer(n.in(1));
      if (!zs || !cz) return false;
      if (cz->has("value")) {
        const Tensor& v = cz->attr_t("value");
        if (v.numel() != 1 || v.dtype() != DType::f32 || v.ptr<float>()[0] != 0.f) return false;
      }
      Node p{n.name, "Pad", "", {xq}, {g_.nodes[qi].outputs[0]}, {}};
      p.attrs["pads"] = ints_attr({0, 0, 0, 0, 0, 0, 0, zs->to_i64()[1]});
      p.attrs["value"].kind = Attribute::Kind::f;
      p.attrs["value"].f = static_cast<float>(xp.z);
      absorbed_.insert(qi);
      emit_nhwc(p, {0}, true);
      int8_pads_[out_.back().outputs[0]] = {g_.nodes[qi].outputs[0], out_.back().inputs[0]};
      return true;
    }
    if (n.op_type == "Concat" && n.outputs.size() == 1) {  // every input at the output's scale (passes.h int8_concats)
      const int64_t axis = n.attr_i("axis", 0);
      if (axis < -4 || axis >= 4) return false;
      std::vector<std::string> qs;
      for (const std::string& v : n.inputs) {
        std::string q;
        QParam p;
        if (!int8_source(v, q, p) || !has_nhwc(q) || p.s != yp.s || p.z != yp.z) return false;
        qs.push_back(q);
      }
      Node c = n;
      c.inputs = qs;
      c.outputs = {g_.nodes[qi].outputs[0]};
      c.attrs["axis"].kind = Attribute::Kind::i;
      c.attrs["axis"].i = kPos[axis < 0 ? axis + 4 : axis];
      std::vector<size_t> idx(qs.size());
      for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
      absorbed_.insert(qi);
      emit_nhwc(c, idx, false);
      ++stats_.int8_concats;
      return true;
    }
    return false;
  }

  // Split of int8 data whose every output is read only by a QuantizeLinear at the input's scale (the compressor
  // gives C2f's halves their input's scale): the Split runs on the int8 NHWC data.
  bool try_int8_split(const Node& n) {
    std::string xq;
    QParam xp;
    if (!int8_source(n.in(0), xq, xp) || !has_nhwc(xq) || (n.inputs.size() > 1 && !n.in(1).empty() && !init(n.in(1)))) return false;
    const int64_t axis = n.attr_i("axis", 0);
    if (axis < -4 || axis >= 4) return false;
    std::vector<size_t> qis;
    std::vector<std::string> outs;
    for (const std::string& o : n.outputs) {
      size_t qi = 0;
      QParam yp;
      if (o.empty() || !int8_sink(o, qi, yp) || yp.s != xp.s || yp.z != xp.z) return false;
      qis.push_back(qi);
      outs.push_back(g_.nodes[qi].outputs[0]);
    }
    Node c = n;
    c.inputs[0] = xq;
    c.outputs = outs;
    c.attrs["axis"].kind = Attribute::Kind::i;
    c.attrs["axis"].i = kPos[axis < 0 ? axis + 4 : axis];
    for (size_t qi : qis) absorbed_.insert(qi);
    emit_nhwc(c, {0}, false);
    ++stats_.int8_splits;
    return true;
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
  // Index in out_ of the node producing each value.
  std::map<std::string, size_t> out_producers() const {
    std::map<std::string, size_t> prod;
    for (size_t i = 0; i < out_.size(); ++i)
      for (auto& o : out_[i].outputs) prod[o] = i;
    return prod;
  }
  // Removes the out_ nodes at these indices.
  void drop(const std::set<size_t>& dropped) {
    std::vector<Node> kept;
    for (size_t i = 0; i < out_.size(); ++i)
      if (!dropped.count(i)) kept.push_back(std::move(out_[i]));
    out_ = std::move(kept);
  }
  // A convolution that is a per-pixel GEMM: weight `w` [M, C, 1, 1], one group, stride 1, no padding or dilation.
  static bool plain_1x1(const Node& c, const Tensor* w) {
    auto all = [&](const char* attr, int64_t v) {
      for (int64_t x : c.attr_ints(attr))
        if (x != v) return false;
      return true;
    };
    return w && w->rank() == 4 && w->dim(2) == 1 && w->dim(3) == 1 && c.attr_i("group", 1) == 1 && all("strides", 1) && all("pads", 0) &&
           all("dilations", 1) && c.attr_s("auto_pad", "NOTSET") == "NOTSET";
  }

  // How often each value is read by the nodes still needed for the graph outputs (+2 for a graph output):
  // nodes that only fed what an int8 op absorbed do not count.
  std::map<std::string, int> live_reads() const {
    std::set<std::string> used;
    for (auto& o : g_.outputs) used.insert(o.name);
    std::map<std::string, int> reads;
    for (size_t i = out_.size(); i-- > 0;) {
      bool live = false;
      for (auto& o : out_[i].outputs) live = live || used.count(o);
      if (!live) continue;
      for (auto& in : out_[i].inputs) {
        used.insert(in);
        ++reads[in];
      }
    }
    for (auto& o : g_.outputs) reads[o.name] += 2;
    return reads;
  }

  // NHWC float Conv 1x1 (stride 1, no padding, one group, no activation) read only by an NHWC Add: one
  // PointwiseAdd node (engine/pointwise.h) at the Add's place, with the Add's other operand as residual and
  // its activation (none, Relu or Clip). A residual that is a channel zero-padding read only here is taken
  // unpadded (the padding node then goes).
  void fuse_pointwise_add() {
    const std::map<std::string, size_t> prod = out_producers();
    std::map<std::string, int> reads = live_reads();
    std::set<size_t> dropped;
    auto is = [&](const Node& n, const char* op) { return n.domain == kEcDomain && n.op_type == op; };
    for (size_t ai = 0; ai < out_.size(); ++ai) {
      Node& a = out_[ai];
      const std::string act = a.attr_s("_act", "");
      if (!is(a, "Add") || a.inputs.size() != 2 || a.inputs[0] == a.inputs[1] || (!act.empty() && act != "relu" && act != "clip")) continue;
      for (size_t k = 0; k < 2; ++k) {
        auto pc = prod.find(a.inputs[k]);
        if (pc == prod.end() || dropped.count(pc->second) || reads[a.inputs[k]] != 1) continue;
        const Node& c = out_[pc->second];
        const Tensor* w = c.inputs.size() > 1 ? init(c.in(1)) : nullptr;
        // up to 32 outputs: one register block holds a whole output row (wider layers run faster on XNNPACK's
        // 512-bit kernels even with the separate Add: BlazeFace's 48 and 96 channels measured 10-20 % slower fused)
        if (!is(c, "Conv") || !plain_1x1(c, w) || w->dtype() != DType::f32 || w->dim(0) > 32 || c.has("_act") || (!c.in(2).empty() && !init(c.in(2))))
          continue;
        std::string r = a.inputs[1 - k];
        if (auto pp = prod.find(r); pp != prod.end() && reads[r] == 1 && is(out_[pp->second], "Pad")) {
          const Node& pad = out_[pp->second];
          const auto pads = pad.attr_ints("pads");
          bool channel_end_only = pads.size() == 8 && pad.attr_f("value", 0.f) == 0.f;
          for (size_t d = 0; d < 8 && channel_end_only; ++d) channel_end_only = d == 7 ? pads[d] > 0 : pads[d] == 0;
          if (channel_end_only) r = pad.inputs[0];
        } else if (pp != prod.end() && reads[r] == 1 && out_[pp->second].op_type == "Concat" && out_[pp->second].domain.empty() &&
                   out_[pp->second].inputs.size() == 2 && out_[pp->second].attr_i("axis", 0) == 3) {  // Concat with zeros (NHWC)
          const Node& cat = out_[pp->second];
          auto pz = prod.find(cat.inputs[1]);
          const Node* z = pz == prod.end() ? nullptr : &out_[pz->second];
          const bool zeros = z && z->op_type == "ConstantOfShape" &&
                             (!z->has("value") || (z->attr_t("value").numel() == 1 && z->attr_t("value").dtype() == DType::f32 &&
                                                   z->attr_t("value").ptr<float>()[0] == 0.f));
          if (zeros) r = cat.inputs[0];
        }
        Node f{c.name, "PointwiseAdd", kEcDomain, {c.inputs[0], c.inputs[1], c.in(2), r}, a.outputs, {}};
        for (const char* at : {"_act", "_act_a", "_act_b"})
          if (a.has(at)) f.attrs[at] = a.attrs.at(at);
        dropped.insert(pc->second);
        a = f;
        ++stats_.pointwise_add;
        break;
      }
    }
    drop(dropped);
  }

  // Any other float NHWC Conv read only by an NHWC Add (ResNet's second 3x3 convolution of a block, the YOLO
  // bottleneck's 3x3 + SiLU): the Add's other operand becomes the Conv's 4th input and the Add's activation its
  // "_res_act" ("_res_act_a", "_res_act_b"); the node takes the Add's place and output. The convolution's
  // kernels then add the residual (and apply both activations) to each block of outputs while it is in cache
  // (ops_nhwc.cpp NhwcConvOp), instead of a separate pass over three tensors with a handshake of the threads.
  void fuse_conv_add() {
    const std::map<std::string, size_t> prod = out_producers();
    std::map<std::string, int> reads = live_reads();
    std::set<size_t> dropped;
    auto is = [&](const Node& n, const char* op) { return n.domain == kEcDomain && n.op_type == op; };
    for (size_t ai = 0; ai < out_.size(); ++ai) {
      Node& a = out_[ai];
      if (!is(a, "Add") || a.inputs.size() != 2 || a.inputs[0] == a.inputs[1] || a.outputs.size() != 1) continue;
      for (size_t k = 0; k < 2; ++k) {
        auto pc = prod.find(a.inputs[k]);
        if (pc == prod.end() || dropped.count(pc->second) || reads[a.inputs[k]] != 1) continue;
        const Node& c = out_[pc->second];
        const Tensor* w = c.inputs.size() > 1 ? init(c.in(1)) : nullptr;
        if (!is(c, "Conv") || c.inputs.size() > 3 || c.outputs.size() != 1 || !w || w->rank() != 4 || w->dtype() != DType::f32 ||
            (!c.in(2).empty() && !init(c.in(2))) || c.has("_nchw_out"))
          continue;
        const std::string r = a.inputs[1 - k];
        if (init(r)) continue;  // a constant operand is a bias, not a residual
        Node f = c;
        f.inputs = {c.inputs[0], c.inputs[1], c.in(2), r};
        f.outputs = a.outputs;
        Attribute one;
        one.kind = Attribute::Kind::i;
        one.i = 1;
        f.attrs["_res"] = one;
        for (const char* at : {"_act", "_act_a", "_act_b"})
          if (a.has(at)) f.attrs[std::string("_res") + at] = a.attrs.at(at);
        dropped.insert(pc->second);
        a = f;
        ++stats_.conv_add;
        break;
      }
    }
    drop(dropped);
  }

  // A float depthwise Conv (one filter per channel, 3x3 or 5x5, stride 1 or 2, no dilation, activation none,
  // Relu or Clip) read only by a PointwiseAdd: one DwPointwiseAdd node (ops_nhwc.cpp) at the PointwiseAdd's
  // place, inputs {x, depthwise weight, depthwise bias, pointwise weight, pointwise bias, residual}, the
  // depthwise's window attributes and its activation as "_dw_act" ("_dw_act_a", "_dw_act_b"). Its kernel runs
  // the depthwise rows of a band and the pointwise GEMM on them while they are in cache.
  void fuse_depthwise_pointwise() {
    const std::map<std::string, size_t> prod = out_producers();
    std::map<std::string, int> reads = live_reads();
    std::set<size_t> dropped;
    for (Node& p : out_) {
      if (p.domain != kEcDomain || p.op_type != "PointwiseAdd" || p.inputs.size() != 4) continue;
      auto pd = prod.find(p.inputs[0]);
      if (pd == prod.end() || dropped.count(pd->second) || reads[p.inputs[0]] != 1) continue;
      const Node& d = out_[pd->second];
      const Tensor* w = d.inputs.size() > 1 ? init(d.in(1)) : nullptr;
      if (d.domain != kEcDomain || d.op_type != "Conv" || d.outputs.size() != 1 || d.has("_nchw_out") || !w || w->dtype() != DType::f32 ||
          w->rank() != 4 || w->dim(1) != 1 || w->dim(2) != w->dim(3) || (w->dim(2) != 3 && w->dim(2) != 5) || d.attr_i("group", 1) != w->dim(0) ||
          (!d.in(2).empty() && !init(d.in(2))))
        continue;
      const auto strides = d.attr_ints("strides", {1, 1});
      bool ok = strides.size() == 2 && strides[0] == strides[1] && (strides[0] == 1 || strides[0] == 2);
      for (int64_t x : d.attr_ints("dilations", {1, 1})) ok = ok && x == 1;
      const std::string act = d.attr_s("_act", "");
      if (!ok || (!act.empty() && act != "relu" && act != "clip")) continue;
      Node f{p.name, "DwPointwiseAdd", kEcDomain, {d.inputs[0], d.in(1), d.in(2), p.inputs[1], p.inputs[2], p.inputs[3]}, p.outputs, {}};
      for (const auto& [k, v] : d.attrs)
        if (k == "_act" || k == "_act_a" || k == "_act_b") f.attrs["_dw" + k] = v;
        else if (k.empty() || k[0] != '_') f.attrs[k] = v;  // kernel_shape, strides, pads, auto_pad, dilations, group
      for (const char* at : {"_act", "_act_a", "_act_b"})
        if (p.has(at)) f.attrs[at] = p.attrs.at(at);
      dropped.insert(pd->second);
      p = f;
      ++stats_.dw_pointwise;
    }
    drop(dropped);
  }

  // A float Conv (one group, no dilation) whose NHWC output only goes back to NCHW (a detector's raw heads, any
  // graph output made by a Conv): the Conv writes NCHW itself (attribute "_nchw_out"; the blocked GEMM stores each
  // 7-pixel tile's channels as rows, the other kernels write NHWC into the workspace and transpose it there) and
  // the Transpose goes. The YOLO shape's three heads: 0.18 of its 7 ms at 1 thread were the Transposes.
  void fuse_nchw_outputs() {
    const std::map<std::string, size_t> prod = out_producers();
    std::map<std::string, int> reads = live_reads();
    std::set<size_t> dropped;
    const std::string suffix = "#to_nchw";
    for (size_t ti = 0; ti < out_.size(); ++ti) {
      const Node& t = out_[ti];
      if (t.op_type != "Transpose" || !t.domain.empty() || t.inputs.size() != 1 || t.outputs.size() != 1 || t.attr_ints("perm") != kToNchw ||
          t.name.size() <= suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0)
        continue;
      auto pc = prod.find(t.inputs[0]);
      if (pc == prod.end() || dropped.count(pc->second) || reads[t.inputs[0]] != 1) continue;
      Node& c = out_[pc->second];
      const Tensor* w = c.inputs.size() > 1 ? init(c.in(1)) : nullptr;
      bool plain = c.domain == kEcDomain && c.op_type == "Conv" && c.outputs.size() == 1 && w && w->dtype() == DType::f32 && w->rank() == 4 &&
                   c.attr_i("group", 1) == 1 && !c.has("_res");
      for (int64_t d : c.attr_ints("dilations", {1, 1})) plain = plain && d == 1;
      if (!plain) continue;
      c.outputs[0] = t.outputs[0];
      Attribute one;
      one.kind = Attribute::Kind::i;
      one.i = 1;
      c.attrs["_nchw_out"] = one;
      dropped.insert(ti);
      --stats_.transposes;
      ++stats_.nchw_outputs;
    }
    drop(dropped);
  }

  // A float Conv of few input channels (a stem: kh * kw * c <= 256, c <= 4, one group, no dilation) that is the only
  // reader of an input's Transpose to NHWC reads the NCHW input itself (attribute "_nchw_in"): the direct kernel
  // (stem.h) reads its values where they are, the other kernels get an NHWC copy in the workspace. Only where the
  // direct kernel runs (AVX-512 F). The YOLO shape's 320 x 320 input: 0.066-0.075 ms of Transpose at 1 thread.
  void fuse_nchw_inputs() {
    if (!stem_conv_available()) return;
    std::map<std::string, std::vector<size_t>> readers;
    for (size_t i = 0; i < out_.size(); ++i)
      for (const auto& v : out_[i].inputs) readers[v].push_back(i);
    std::set<size_t> dropped;
    const std::string suffix = "#to_nhwc";
    for (size_t ti = 0; ti < out_.size(); ++ti) {
      const Node& t = out_[ti];
      if (t.op_type != "Transpose" || !t.domain.empty() || t.inputs.size() != 1 || t.outputs.size() != 1 || t.attr_ints("perm") != kToNhwc ||
          t.name.size() <= suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0 ||
          graph_outputs_.count(t.outputs[0]))
        continue;
      const auto& rd = readers[t.outputs[0]];
      if (rd.size() != 1) continue;
      Node& c = out_[rd[0]];
      const Tensor* w = c.inputs.size() > 1 ? init(c.in(1)) : nullptr;
      bool stem = c.domain == kEcDomain && c.op_type == "Conv" && c.outputs.size() == 1 && c.inputs[0] == t.outputs[0] && w &&
                  w->dtype() == DType::f32 && w->rank() == 4 && c.attr_i("group", 1) == 1 && w->dim(1) <= 4 &&
                  w->dim(1) * w->dim(2) * w->dim(3) <= 256 && !c.has("_nchw_in");
      for (int64_t d : c.attr_ints("dilations", {1, 1})) stem = stem && d == 1;
      if (!stem) continue;
      c.inputs[0] = t.inputs[0];
      Attribute one;
      one.kind = Attribute::Kind::i;
      one.i = 1;
      c.attrs["_nchw_in"] = one;
      dropped.insert(ti);
      --stats_.transposes;
      ++stats_.nchw_inputs;
    }
    drop(dropped);
  }

  // The int8 counterpart: a QConv that runs on the VNNI GEMM (1x1, stride 1, no padding, one group) read only
  // by a QAdd, with the Add reading it at the convolution's own output scale and zero point: one QConvAdd
  // at the Add's place (the Add's arithmetic in the GEMM's epilogue). The residual keeps the Add's
  // zero extension (a channel-padded operand read unpadded).
  void fuse_qconv_add() {
    const std::map<std::string, size_t> prod = out_producers();
    std::map<std::string, int> reads = live_reads();
    auto same_scalar = [&](const std::string& a, const std::string& b) {
      if (a == b) return true;
      const Tensor *x = a.empty() ? nullptr : init(a), *y = b.empty() ? nullptr : init(b);
      return x && y && x->numel() == 1 && y->numel() == 1 && x->dtype() == y->dtype() &&
             std::memcmp(x->data(), y->data(), dtype_size(x->dtype())) == 0;
    };
    std::set<size_t> dropped;
    for (size_t ai = 0; ai < out_.size(); ++ai) {
      Node& a = out_[ai];
      if (a.domain != kEcDomain || a.op_type != "QAdd" || a.inputs.size() != 8 || a.inputs[0] == a.inputs[1]) continue;
      const bool extend = a.attr_i("zero_extend_b", 0) != 0;
      for (size_t k = 0; k < 2; ++k) {
        if (k == 1 && extend) continue;  // the narrower operand is not a full convolution output
        auto pc = prod.find(a.inputs[k]);
        if (pc == prod.end() || dropped.count(pc->second) || reads[a.inputs[k]] != 1) continue;
        const Node& c = out_[pc->second];
        const Tensor* w = c.inputs.size() > 1 ? init(c.in(1)) : nullptr;
        if (c.domain != kEcDomain || c.op_type != "QConv" || c.inputs.size() != 8 || !plain_1x1(c, w)) continue;
        // the Add reads the convolution's output at the convolution's own output quantization
        if (!same_scalar(a.inputs[2 + 2 * k], c.inputs[6]) || !same_scalar(a.inputs[3 + 2 * k], c.inputs[7])) continue;
        const size_t o = 1 - k;
        Node f{c.name, "QConvAdd", kEcDomain, c.inputs, a.outputs, c.attrs};
        f.inputs.insert(f.inputs.end(), {a.inputs[o], a.inputs[2 + 2 * o], a.inputs[3 + 2 * o], a.inputs[6], a.inputs[7]});
        for (const char* at : {"_act", "_act_a", "_act_b"})
          if (a.has(at)) f.attrs[std::string("_add") + at] = a.attrs.at(at);
        dropped.insert(pc->second);
        a = f;
        ++stats_.qconv_add;
        break;
      }
    }
    drop(dropped);
  }

  // Resize/Upsample with constant rank-4 scales or sizes: each axis is resized on its own, so the same operator
  // runs on NHWC data with its scales/sizes permuted (nearest copies whole channel runs).
  // Linear (bilinear) resizes H and W only: on NHWC data the engine blends whole channel runs.
  bool try_nhwc_resize(const Node& n) {
    std::string mode = n.attr_s("mode", "nearest");
    if (mode != "nearest" && mode != "linear" && mode != "bilinear") return false;
    if (mode != "nearest" && n.attr_s("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize") return false;
    Node r = n;
    auto permute = [&](const std::string& name, const std::string& tag) -> bool {
      const Tensor* t = init(name);
      if (!t || t->rank() != 1 || t->numel() != 4) return false;
      Tensor p(t->dtype(), t->shape());
      const size_t es = dtype_size(t->dtype());
      for (int d = 0; d < 4; ++d)
        std::memcpy(static_cast<char*>(p.data()) + static_cast<size_t>(kPos[d]) * es, static_cast<const char*>(t->data()) + static_cast<size_t>(d) * es, es);
      const std::string pn = name + "#nhwc_" + tag;
      new_inits_[pn] = p;
      folded_inits_[pn] = p;
      for (auto& in : r.inputs)
        if (in == name) in = pn;
      return true;
    };
    if (n.has("scales")) {  // Upsample opset 7-8: an attribute
      const auto f = n.attr_floats("scales");
      if (f.size() != 4) return false;
      std::vector<float> q(4);
      for (int d = 0; d < 4; ++d) q[static_cast<size_t>(kPos[d])] = f[static_cast<size_t>(d)];
      r.attrs["scales"].floats = q;
    }
    bool any = n.has("scales");
    for (size_t i = 1; i < n.inputs.size(); ++i) {
      if (n.inputs[i].empty()) continue;
      const Tensor* t = init(n.inputs[i]);
      if (!t) return false;
      if (t->numel() == 0) continue;  // an empty roi/scales placeholder
      const bool roi = op_is_resize_roi(n, i);
      if (roi) {
        if (n.attr_s("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize") return false;
        continue;  // only read by tf_crop_and_resize
      }
      if (!permute(n.inputs[i], std::to_string(i))) return false;
      any = true;
    }
    if (!any) return false;
    emit_nhwc(r, {0}, false);
    return true;
  }
  // Input i of a Resize is its roi: opset 11+ Resize has X, roi, scales[, sizes]; opset 10 only X, scales.
  static bool op_is_resize_roi(const Node& n, size_t i) { return n.op_type == "Resize" && n.inputs.size() >= 3 && i == 1; }

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
    if (n.domain == kEcDomain && n.op_type == "QLut" && has_nhwc(n.in(0))) return emit_nhwc(n, {0}, true);  // elementwise
    if (!n.domain.empty() && n.domain != "ai.onnx") return emit_nchw(n);
    const std::string& op = n.op_type;
    if (op == "Conv") {
      if (n.outputs.size() == 1 && try_int8_conv(n)) return;
      const std::string wname = float_weight(n.in(1));
      const Tensor* w = wname.empty() ? nullptr : init(wname);
      const bool bias_ok = n.in(2).empty() || init(n.in(2));
      if (w && w->rank() == 4 && w->dtype() == DType::f32 && bias_ok && !init(n.in(0)) && n.outputs.size() == 1) {
        Node c = n;
        c.inputs[1] = wname;
        return emit_nhwc(c, {0}, true);
      }
      return emit_nchw(n);
    }
    if (op == "ConvTranspose" && n.outputs.size() == 1 && !init(n.in(0))) {  // XNNPACK deconvolution
      const std::string wname = float_weight(n.in(1));
      const Tensor* w = wname.empty() ? nullptr : init(wname);
      const auto st = n.attr_ints("strides", {1, 1}), adj = n.attr_ints("output_padding", {0, 0}), pads = n.attr_ints("pads", {0, 0, 0, 0}),
                 di = n.attr_ints("dilations", {1, 1});
      bool ok = w && w->rank() == 4 && w->dtype() == DType::f32 && (n.in(2).empty() || init(n.in(2))) && !n.has("output_shape") &&
                n.attr_s("auto_pad", "NOTSET") == "NOTSET" && st.size() == 2 && adj.size() == 2 && pads.size() == 4 && di.size() == 2;
      for (size_t d = 0; ok && d < 2; ++d) ok = st[d] >= 1 && di[d] >= 1 && adj[d] >= 0 && adj[d] < st[d];
      for (size_t d = 0; ok && d < 4; ++d) ok = pads[d] >= 0;
      if (ok) {
        Node c = n;
        c.inputs[1] = wname;
        return emit_nhwc(c, {0}, true);
      }
      return emit_nchw(n);
    }
    if ((op == "Add" && try_int8_add(n)) || ((op == "MaxPool" || op == "Concat") && try_int8_movement(n)) || (op == "Split" && try_int8_split(n))) return;
    if ((op == "QuantizeLinear" || op == "DequantizeLinear") && n.outputs.size() == 1) {
      // per-tensor int8: XNNPACK convert, layout-free (NHWC when the input is)
      const bool int8 = scalar_init(n.in(1), DType::f32) && (op == "QuantizeLinear" ? scalar_init(n.in(2), DType::i8) != nullptr
                                                                                       : int8_source_q(n.in(0)) && (n.in(2).empty() || scalar_init(n.in(2), DType::i8)));
      if (int8) {
        if (nhwc_ready(n.in(0), false)) return emit_nhwc(n, {0}, true);
        Node c = n;
        c.domain = kEcDomain;
        return emit_nchw(c);
      }
      const Tensor* sc = init(n.in(1));
      if (sc && sc->numel() == 1 && nhwc_ready(n.in(0), false)) return emit_nhwc(n, {0}, false);
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
    if (op == "Split" && has_nhwc(n.in(0)) && (n.inputs.size() < 2 || n.in(1).empty() || init(n.in(1)))) {  // C2f: along channels
      const int64_t axis = n.attr_i("axis", 0);
      if (axis >= -4 && axis < 4) {
        Node c = n;
        c.attrs["axis"].kind = Attribute::Kind::i;
        c.attrs["axis"].i = kPos[axis < 0 ? axis + 4 : axis];
        return emit_nhwc(c, {0}, false);
      }
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
    if ((op == "Resize" || op == "Upsample") && has_nhwc(n.in(0)) && n.outputs.size() == 1 && try_nhwc_resize(n)) return;
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
  std::map<std::string, Tensor> folded_inits_;  // float weights folded from DequantizeLinear
  std::map<std::string, std::vector<size_t>> uses_;
  std::set<std::string> graph_outputs_;
  std::set<size_t> absorbed_;  // QuantizeLinear nodes merged into an int8 op
  // int8 channel pads: NHWC output -> (the graph value it stands for, its unpadded NHWC input)
  std::map<std::string, std::pair<std::string, std::string>> int8_pads_;
  std::vector<Node> out_;
  LayoutStats stats_;
  bool fuse_pointwise_ = true;
};

}  // namespace

LayoutStats convert_to_nhwc(Graph& g, bool fuse_pointwise) {
  bool any_conv = false;
  for (auto& n : g.nodes) any_conv = any_conv || (n.op_type == "Conv" && n.domain.empty());
  if (!any_conv) return {};
  Graph copy = g;
  LayoutStats s = Converter(copy, fuse_pointwise).run();
  if (s.nhwc_nodes > 0) g = std::move(copy);
  return s;
}

std::string to_string(const LayoutStats& s) {
  return std::to_string(s.nhwc_nodes) + " NHWC nodes, " + std::to_string(s.transposes) + " transposes inserted, " +
         std::to_string(s.folded) + " folded" + (s.pointwise_add ? ", " + std::to_string(s.pointwise_add) + " 1x1 convolutions with their residual Add fused" : "") +
         (s.dw_pointwise ? ", " + std::to_string(s.dw_pointwise) + " depthwise convolutions fused into them" : "") +
         (s.conv_add ? ", " + std::to_string(s.conv_add) + " other convolutions with their residual Add fused" : "") +
         (s.qconv_add ? ", " + std::to_string(s.qconv_add) + " int8 1x1 convolutions with their residual Add fused" : "") +
         (s.int8_float_out ? ", " + std::to_string(s.int8_float_out) + " int8 1x1 convolutions with float output" : "") +
         (s.int8_concats ? ", " + std::to_string(s.int8_concats) + " int8 Concats" : "") +
         (s.int8_splits ? ", " + std::to_string(s.int8_splits) + " int8 Splits" : "") +
         (s.nchw_outputs ? ", " + std::to_string(s.nchw_outputs) + " convolutions writing NCHW" : "") +
         (s.nchw_inputs ? ", " + std::to_string(s.nchw_inputs) + " stems reading NCHW" : "");
}

}  // namespace ec
