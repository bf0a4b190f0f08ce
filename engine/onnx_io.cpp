#include "onnx_io.h"

#include "onnx_schema.pb.h"

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "archive.h"
#include "error.h"
#include "onnx_check.h"

namespace ec {
namespace {

namespace onnx = ec::onnxpb;

DType from_onnx_type(int32_t t, const std::string& where) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return DType::f32;
    case onnx::TensorProto::FLOAT16: return DType::f16;
    case onnx::TensorProto::DOUBLE: return DType::f64;
    case onnx::TensorProto::INT8: return DType::i8;
    case onnx::TensorProto::UINT8: return DType::u8;
    case onnx::TensorProto::INT16: return DType::i16;
    case onnx::TensorProto::UINT16: return DType::u16;
    case onnx::TensorProto::INT32: return DType::i32;
    case onnx::TensorProto::INT64: return DType::i64;
    case onnx::TensorProto::BOOL: return DType::boolean;
    default: break;
  }
  throw Error(where + ": tensor element type " + std::to_string(t) + " is not supported");
}

int32_t to_onnx_type(DType t) {
  switch (t) {
    case DType::f32: return onnx::TensorProto::FLOAT;
    case DType::f16: return onnx::TensorProto::FLOAT16;
    case DType::f64: return onnx::TensorProto::DOUBLE;
    case DType::i8: return onnx::TensorProto::INT8;
    case DType::u8: return onnx::TensorProto::UINT8;
    case DType::i16: return onnx::TensorProto::INT16;
    case DType::u16: return onnx::TensorProto::UINT16;
    case DType::i32: return onnx::TensorProto::INT32;
    case DType::i64: return onnx::TensorProto::INT64;
    case DType::boolean: return onnx::TensorProto::BOOL;
  }
  return onnx::TensorProto::UNDEFINED;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error(path + ": cannot open file (" + std::strerror(errno) + ")");
  const std::streamoff size = f.tellg();
  const uint64_t limit_mb = load_limits().max_model_mb;
  if (size > 0 && static_cast<uint64_t>(size) > limit_mb * 1024 * 1024)
    throw Error(path + ": " + std::to_string(static_cast<uint64_t>(size) / (1024 * 1024)) +
                " MiB, above the limit of " + std::to_string(limit_mb) + " MiB per model file (--max-model-mb)");
  f.seekg(0);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string dir_of(const std::string& path) {
  auto p = path.find_last_of('/');
  return p == std::string::npos ? std::string(".") : path.substr(0, p);
}

// A non-negative integer from an external_data entry; throws naming the tensor and the key.
int64_t external_int(const std::string& what, const std::string& key, const std::string& value) {
  int64_t v = -1;
  auto r = std::from_chars(value.data(), value.data() + value.size(), v);
  if (r.ec != std::errc() || r.ptr != value.data() + value.size() || v < 0)
    throw Error(what + ": external data " + key + " '" + value + "' is not a non-negative integer");
  return v;
}

// The file an external_data location names, which must lie inside the model's folder: a relative path without
// "..", and after symbolic links are followed still under the folder (a model must not read /etc/shadow or a
// neighbour's files because its author wrote their path).
std::string external_file(const std::string& what, const std::string& base_dir, const std::string& loc) {
  namespace fs = std::filesystem;
  if (loc.empty()) throw Error(what + ": external data has no location");
  const fs::path rel(loc);
  if (rel.is_absolute()) throw Error(what + ": external data location '" + loc + "' is absolute (it must be relative to the model's folder)");
  for (const auto& part : rel)
    if (part == "..") throw Error(what + ": external data location '" + loc + "' leaves the model's folder");
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(fs::path(base_dir), ec);
  const fs::path file = fs::weakly_canonical(fs::path(base_dir) / rel, ec);
  auto b = base.begin(), f = file.begin();
  for (; b != base.end(); ++b, ++f)
    if (f == file.end() || *b != *f)
      throw Error(what + ": external data location '" + loc + "' resolves to " + file.string() + ", outside the model's folder");
  return (fs::path(base_dir) / rel).string();
}

Tensor tensor_from_proto(const onnx::TensorProto& tp, const std::string& where, const std::string& base_dir) {
  std::string what = where + ": tensor '" + tp.name() + "'";
  DType dt = from_onnx_type(tp.data_type(), what);
  Shape shape(tp.dims().begin(), tp.dims().end());
  // sizes are checked against what the file holds before anything is allocated
  const size_t bytes = static_cast<size_t>(checked_tensor_bytes(dt, shape, what));
  const size_t n = bytes / dtype_size(dt);
  if (tp.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string loc;
    int64_t offset = 0, length = -1;
    for (auto& kv : tp.external_data()) {
      if (kv.key() == "location") loc = kv.value();
      else if (kv.key() == "offset") offset = external_int(what, "offset", kv.value());
      else if (kv.key() == "length") length = external_int(what, "length", kv.value());
    }
    const std::string file = external_file(what, base_dir, loc);
    if (length >= 0 && static_cast<size_t>(length) != bytes)
      throw Error(what + ": external data length " + std::to_string(length) + " != expected " + std::to_string(bytes));
    std::ifstream f(file, std::ios::binary | std::ios::ate);
    if (!f) throw Error(what + ": external data file '" + file + "' cannot be opened");
    const std::streamoff size = f.tellg();
    if (size < 0 || static_cast<uint64_t>(size) < static_cast<uint64_t>(offset) + bytes)
      throw Error(what + ": external data file '" + file + "' is too short (" + std::to_string(size) + " bytes, the tensor needs " +
                  std::to_string(bytes) + " from offset " + std::to_string(offset) + ")");
    Tensor t(dt, shape);
    f.seekg(offset);
    f.read(static_cast<char*>(t.data()), static_cast<std::streamsize>(bytes));
    if (static_cast<size_t>(f.gcount()) != bytes) throw Error(what + ": external data file '" + file + "' is too short");
    return t;
  }
  if (tp.has_raw_data()) {
    if (tp.raw_data().size() != bytes)
      throw Error(what + ": raw_data has " + std::to_string(tp.raw_data().size()) + " bytes, shape " +
                  shape_str(shape) + " needs " + std::to_string(bytes));
    Tensor t(dt, shape);
    std::memcpy(t.data(), tp.raw_data().data(), bytes);
    return t;
  }
  auto check = [&](size_t have) {
    if (have != n)
      throw Error(what + ": has " + std::to_string(have) + " values, shape " + shape_str(shape) + " needs " +
                  std::to_string(n));
  };
  switch (dt) {
    case DType::f32: check(tp.float_data_size()); break;
    case DType::f64: check(tp.double_data_size()); break;
    case DType::i64: check(tp.int64_data_size()); break;
    default: check(tp.int32_data_size()); break;
  }
  Tensor t(dt, shape);
  switch (dt) {
    case DType::f32: std::copy(tp.float_data().begin(), tp.float_data().end(), t.ptr<float>()); break;
    case DType::f64: std::copy(tp.double_data().begin(), tp.double_data().end(), t.ptr<double>()); break;
    case DType::i64: std::copy(tp.int64_data().begin(), tp.int64_data().end(), t.ptr<int64_t>()); break;
    case DType::i32: std::copy(tp.int32_data().begin(), tp.int32_data().end(), t.ptr<int32_t>()); break;
    case DType::i8: for (size_t i = 0; i < n; ++i) t.ptr<int8_t>()[i] = static_cast<int8_t>(tp.int32_data(static_cast<int>(i))); break;
    case DType::u8: case DType::boolean: for (size_t i = 0; i < n; ++i) t.ptr<uint8_t>()[i] = static_cast<uint8_t>(tp.int32_data(static_cast<int>(i))); break;
    case DType::i16: for (size_t i = 0; i < n; ++i) t.ptr<int16_t>()[i] = static_cast<int16_t>(tp.int32_data(static_cast<int>(i))); break;
    case DType::u16: case DType::f16: for (size_t i = 0; i < n; ++i) t.ptr<uint16_t>()[i] = static_cast<uint16_t>(tp.int32_data(static_cast<int>(i))); break;
  }
  return t;
}

void tensor_to_proto(const std::string& name, const Tensor& t, onnx::TensorProto* tp) {
  tp->set_name(name);
  tp->set_data_type(to_onnx_type(t.dtype()));
  for (int64_t d : t.shape()) tp->add_dims(d);
  tp->set_raw_data(std::string(static_cast<const char*>(t.data()), t.size_bytes()));
}

ValueInfo value_from_proto(const onnx::ValueInfoProto& vp, const std::string& where) {
  ValueInfo v;
  v.name = vp.name();
  if (vp.has_type() && vp.type().has_tensor_type()) {
    const auto& tt = vp.type().tensor_type();
    if (tt.elem_type() != 0) v.dtype = from_onnx_type(tt.elem_type(), where + ": value '" + v.name + "'");
    if (tt.has_shape()) {
      v.has_shape = true;
      Shape fixed;
      for (const auto& d : tt.shape().dim()) {
        Dim dim;
        if (d.has_dim_value()) {
          dim.value = d.dim_value();
          if (dim.value < 0)
            throw Error(where + ": value '" + v.name + "': negative dimension " + std::to_string(dim.value));
          fixed.push_back(dim.value);
        } else {
          dim.param = d.dim_param();
        }
        v.dims.push_back(dim);
      }
      // a declared shape the engine would allocate (symbolic dimensions count as 1 here)
      checked_tensor_bytes(v.dtype, fixed, where + ": value '" + v.name + "'");
    }
  }
  return v;
}

void value_to_proto(const ValueInfo& v, onnx::ValueInfoProto* vp) {
  vp->set_name(v.name);
  auto* tt = vp->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(to_onnx_type(v.dtype));
  if (v.has_shape) {
    auto* sh = tt->mutable_shape();
    for (const Dim& d : v.dims) {
      auto* pd = sh->add_dim();
      if (d.value >= 0) pd->set_dim_value(d.value);
      else if (!d.param.empty()) pd->set_dim_param(d.param);
    }
  }
}

Attribute attr_from_proto(const onnx::AttributeProto& ap, const std::string& where, const std::string& base_dir) {
  Attribute a;
  using AP = onnx::AttributeProto;
  switch (ap.type()) {
    case AP::FLOAT: a.kind = Attribute::Kind::f; a.f = ap.f(); break;
    case AP::INT: a.kind = Attribute::Kind::i; a.i = ap.i(); break;
    case AP::STRING: a.kind = Attribute::Kind::s; a.s = ap.s(); break;
    case AP::TENSOR: a.kind = Attribute::Kind::t; a.t = tensor_from_proto(ap.t(), where, base_dir); break;
    case AP::FLOATS: a.kind = Attribute::Kind::floats; a.floats.assign(ap.floats().begin(), ap.floats().end()); break;
    case AP::INTS: a.kind = Attribute::Kind::ints; a.ints.assign(ap.ints().begin(), ap.ints().end()); break;
    case AP::STRINGS: a.kind = Attribute::Kind::strings; a.strings.assign(ap.strings().begin(), ap.strings().end()); break;
    default: a.kind = Attribute::Kind::unsupported; break;
  }
  return a;
}

void attr_to_proto(const std::string& name, const Attribute& a, onnx::AttributeProto* ap) {
  using AP = onnx::AttributeProto;
  ap->set_name(name);
  switch (a.kind) {
    case Attribute::Kind::f: ap->set_type(AP::FLOAT); ap->set_f(a.f); break;
    case Attribute::Kind::i: ap->set_type(AP::INT); ap->set_i(a.i); break;
    case Attribute::Kind::s: ap->set_type(AP::STRING); ap->set_s(a.s); break;
    case Attribute::Kind::t: ap->set_type(AP::TENSOR); tensor_to_proto("", a.t, ap->mutable_t()); break;
    case Attribute::Kind::floats: ap->set_type(AP::FLOATS); for (float v : a.floats) ap->add_floats(v); break;
    case Attribute::Kind::ints: ap->set_type(AP::INTS); for (int64_t v : a.ints) ap->add_ints(v); break;
    case Attribute::Kind::strings: ap->set_type(AP::STRINGS); for (auto& v : a.strings) ap->add_strings(v); break;
    case Attribute::Kind::unsupported: break;
  }
}

}  // namespace

Model load_onnx(const std::string& path) { return load_onnx_bytes(read_file(path), path); }

Model load_onnx_bytes(const std::string& bytes, const std::string& name, bool check_graph) {
  if (bytes.empty()) throw Error(name + ": file is empty, not an ONNX model");
  if (is_archive(bytes)) return unpack_archive(bytes, name);
  onnx::ModelProto mp;
  if (!mp.ParseFromString(bytes))
    throw Error(name + ": not a valid ONNX model (protobuf parse failed: truncated or not ONNX)");
  if (!mp.has_graph() || mp.graph().node_size() == 0)
    throw Error(name + ": not a valid ONNX model (no graph or no nodes)");
  if (static_cast<uint64_t>(mp.graph().node_size()) > load_limits().max_nodes)
    throw Error(name + ": " + std::to_string(mp.graph().node_size()) + " nodes, above the limit of " +
                std::to_string(load_limits().max_nodes) + " (--max-nodes)");
  Model m;
  m.path = name;
  m.ir_version = mp.ir_version();
  m.producer_name = mp.producer_name();
  m.producer_version = mp.producer_version();
  for (const auto& op : mp.opset_import()) m.opsets[op.domain() == "ai.onnx" ? "" : op.domain()] = op.version();
  for (const auto& kv : mp.metadata_props()) m.metadata[kv.key()] = kv.value();
  int64_t opset = m.opset();
  if (opset == 0) throw Error(name + ": model declares no ai.onnx opset");
  if (opset > kMaxOpset)
    throw Error(name + ": opset " + std::to_string(opset) + " is newer than the newest supported (" +
                std::to_string(kMaxOpset) + ")");
  if (opset < kMinOpset)
    throw Error(name + ": opset " + std::to_string(opset) + " is older than the oldest supported (" +
                std::to_string(kMinOpset) + ")");

  const std::string base = dir_of(name);
  const auto& gp = mp.graph();
  Graph& g = m.graph;
  g.name = gp.name();
  for (const auto& tp : gp.initializer()) g.initializers[tp.name()] = tensor_from_proto(tp, name, base);
  for (const auto& vp : gp.input())
    if (!g.initializers.count(vp.name())) g.inputs.push_back(value_from_proto(vp, name));
  for (const auto& vp : gp.output()) g.outputs.push_back(value_from_proto(vp, name));
  for (const auto& vp : gp.value_info()) g.value_info.push_back(value_from_proto(vp, name));
  int idx = 0;
  for (const auto& np : gp.node()) {
    Node n;
    n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(idx) : np.name();
    n.generated_name = np.name().empty();
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& ap : np.attribute()) n.attrs[ap.name()] = attr_from_proto(ap, name + ": " + n.label(), base);
    g.nodes.push_back(std::move(n));
    ++idx;
  }
  if (g.outputs.empty()) throw Error(name + ": graph has no outputs");
  if (check_graph) topo_sort(g, name);
  return m;
}

static onnx::ModelProto to_proto(const Model& m) {
  onnx::ModelProto mp;
  mp.set_ir_version(m.ir_version > 0 ? m.ir_version : 8);
  mp.set_producer_name(m.producer_name.empty() ? "edgecompress" : m.producer_name);
  mp.set_producer_version(m.producer_version);
  for (auto& kv : m.opsets) {
    auto* op = mp.add_opset_import();
    op->set_domain(kv.first);
    op->set_version(kv.second);
  }
  for (auto& kv : m.metadata) {
    auto* p = mp.add_metadata_props();
    p->set_key(kv.first);
    p->set_value(kv.second);
  }
  auto* gp = mp.mutable_graph();
  gp->set_name(m.graph.name.empty() ? "graph" : m.graph.name);
  for (auto& v : m.graph.inputs) value_to_proto(v, gp->add_input());
  for (auto& v : m.graph.outputs) value_to_proto(v, gp->add_output());
  for (auto& v : m.graph.value_info) value_to_proto(v, gp->add_value_info());
  for (auto& kv : m.graph.initializers) tensor_to_proto(kv.first, kv.second, gp->add_initializer());
  for (auto& n : m.graph.nodes) {
    auto* np = gp->add_node();
    if (!n.generated_name && !n.name.empty()) np->set_name(n.name);
    np->set_op_type(n.op_type);
    if (!n.domain.empty()) np->set_domain(n.domain);
    for (auto& i : n.inputs) np->add_input(i);
    for (auto& o : n.outputs) np->add_output(o);
    for (auto& kv : n.attrs) attr_to_proto(kv.first, kv.second, np->add_attribute());
  }
  return mp;
}

std::string to_onnx_bytes(const Model& m) {
  std::string out;
  if (!to_proto(m).SerializeToString(&out)) throw Error(m.path + ": could not serialise the model");
  return out;
}

std::string check_onnx(const Model& m) {
  const onnx::ModelProto mp = to_proto(m);
  std::string bytes;
  if (!mp.SerializeToString(&bytes)) return "the model could not be serialised";
  return check_onnx_bytes(bytes);
}

void save_onnx(const Model& m, const std::string& path) {
  std::string why = check_onnx(m);
  if (!why.empty()) throw Error(path + ": ONNX checker rejected the model: " + why);
  std::string bytes = to_onnx_bytes(m);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(path + ": cannot write (" + std::strerror(errno) + ")");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.flush();
  if (!f) throw Error(path + ": write failed (" + std::strerror(errno) + ")");
}

}  // namespace ec
