// The model IR: an ONNX graph held as plain structs (nodes in topological order, initializers as Tensors),
// independent of protobuf so passes (engine optimizations, compression) can edit it freely.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor.h"

namespace ec {

struct Attribute {
  enum class Kind { f, i, s, t, floats, ints, strings, unsupported };
  Kind kind = Kind::unsupported;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

struct Node {
  std::string name;  // given or generated ("Conv_7" for an unnamed node, see generated_name)
  std::string op_type;
  std::string domain;  // "" for the default ONNX domain
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;
  bool generated_name = false;  // the file had no name: not written back to ONNX

  bool has(const std::string& a) const { return attrs.count(a) != 0; }
  // Attribute `a`'s value, or `dflt` when the node has none. Each getter checks the attribute's ONNX type and
  // throws ec::Error naming the node, the attribute, the type found and the type wanted (a FLOAT where an INT
  // belongs is a broken or hostile file, not a 0). attr_f also takes an INT (exact up to 2^24).
  int64_t attr_i(const std::string& a, int64_t dflt) const;
  float attr_f(const std::string& a, float dflt) const;
  std::string attr_s(const std::string& a, const std::string& dflt) const;
  std::vector<int64_t> attr_ints(const std::string& a, std::vector<int64_t> dflt = {}) const;
  std::vector<float> attr_floats(const std::string& a, std::vector<float> dflt = {}) const;
  // The TENSOR attribute `a`; throws when it is missing or of another type.
  const Tensor& attr_t(const std::string& a) const;
  // Input i's name, or "" when absent.
  const std::string& in(size_t i) const;
  // "node 'conv_7' (Conv)" for messages.
  std::string label() const;
};

// One dimension of a declared graph input/output: a fixed value (>= 0) or a symbolic name.
struct Dim {
  int64_t value = -1;
  std::string param;
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::f32;
  std::vector<Dim> dims;
  bool has_shape = false;
  // True when every dimension is fixed.
  bool is_static() const;
  // Fixed dims as a Shape; symbolic ones become `fill`.
  Shape shape_or(int64_t fill) const;
  // "[1,3,H,W]"
  std::string dims_str() const;
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;                      // topological order
  std::map<std::string, Tensor> initializers;   // constant weights by value name
  std::vector<ValueInfo> inputs;                // runtime inputs only (initializers removed)
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_info;            // intermediate annotations kept for round trips
};

struct Model {
  Graph graph;
  std::map<std::string, int64_t> opsets;  // domain -> version ("" is ai.onnx)
  int64_t ir_version = 8;
  std::string producer_name, producer_version;
  std::map<std::string, std::string> metadata;
  std::string path;  // where it was loaded from (for messages)

  // The default-domain opset version (0 when missing).
  int64_t opset() const;
};

// ONNX name of an attribute kind ("INT", "FLOATS", ...), for messages.
const char* attr_kind_name(Attribute::Kind k);

// Sorts nodes topologically (Kahn's algorithm, O(edges log values), stable: ready nodes keep their file order).
// Throws ec::Error naming: a value that no node, input or initializer produces; a value produced twice; a
// cycle (one node on it and the value that closes it); a graph output that is never produced.
void topo_sort(Graph& g, const std::string& where);

// Names of nodes consuming each value.
std::map<std::string, std::vector<size_t>> consumers(const Graph& g);

}  // namespace ec
