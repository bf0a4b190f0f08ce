#include "analysis.h"

#include <set>

#include "engine.h"
#include "error.h"

namespace ec {

ModelStats analyze_model(const Model& m, const std::map<std::string, Shape>& input_shapes) {
  ModelStats st;
  const Graph& g = m.graph;
  for (auto& kv : g.initializers) {
    st.weight_bytes[dtype_name(kv.second.dtype())] += kv.second.size_bytes();
    st.weight_bytes_total += kv.second.size_bytes();
  }
  std::map<std::string, Shape> shapes = input_shapes;
  for (auto& in : g.inputs)
    if (!shapes.count(in.name)) shapes[in.name] = in.shape_or(1);
  st.input_shapes = shapes;

  std::unique_ptr<Engine> eng;
  try {
    EngineOptions o;
    o.optimize = false;
    eng = create_engine("native", m, o);
    eng->prepare(shapes);
    st.shapes_known = true;
    for (size_t i = 0; i < eng->num_outputs(); ++i) st.output_shapes[eng->output_info(i).name] = eng->output(i).shape();
  } catch (const Error& e) {
    st.shape_error = e.what();
    eng.reset();
  }
  auto shape_of = [&](const std::string& v, Shape& s) -> bool {
    auto it = g.initializers.find(v);
    if (it != g.initializers.end()) { s = it->second.shape(); return true; }
    return eng && eng->value_shape(v, s);
  };

  std::set<std::string> counted;
  for (const Node& n : g.nodes) {
    ++st.op_histogram[n.op_type];
    LayerStats ls;
    ls.name = n.name;
    ls.op = n.op_type;
    for (const std::string& in : n.inputs) {
      auto it = g.initializers.find(in);
      if (it == g.initializers.end()) continue;
      const Tensor& t = it->second;
      if (t.dtype() != DType::f32 && t.dtype() != DType::f16 && t.dtype() != DType::i8 && t.dtype() != DType::u8) continue;
      if (t.dtype() == DType::u8 || t.dtype() == DType::i8) {
        if (t.numel() <= 1) continue;  // zero points are not parameters
      }
      if (n.op_type == "Reshape" || n.op_type == "Slice" || n.op_type == "Resize" || n.op_type == "Pad" ||
          n.op_type == "QuantizeLinear" || (n.op_type == "DequantizeLinear" && in != n.in(0)))
        continue;  // shape/scale operands, not weights
      int64_t zeros = 0;
      auto v = t.to_f64();
      for (double x : v) zeros += x == 0.0;
      ls.params += t.numel();
      ls.zero_params += zeros;
      if (counted.insert(in).second) {
        st.params += t.numel();
        st.zero_params += zeros;
      }
    }
    Shape y, x, w;
    if (!n.outputs.empty()) shape_of(n.outputs[0], y);
    ls.out_shape = y;
    if (st.shapes_known) {
      if (n.op_type == "Conv" && shape_of(n.in(1), w) && w.size() >= 3) {
        int64_t k = 1;
        for (size_t d = 1; d < w.size(); ++d) k *= w[d];
        ls.macs = numel(y) * k;
      } else if (n.op_type == "ConvTranspose" && shape_of(n.in(0), x) && shape_of(n.in(1), w) && w.size() >= 3) {
        int64_t k = 1;
        for (size_t d = 1; d < w.size(); ++d) k *= w[d];
        ls.macs = numel(x) * k;  // every input pixel scatters Cout/g * kh * kw products
      } else if (n.op_type == "Gemm" && shape_of(n.in(0), x) && x.size() == 2) {
        ls.macs = numel(y) * (n.attr_i("transA", 0) ? x[0] : x[1]);
      } else if ((n.op_type == "MatMul" || n.op_type == "MatMulInteger") && shape_of(n.in(0), x) && !x.empty()) {
        ls.macs = numel(y) * x.back();
      }
    }
    st.macs += ls.macs;
    st.layers.push_back(ls);
  }
  return st;
}

}  // namespace ec
