#include "onnx_check.h"

#include <set>
#include <string>

#include "onnx_schema.pb.h"

namespace ec {

#ifdef EC_HAVE_ONNX_CHECKER
// engine/onnx_check_libonnx.cpp (built only with a libonnx whose checker knows the IR version we write)
std::string libonnx_check_bytes(const std::string& bytes);
std::string libonnx_version();
#endif

namespace {

namespace pb = ec::onnxpb;

size_t element_bytes(int32_t t) {
  switch (t) {
    case pb::TensorProto::FLOAT: case pb::TensorProto::INT32: case pb::TensorProto::UINT32: return 4;
    case pb::TensorProto::UINT8: case pb::TensorProto::INT8: case pb::TensorProto::BOOL: return 1;
    case pb::TensorProto::UINT16: case pb::TensorProto::INT16: case pb::TensorProto::FLOAT16:
    case pb::TensorProto::BFLOAT16: return 2;
    case pb::TensorProto::INT64: case pb::TensorProto::DOUBLE: case pb::TensorProto::UINT64:
    case pb::TensorProto::COMPLEX64: return 8;
    case pb::TensorProto::COMPLEX128: return 16;
    default: return 0;
  }
}

std::string check_tensor(const pb::TensorProto& t, const std::string& what) {
  if (!t.has_data_type() || t.data_type() == pb::TensorProto::UNDEFINED)
    return what + ": field 'data_type' is required but missing";
  const size_t eb = element_bytes(t.data_type());
  if (t.data_type() == pb::TensorProto::STRING) return "";
  if (eb == 0) return what + ": unknown data_type " + std::to_string(t.data_type());
  if (t.data_location() == pb::TensorProto::EXTERNAL) {
    for (const auto& kv : t.external_data())
      if (kv.key() == "location") return kv.value().empty() ? what + ": external data has an empty location" : "";
    return what + ": external data without a 'location'";
  }
  unsigned long long n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0) return what + ": negative dimension " + std::to_string(d);
    n *= static_cast<unsigned long long>(d);
  }
  if (t.has_raw_data()) {
    if (t.raw_data().size() != n * eb)
      return what + ": raw_data has " + std::to_string(t.raw_data().size()) + " bytes, its shape needs " + std::to_string(n * eb);
    return "";
  }
  const unsigned long long have = static_cast<unsigned long long>(t.float_data_size() + t.int32_data_size() + t.int64_data_size() +
                                                                  t.double_data_size() + t.uint64_data_size());
  if (have != n) return what + ": has " + std::to_string(have) + " values, its shape needs " + std::to_string(n);
  return "";
}

std::string check_value_info(const pb::ValueInfoProto& v, const std::string& what) {
  if (v.name().empty()) return what + ": a value without a name";
  if (!v.has_type() || !v.type().has_tensor_type()) return what + " '" + v.name() + "': field 'type' is required but missing";
  if (v.type().tensor_type().elem_type() == 0) return what + " '" + v.name() + "': tensor element type is missing";
  return "";
}

std::string check_attribute(const pb::AttributeProto& a, const std::string& where) {
  using A = pb::AttributeProto;
  if (a.name().empty()) return where + ": an attribute without a name";
  const std::string what = where + ": attribute '" + a.name() + "'";
  if (!a.has_type() || a.type() == A::UNDEFINED) return what + ": field 'type' is required but missing";
  if (!a.ref_attr_name().empty()) return "";
  bool ok = true;
  switch (a.type()) {
    case A::FLOAT: ok = a.has_f(); break;
    case A::INT: ok = a.has_i(); break;
    case A::STRING: ok = a.has_s(); break;
    case A::TENSOR: ok = a.has_t(); if (ok) { std::string r = check_tensor(a.t(), what); if (!r.empty()) return r; } break;
    case A::FLOATS: ok = a.ints_size() == 0 && a.strings_size() == 0; break;
    case A::INTS: ok = a.floats_size() == 0 && a.strings_size() == 0; break;
    case A::STRINGS: ok = a.floats_size() == 0 && a.ints_size() == 0; break;
    default: break;  // graphs, sparse tensors, type protos: not read by this schema
  }
  return ok ? "" : what + ": its value is not in the field its type " + std::to_string(a.type()) + " names";
}

}  // namespace

std::string structural_check_onnx_bytes(const std::string& bytes) {
  pb::ModelProto mp;
  if (!mp.ParseFromString(bytes)) return "not a parseable ONNX ModelProto";
  if (!mp.has_ir_version() || mp.ir_version() < 3) return "model: ir_version " + std::to_string(mp.ir_version()) + " is missing or older than 3";
  bool default_opset = false;
  for (const auto& op : mp.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") default_opset = default_opset || op.version() > 0;
  if (!default_opset) return "model: no opset_import for the default (ai.onnx) domain";
  if (!mp.has_graph()) return "model: field 'graph' is required but missing";
  const pb::GraphProto& g = mp.graph();
  if (g.name().empty()) return "graph: field 'name' is required but missing";
  if (g.output_size() == 0) return "graph: has no outputs";
  std::set<std::string> defined;
  for (const auto& t : g.initializer()) {
    if (t.name().empty()) return "graph: an initializer without a name";
    std::string r = check_tensor(t, "initializer '" + t.name() + "'");
    if (!r.empty()) return r;
    if (!defined.insert(t.name()).second) return "graph: initializer '" + t.name() + "' is defined twice";
  }
  for (const auto& v : g.input()) {
    std::string r = check_value_info(v, "graph input");
    if (!r.empty()) return r;
    defined.insert(v.name());  // an input may repeat an initializer's name (IR < 4 style)
  }
  int idx = 0;
  for (const auto& n : g.node()) {
    const std::string where = "node " + std::to_string(idx) + " '" + n.name() + "' (" + n.op_type() + ")";
    if (n.op_type().empty()) return where + ": field 'op_type' is required but missing";
    for (const auto& a : n.attribute()) {
      std::string r = check_attribute(a, where);
      if (!r.empty()) return r;
    }
    for (const auto& in : n.input())
      if (!in.empty() && !defined.count(in))
        return where + ": input '" + in + "' is not produced before this node (graph not in topological order, or undefined)";
    for (const auto& out : n.output()) {
      if (out.empty()) continue;
      if (!defined.insert(out).second) return where + ": output '" + out + "' is already defined (values are assigned once)";
    }
    ++idx;
  }
  for (const auto& v : g.output()) {
    std::string r = check_value_info(v, "graph output");
    if (!r.empty()) return r;
    if (!defined.count(v.name())) return "graph output '" + v.name() + "' is not produced by any node, input or initializer";
  }
  return "";
}

std::string check_onnx_bytes(const std::string& bytes) {
  std::string why = structural_check_onnx_bytes(bytes);
  if (!why.empty()) return why;
#ifdef EC_HAVE_ONNX_CHECKER
  return libonnx_check_bytes(bytes);
#else
  return "";
#endif
}

std::string onnx_checker_name() {
#ifdef EC_HAVE_ONNX_CHECKER
  return "onnx::checker (libonnx " + libonnx_version() + ") after edgecompress's structural checks";
#else
  return "structural (edgecompress; libonnx-dev missing or too old for IR 8)";
#endif
}

}  // namespace ec
