#include "engine.h"

#include <mutex>

#include "error.h"

namespace ec {
namespace {

std::map<std::string, EngineFactory>& registry() {
  static std::map<std::string, EngineFactory> r;
  return r;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

void register_builtins_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    registry()["native"] = create_native_engine;
    // the reference kernels only (NCHW, no XNNPACK): the check for every fast path, and its baseline
    registry()["native-ref"] = [](const Model& m, const EngineOptions& o) {
      EngineOptions r = o;
      r.xnnpack = false;
      return create_native_engine(m, r);
    };
    registry()["opencv"] = create_opencv_engine;
  });
}

}  // namespace

size_t Engine::input_index(const std::string& name) const {
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (inputs_[i].name == name) return i;
  throw Error("model has no input named '" + name + "'");
}

size_t Engine::output_index(const std::string& name) const {
  for (size_t i = 0; i < outputs_.size(); ++i)
    if (outputs_[i].name == name) return i;
  throw Error("model has no output named '" + name + "'");
}

std::vector<Shape> Engine::resolve_input_shapes(const std::map<std::string, Shape>& shapes, const std::string& where) const {
  for (auto& kv : shapes) {
    bool found = false;
    for (auto& in : inputs_) found = found || in.name == kv.first;
    if (!found) throw Error(where + ": model has no input named '" + kv.first + "'");
  }
  std::vector<Shape> r;
  for (const ValueInfo& in : inputs_) {
    auto it = shapes.find(in.name);
    if (it == shapes.end()) {
      if (!in.is_static())
        throw Error(where + ": input '" + in.name + "' has dynamic shape " + in.dims_str() + ": give its shape (--shape)");
      r.push_back(in.shape_or(0));
      continue;
    }
    const Shape& s = it->second;
    if (in.has_shape) {
      bool ok = s.size() == in.dims.size();
      for (size_t d = 0; ok && d < s.size(); ++d) ok = in.dims[d].value < 0 || in.dims[d].value == s[d];
      if (!ok)
        throw Error(where + ": input '" + in.name + "': shape " + shape_str(s) + " does not match the model's " + in.dims_str());
    }
    for (int64_t d : s)
      if (d <= 0) throw Error(where + ": input '" + in.name + "': shape " + shape_str(s) + " has a non-positive dimension");
    r.push_back(s);
  }
  return r;
}

void register_backend(const std::string& name, EngineFactory f) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  register_builtins_once();
  registry()[name] = std::move(f);
}

std::vector<std::string> backend_names() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  register_builtins_once();
  std::vector<std::string> r;
  for (auto& kv : registry()) r.push_back(kv.first);
  return r;
}

std::unique_ptr<Engine> create_engine(const std::string& name, const Model& model, const EngineOptions& opts) {
  EngineFactory f;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    register_builtins_once();
    auto it = registry().find(name);
    if (it == registry().end()) {
      std::string known;
      for (auto& kv : registry()) known += (known.empty() ? "" : ", ") + kv.first;
      throw Error("backend '" + name + "' is not known (available: " + known + ")");
    }
    f = it->second;
  }
  return f(model, opts);
}

}  // namespace ec
