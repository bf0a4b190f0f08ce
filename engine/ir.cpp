#include "ir.h"

#include <set>
#include <sstream>

#include "error.h"

namespace ec {

int64_t Node::attr_i(const std::string& a, int64_t dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.i;
}
float Node::attr_f(const std::string& a, float dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.f;
}
std::string Node::attr_s(const std::string& a, const std::string& dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.s;
}
std::vector<int64_t> Node::attr_ints(const std::string& a, std::vector<int64_t> dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.ints;
}
std::vector<float> Node::attr_floats(const std::string& a, std::vector<float> dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.floats;
}
const std::string& Node::in(size_t i) const {
  static const std::string none;
  return i < inputs.size() ? inputs[i] : none;
}
std::string Node::label() const { return "node '" + name + "' (" + op_type + ")"; }

bool ValueInfo::is_static() const {
  if (!has_shape) return false;
  for (const Dim& d : dims)
    if (d.value < 0) return false;
  return true;
}

Shape ValueInfo::shape_or(int64_t fill) const {
  Shape s;
  for (const Dim& d : dims) s.push_back(d.value >= 0 ? d.value : fill);
  return s;
}

std::string ValueInfo::dims_str() const {
  if (!has_shape) return "?";
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) o << ',';
    if (dims[i].value >= 0) o << dims[i].value;
    else o << (dims[i].param.empty() ? "?" : dims[i].param);
  }
  o << ']';
  return o.str();
}

int64_t Model::opset() const {
  auto it = opsets.find("");
  if (it != opsets.end()) return it->second;
  it = opsets.find("ai.onnx");
  return it == opsets.end() ? 0 : it->second;
}

void topo_sort(Graph& g, const std::string& where) {
  std::set<std::string> ready;
  for (auto& kv : g.initializers) ready.insert(kv.first);
  for (auto& v : g.inputs) ready.insert(v.name);
  ready.insert("");
  std::vector<Node> sorted;
  std::vector<bool> done(g.nodes.size(), false);
  sorted.reserve(g.nodes.size());
  bool progress = true;
  while (sorted.size() < g.nodes.size() && progress) {
    progress = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (done[i]) continue;
      bool ok = true;
      for (auto& in : g.nodes[i].inputs)
        if (!ready.count(in)) { ok = false; break; }
      if (!ok) continue;
      for (auto& out : g.nodes[i].outputs) ready.insert(out);
      sorted.push_back(g.nodes[i]);
      done[i] = true;
      progress = true;
    }
  }
  if (sorted.size() != g.nodes.size()) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (done[i]) continue;
      for (auto& in : g.nodes[i].inputs)
        if (!ready.count(in))
          throw Error(where + ": " + g.nodes[i].label() + ": input '" + in +
                      "' is not produced by any node, graph input or initializer (truncated or cyclic graph?)");
    }
  }
  for (auto& out : g.outputs)
    if (!ready.count(out.name))
      throw Error(where + ": graph output '" + out.name + "' is not produced by any node");
  g.nodes = std::move(sorted);
}

std::map<std::string, std::vector<size_t>> consumers(const Graph& g) {
  std::map<std::string, std::vector<size_t>> c;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (auto& in : g.nodes[i].inputs)
      if (!in.empty()) c[in].push_back(i);
  return c;
}

}  // namespace ec
