#include "pass.h"

#include <algorithm>
#include <set>

#include "error.h"

namespace ec::compress {

double StepParams::number(const std::string& key, double dflt) const {
  auto it = values.find(key);
  if (it == values.end()) return dflt;
  try {
    size_t used = 0;
    double v = std::stod(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument("trailing");
    return v;
  } catch (const std::exception&) {
    throw Error(where + ": '" + key + "' = '" + it->second + "' is not a number");
  }
}

std::string StepParams::text(const std::string& key, const std::string& dflt) const {
  auto it = values.find(key);
  return it == values.end() ? dflt : it->second;
}

std::vector<std::string> StepParams::list(const std::string& key) const {
  auto it = lists.find(key);
  if (it != lists.end()) return it->second;
  auto v = values.find(key);
  return v == values.end() ? std::vector<std::string>{} : std::vector<std::string>{v->second};
}

size_t compact_names(Model& m) {
  Graph& g = m.graph;
  std::map<std::string, std::string> rename;
  std::set<std::string> keep;
  for (auto& v : g.inputs) keep.insert(v.name);
  for (auto& v : g.outputs) keep.insert(v.name);
  size_t saved = 0;
  size_t next_id = 0;
  auto fresh = [&](const std::string& old) -> std::string {
    if (old.empty() || keep.count(old)) return old;
    auto it = rename.find(old);
    if (it != rename.end()) return it->second;
    // a kept name (a graph input or output) may itself look like a short id ("t229" from another tool)
    std::string n;
    do n = "t" + std::to_string(next_id++);
    while (keep.count(n));
    saved += old.size() > n.size() ? old.size() - n.size() : 0;
    rename[old] = n;
    return n;
  };
  std::map<std::string, Tensor> inits;
  for (auto& kv : g.initializers) inits[fresh(kv.first)] = kv.second;
  g.initializers = std::move(inits);
  int k = 0;
  auto all_equal = [](const std::vector<int64_t>& v, int64_t x) {
    for (int64_t e : v)
      if (e != x) return false;
    return true;
  };
  for (Node& n : g.nodes) {
    if (n.op_type == "Conv" && n.domain.empty()) {  // attributes equal to ONNX defaults carry no information
      for (const char* a : {"dilations", "strides"})
        if (n.has(a) && all_equal(n.attrs[a].ints, 1)) n.attrs.erase(a);
      if (n.has("pads") && all_equal(n.attrs["pads"].ints, 0)) n.attrs.erase("pads");
      if (n.has("group") && n.attrs["group"].i == 1) n.attrs.erase("group");
      if (n.has("auto_pad") && n.attrs["auto_pad"].s == "NOTSET") n.attrs.erase("auto_pad");
      if (n.has("kernel_shape") && n.inputs.size() > 1 && g.initializers.count(n.inputs[1])) n.attrs.erase("kernel_shape");  // from W
    }
    for (auto& i : n.inputs) i = fresh(i);
    for (auto& o : n.outputs) o = fresh(o);
    saved += n.name.size();
    n.name.clear();  // node names are optional in ONNX; messages then say "Conv_7" (op and position)
    ++k;
  }
  g.value_info.clear();  // optional intermediate shape annotations: shapes are inferred at load
  return saved;
}

const std::map<std::string, PassInfo>& passes() {
  static const std::map<std::string, PassInfo> r = [] {
    std::map<std::string, PassInfo> m;
    register_quantize_passes(m);
    register_prune_passes(m);
    register_lowrank_passes(m);
    register_share_passes(m);
    register_structured_passes(m);
    register_train_passes(m);
    return m;
  }();
  return r;
}

std::string run_pass(const std::string& name, Model& m, const StepParams& p, PassContext& ctx) {
  auto it = passes().find(name);
  if (it == passes().end()) {
    std::string known;
    for (auto& kv : passes()) known += (known.empty() ? "" : ", ") + kv.first;
    throw Error(p.where + ": unknown recipe step '" + name + "' (known: " + known + ")");
  }
  const PassInfo& info = it->second;
  for (auto& kv : p.values)
    if (std::find(info.params.begin(), info.params.end(), kv.first) == info.params.end())
      throw Error(p.where + ": step '" + name + "' has no parameter '" + kv.first + "'");
  for (auto& kv : p.lists)
    if (std::find(info.params.begin(), info.params.end(), kv.first) == info.params.end())
      throw Error(p.where + ": step '" + name + "' has no parameter '" + kv.first + "'");
  if (info.needs_calibration && ctx.calibration.empty())
    throw Error(p.where + ": step '" + name + "' needs calibration data (--calib SOURCE or calibration: in the recipe)");
  return info.fn(m, p, ctx);
}

}  // namespace ec::compress
