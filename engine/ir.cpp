#include "ir.h"

#include <set>
#include <sstream>

#include "error.h"

namespace ec {

const char* attr_kind_name(Attribute::Kind k) {
  switch (k) {
    case Attribute::Kind::f: return "FLOAT";
    case Attribute::Kind::i: return "INT";
    case Attribute::Kind::s: return "STRING";
    case Attribute::Kind::t: return "TENSOR";
    case Attribute::Kind::floats: return "FLOATS";
    case Attribute::Kind::ints: return "INTS";
    case Attribute::Kind::strings: return "STRINGS";
    case Attribute::Kind::unsupported: break;
  }
  return "an unsupported type";
}

namespace {
// The attribute `a` of `n` when it exists and is of kind `want` (or `also`); nullptr when absent; throws when
// it has another kind.
const Attribute* typed(const Node& n, const std::string& a, Attribute::Kind want,
                       Attribute::Kind also = Attribute::Kind::unsupported) {
  auto it = n.attrs.find(a);
  if (it == n.attrs.end()) return nullptr;
  const Attribute::Kind k = it->second.kind;
  if (k != want && (also == Attribute::Kind::unsupported || k != also))
    throw Error(n.label() + ": attribute '" + a + "' is " + attr_kind_name(k) + ", expected " +
                attr_kind_name(want));
  return &it->second;
}
}  // namespace

int64_t Node::attr_i(const std::string& a, int64_t dflt) const {
  const Attribute* at = typed(*this, a, Attribute::Kind::i);
  return at ? at->i : dflt;
}
float Node::attr_f(const std::string& a, float dflt) const {
  const Attribute* at = typed(*this, a, Attribute::Kind::f, Attribute::Kind::i);
  if (!at) return dflt;
  return at->kind == Attribute::Kind::i ? static_cast<float>(at->i) : at->f;
}
std::string Node::attr_s(const std::string& a, const std::string& dflt) const {
  const Attribute* at = typed(*this, a, Attribute::Kind::s);
  return at ? at->s : dflt;
}
std::vector<int64_t> Node::attr_ints(const std::string& a, std::vector<int64_t> dflt) const {
  const Attribute* at = typed(*this, a, Attribute::Kind::ints);
  return at ? at->ints : dflt;
}
std::vector<float> Node::attr_floats(const std::string& a, std::vector<float> dflt) const {
  const Attribute* at = typed(*this, a, Attribute::Kind::floats);
  return at ? at->floats : dflt;
}
const Tensor& Node::attr_t(const std::string& a) const {
  const Attribute* at = typed(*this, a, Attribute::Kind::t);
  if (!at) throw Error(label() + ": attribute '" + a + "' is missing");
  return at->t;
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
  const size_t n = g.nodes.size();
  std::map<std::string, size_t> producer;  // value -> node index
  std::set<std::string> given;              // initializers, graph inputs, "" (an omitted optional input)
  for (auto& kv : g.initializers) given.insert(kv.first);
  for (auto& v : g.inputs) given.insert(v.name);
  given.insert("");
  for (size_t i = 0; i < n; ++i)
    for (auto& out : g.nodes[i].outputs) {
      if (out.empty()) continue;
      if (given.count(out))
        throw Error(where + ": " + g.nodes[i].label() + ": output '" + out +
                    "' is also a graph input or initializer (a value has one producer)");
      auto ins = producer.emplace(out, i);
      if (!ins.second)
        throw Error(where + ": " + g.nodes[i].label() + ": output '" + out + "' is already produced by " +
                    g.nodes[ins.first->second].label());
    }
  // pending[i]: inputs of node i still to be produced; users[j]: nodes waiting for node j (one entry per input)
  std::vector<size_t> pending(n, 0);
  std::vector<std::vector<size_t>> users(n);
  for (size_t i = 0; i < n; ++i)
    for (auto& in : g.nodes[i].inputs) {
      if (given.count(in)) continue;
      auto p = producer.find(in);
      if (p == producer.end())
        throw Error(where + ": " + g.nodes[i].label() + ": input '" + in +
                    "' is not produced by any node, graph input or initializer (truncated graph?)");
      ++pending[i];
      users[p->second].push_back(i);
    }
  std::set<size_t> ready;  // ordered: the earliest node in the file first
  for (size_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.insert(i);
  std::vector<size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    const size_t i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    for (size_t u : users[i])
      if (--pending[u] == 0) ready.insert(u);
  }
  if (order.size() != n) {
    // every node left waits on another node left: follow first waiting inputs until a node repeats
    std::vector<bool> placed(n, false);
    for (size_t i : order) placed[i] = true;
    size_t at = 0;
    while (placed[at]) ++at;
    std::vector<int> seen(n, -1);
    std::string via;
    for (int step = 0; seen[at] < 0; ++step) {
      seen[at] = step;
      for (auto& in : g.nodes[at].inputs) {
        auto p = producer.find(in);
        if (p != producer.end() && !placed[p->second]) {
          via = in;
          at = p->second;
          break;
        }
      }
    }
    throw Error(where + ": " + g.nodes[at].label() + " is on a cycle (through value '" + via + "'): " +
                std::to_string(n - order.size()) + " nodes can never run");
  }
  std::set<std::string> produced(given);
  for (auto& kv : producer) produced.insert(kv.first);
  for (auto& out : g.outputs)
    if (!produced.count(out.name))
      throw Error(where + ": graph output '" + out.name + "' is not produced by any node");
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (size_t i : order) sorted.push_back(std::move(g.nodes[i]));
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
