#include "fp16.h"

#include <map>
#include <set>

#include "op.h"

namespace ec {
namespace {

// An activation the float16 kernels fuse (Relu, or Clip with min < max); anything else would need a float32
// pass over the output.
bool fusable_act(const Node& n) {
  const Activation a = Activation::from_node(n);
  return a.kind == Activation::Kind::none || a.kind == Activation::Kind::relu || (a.kind == Activation::Kind::clip && a.a < a.b);
}

// Which of the node's inputs are float activations that run in float16 (empty: the node stays float32).
std::vector<size_t> f16_inputs(const Node& n, const Graph& g) {
  if (n.domain != kEcDomain || !fusable_act(n)) return {};
  auto is_f32_init = [&](const std::string& v) {
    auto it = g.initializers.find(v);
    return it != g.initializers.end() && it->second.dtype() == DType::f32;
  };
  if (n.op_type == "Conv") {
    if (n.inputs.size() < 2 || !is_f32_init(n.in(1)) || (!n.in(2).empty() && !is_f32_init(n.in(2)))) return {};
    return {0};
  }
  if (n.op_type == "Add" || n.op_type == "Mul") {
    if (n.inputs.size() != 2) return {};
    for (size_t k : {0, 1})  // a constant operand must be float32 (it is stored again in float16)
      if (g.initializers.count(n.in(k)) && !is_f32_init(n.in(k))) return {};
    return {0, 1};
  }
  if (n.op_type == "MaxPool") {
    int64_t k = 1;
    for (int64_t d : n.attr_ints("kernel_shape")) k *= d;
    return k >= 2 && n.outputs.size() == 1 ? std::vector<size_t>{0} : std::vector<size_t>{};
  }
  if (n.op_type == "GlobalAveragePool" || n.op_type == "Pad") return {0};
  return {};
}

Node cast_node(const std::string& from, const std::string& to, int64_t onnx_type) {
  Node c{from + (onnx_type == 10 ? "#to_f16" : "#to_f32"), "Cast", kEcDomain, {from}, {to}, {}};
  c.attrs["to"].kind = Attribute::Kind::i;
  c.attrs["to"].i = onnx_type;
  return c;
}

}  // namespace

bool stores_fp16_weights(const Graph& g) {
  for (auto& kv : g.initializers)
    if (kv.second.dtype() == DType::f16 && kv.second.numel() > 1) return true;
  return false;
}

Fp16Stats convert_to_fp16(Graph& g) {
  Fp16Stats st;
  for (const Node& n : g.nodes)
    if (n.domain == kEcDomain && (n.op_type == "QConv" || n.op_type == "QAdd" || n.op_type == "QConvAdd" || n.op_type == "QConvF32" || n.op_type == "QuantizeLinear" ||
                                  n.op_type == "DequantizeLinear"))
      return st;
  std::set<std::string> f16;  // original names of values now made in float16 (stored as name#f16)
  std::set<std::string> has_f32, graph_inputs;
  for (auto& i : g.inputs) graph_inputs.insert(i.name);
  std::map<std::string, std::string> to16;  // float32 value -> its float16 cast
  std::map<std::string, Tensor> new_inits;
  std::vector<Node> out;
  for (const Node& src : g.nodes) {
    Node n = src;
    const std::vector<size_t> act = f16_inputs(n, g);
    if (act.empty()) {
      for (auto& in : n.inputs)
        if (f16.count(in) && !has_f32.count(in)) {  // a float32 reader of a float16 value: cast back once
          out.push_back(cast_node(in + "#f16", in, 1));
          has_f32.insert(in);
          ++st.casts;
        }
      out.push_back(n);
      continue;
    }
    for (size_t k : act) {
      std::string& in = n.inputs[k];
      if (f16.count(in)) {
        in += "#f16";
        continue;
      }
      auto init = g.initializers.find(in);
      if (init != g.initializers.end()) {  // a constant operand: stored in float16 once
        if (!new_inits.count(in + "#f16")) {
          Tensor h(DType::f16, init->second.shape());
          for (int64_t i = 0; i < h.numel(); ++i) h.ptr<uint16_t>()[i] = float_to_half(init->second.ptr<float>()[i]);
          new_inits[in + "#f16"] = h;
        }
        in += "#f16";
        continue;
      }
      if (!to16.count(in)) {
        out.push_back(cast_node(in, in + "#h", 10));
        to16[in] = in + "#h";
        ++st.casts;
      }
      in = to16[in];
    }
    for (auto& o : n.outputs) {
      f16.insert(o);
      o += "#f16";
    }
    out.push_back(n);
    ++st.nodes;
  }
  for (auto& o : g.outputs)
    if (f16.count(o.name) && !has_f32.count(o.name)) {
      out.push_back(cast_node(o.name + "#f16", o.name, 1));
      has_f32.insert(o.name);
      ++st.casts;
    }
  g.nodes = std::move(out);
  for (auto& kv : new_inits) g.initializers[kv.first] = kv.second;
  return st;
}

}  // namespace ec
