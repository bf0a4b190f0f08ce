#include "structured.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <set>

#include "engine.h"
#include "error.h"
#include "pass.h"

namespace ec::compress {
namespace {

struct Analysis {
  std::map<std::string, int64_t> chans, base;  // tracked values: channel count, first id
  std::map<std::string, size_t> rank;
  std::vector<int> parent;
  std::vector<bool> blocked;
  std::vector<std::pair<std::string, int64_t>> id_to;
  std::map<std::string, size_t> producer;  // value -> Conv (group 1) or ConstantOfShape node index
  int find(int a) {
    while (parent[static_cast<size_t>(a)] != a) a = parent[static_cast<size_t>(a)] = parent[static_cast<size_t>(parent[static_cast<size_t>(a)])];
    return a;
  }
  void unite(int a, int b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[static_cast<size_t>(a)] = b;
  }
  bool tracked(const std::string& v) const { return chans.count(v) != 0; }
  int id(const std::string& v, int64_t c) const { return static_cast<int>(base.at(v) + c); }
  void block(const std::string& v) {
    if (!tracked(v)) return;
    for (int64_t c = 0; c < chans[v]; ++c) blocked[static_cast<size_t>(id(v, c))] = true;
  }
  void unite_all(const std::string& a, const std::string& b) {
    if (!tracked(a) || !tracked(b) || chans[a] != chans[b]) {
      block(a);
      block(b);
      return;
    }
    for (int64_t c = 0; c < chans[a]; ++c) unite(id(a, c), id(b, c));
  }
};

bool is_unary(const std::string& op) {
  static const std::set<std::string> u = {"Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Identity", "Dropout",
                                          "Elu", "Selu", "Softplus", "Mish", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
                                          "Neg", "Abs", "Exp", "Sqrt", "Floor", "Ceil"};
  return u.count(op) != 0;
}

bool is_binary(const std::string& op) { return op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Max" || op == "Min"; }

// A per-channel constant of a C-channel value of rank `rank`: [1,C,1,1] or [C,1,1] for NCHW, [C] or [1,C]
// for [N, features]. Returns the constant's channel axis, or -1.
int per_channel_axis(const Graph& g, const std::string& name, int64_t c, size_t rank) {
  auto it = g.initializers.find(name);
  if (it == g.initializers.end() || c <= 1) return -1;
  const Shape& s = it->second.shape();
  if (rank == 4 && s.size() == 4 && s[0] == 1 && s[1] == c && s[2] == 1 && s[3] == 1) return 1;
  if (rank == 4 && s.size() == 3 && s[0] == c && s[1] == 1 && s[2] == 1) return 0;
  if (rank == 2 && s.size() == 1 && s[0] == c) return 0;
  if (rank == 2 && s.size() == 2 && s[0] == 1 && s[1] == c) return 1;
  return -1;
}

Analysis analyse(const Model& m) {
  Analysis a;
  EngineOptions eo;
  eo.optimize = false;
  auto eng = create_engine("native", m, eo);
  std::map<std::string, Shape> shapes;
  for (auto& in : m.graph.inputs) shapes[in.name] = in.shape_or(1);
  eng->prepare(shapes);
  const Graph& g = m.graph;
  auto track = [&](const std::string& v) {
    if (v.empty() || a.tracked(v) || g.initializers.count(v)) return;
    Shape s;
    if (!eng->value_shape(v, s) || (s.size() != 4 && s.size() != 2)) return;  // NCHW channels or [N, features]
    a.chans[v] = s[1];
    a.rank[v] = s.size();
    a.base[v] = static_cast<int64_t>(a.parent.size());
    for (int64_t c = 0; c < s[1]; ++c) {
      a.parent.push_back(static_cast<int>(a.parent.size()));
      a.blocked.push_back(false);
      a.id_to.push_back({v, c});
    }
  };
  for (auto& in : g.inputs) track(in.name);
  for (const Node& n : g.nodes)
    for (auto& o : n.outputs) track(o);
  for (auto& in : g.inputs) a.block(in.name);
  for (auto& out : g.outputs) a.block(out.name);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const std::string x = n.in(0), y = n.outputs.empty() ? "" : n.outputs[0];
    if (n.op_type == "Gemm" && a.tracked(x) && a.tracked(y) && g.initializers.count(n.in(1)) && n.attr_i("transA", 0) == 0 &&
        (n.in(2).empty() || (g.initializers.count(n.in(2)) && g.initializers.at(n.in(2)).numel() == a.chans[y]))) {
      a.producer[y] = i;  // output features are weight columns (rows with transB)
      continue;
    }
    if (n.op_type == "Conv" && a.tracked(x) && a.tracked(y) && g.initializers.count(n.in(1)) && (n.in(2).empty() || g.initializers.count(n.in(2)))) {
      const int64_t grp = n.attr_i("group", 1);
      if (grp == 1) {
        a.producer[y] = i;
        continue;
      }
      if (grp == a.chans[x] && a.chans[x] == a.chans[y]) {  // depthwise: channel c in -> channel c out
        a.unite_all(x, y);
        continue;
      }
    } else if (is_unary(n.op_type) && a.tracked(x) && a.tracked(y)) {
      a.unite_all(x, y);
      for (size_t k = 1; k < n.outputs.size(); ++k) a.block(n.outputs[k]);
      continue;
    } else if (n.op_type == "BatchNormalization" && a.tracked(x) && a.tracked(y) && n.outputs.size() == 1) {
      bool consts = true;
      for (size_t k = 1; k < 5; ++k) consts = consts && g.initializers.count(n.in(k));
      if (consts) {
        a.unite_all(x, y);
        continue;
      }
    } else if (is_binary(n.op_type) && a.tracked(y)) {
      bool ok = true;
      for (const std::string& in : n.inputs) {
        if (a.tracked(in) && a.chans[in] == a.chans[y] && a.rank[in] == a.rank[y]) a.unite_all(in, y);
        else if (per_channel_axis(g, in, a.chans[y], a.rank[y]) >= 0) continue;
        else if (g.initializers.count(in) && g.initializers.at(in).numel() == 1) continue;
        else ok = false;
      }
      if (ok) continue;
    } else if (n.op_type == "Concat" && a.tracked(y) && (n.attr_i("axis", 0) == 1 || n.attr_i("axis", 0) == -3)) {
      int64_t off = 0;
      bool ok = true;
      for (const std::string& in : n.inputs) ok = ok && a.tracked(in);
      if (ok) {
        for (const std::string& in : n.inputs) {
          for (int64_t c = 0; c < a.chans[in]; ++c) a.unite(a.id(in, c), a.id(y, off + c));
          off += a.chans[in];
        }
        continue;
      }
    } else if (n.op_type == "ConstantOfShape" && a.tracked(y) && g.initializers.count(n.in(0))) {
      a.producer[y] = i;  // zeros: channels cost nothing to remove (the shape is rewritten)
      continue;
    }
    // anything else: the channels of its 4-D inputs and outputs stay as they are
    for (const std::string& in : n.inputs) a.block(in);
    for (const std::string& o : n.outputs) a.block(o);
  }
  return a;
}

double filter_norm(const Tensor& w, int64_t c, bool l2, bool columns = false) {
  double s = 0;
  if (columns) {  // Gemm weight [K, N]: output feature c is column c
    for (int64_t k = 0; k < w.dim(0); ++k) {
      const double v = w.ptr<float>()[k * w.dim(1) + c];
      s += l2 ? v * v : std::fabs(v);
    }
    return l2 ? std::sqrt(s) : s;
  }
  const int64_t per = w.numel() / w.dim(0);
  for (int64_t k = 0; k < per; ++k) {
    const double v = w.ptr<float>()[c * per + k];
    s += l2 ? v * v : std::fabs(v);
  }
  return l2 ? std::sqrt(s) : s;
}

// Output channels of a producer's weight: Conv [M, ...] rows; Gemm [K, N] columns (rows when transB).
bool by_columns(const Node& n) { return n.op_type == "Gemm" && n.attr_i("transB", 0) == 0; }
int64_t out_channels(const Node& n, const Tensor& w) { return by_columns(n) ? w.dim(1) : w.dim(0); }

std::vector<ChannelGroup> groups_of(const Model& m, Analysis& a, const std::string& criterion) {
  const Graph& g = m.graph;
  if (criterion != "l1" && criterion != "l2" && criterion != "bn") throw Error("prune-channels: criterion '" + criterion + "' is not l1, l2 or bn");
  std::map<int, ChannelGroup> by_root;
  for (size_t i = 0; i < a.parent.size(); ++i) {
    ChannelGroup& cg = by_root[a.find(static_cast<int>(i))];
    cg.members.push_back(a.id_to[i]);
    cg.blocked = cg.blocked || a.blocked[i];
  }
  // per-layer normalisation: a filter's score over the mean score of its layer
  std::map<std::string, double> layer_mean;
  for (auto& kv : a.producer) {
    const Node& n = g.nodes[kv.second];
    if (n.op_type != "Conv" && n.op_type != "Gemm") continue;
    const Tensor& w = g.initializers.at(n.in(1));
    double s = 0;
    const int64_t oc = out_channels(n, w);
    for (int64_t c = 0; c < oc; ++c) s += filter_norm(w, c, criterion == "l2", by_columns(n));
    layer_mean[kv.first] = s / static_cast<double>(oc);
  }
  // BN scale per (value, channel) when BN follows
  std::map<std::pair<std::string, int64_t>, double> bn_scale;
  if (criterion == "bn")
    for (const Node& n : g.nodes)
      if (n.op_type == "BatchNormalization" && g.initializers.count(n.in(1))) {
        const Tensor& gamma = g.initializers.at(n.in(1));
        for (int64_t c = 0; c < gamma.numel(); ++c) bn_scale[{n.outputs[0], c}] = std::fabs(gamma.ptr<float>()[c]);
      }
  std::vector<ChannelGroup> out;
  for (auto& kv : by_root) {
    ChannelGroup& cg = kv.second;
    double score = 0;
    int scored = 0;
    for (auto& mc : cg.members) {
      auto p = a.producer.find(mc.first);
      if (criterion == "bn") {
        auto b = bn_scale.find(mc);
        if (b != bn_scale.end()) {
          score += b->second;
          ++scored;
        }
      }
      if (p == a.producer.end()) continue;
      const Node& n = g.nodes[p->second];
      if (n.op_type != "Conv" && n.op_type != "Gemm") continue;
      if (std::find(cg.producers.begin(), cg.producers.end(), n.name) == cg.producers.end()) cg.producers.push_back(n.name);
      if (criterion != "bn") {
        const double mean = layer_mean[mc.first];
        score += mean > 0 ? filter_norm(g.initializers.at(n.in(1)), mc.second, criterion == "l2", by_columns(n)) / mean : 0.0;
        ++scored;
      }
    }
    cg.importance = scored ? score / scored : 0.0;
    out.push_back(cg);
  }
  return out;
}

// Removes channels `drop` (sorted) along `axis` of tensor t.
Tensor drop_channels(const Tensor& t, int axis, const std::vector<int64_t>& drop) {
  if (drop.empty()) return t;
  const Shape& s = t.shape();
  Shape ns = s;
  ns[static_cast<size_t>(axis)] -= static_cast<int64_t>(drop.size());
  Tensor r(t.dtype(), ns);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(axis) + 1; i < s.size(); ++i) inner *= s[i];
  const size_t es = dtype_size(t.dtype());
  std::set<int64_t> d(drop.begin(), drop.end());
  const uint8_t* src = t.ptr<uint8_t>();
  uint8_t* dst = r.ptr<uint8_t>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < s[static_cast<size_t>(axis)]; ++c) {
      if (d.count(c)) continue;
      std::memcpy(dst, src + ((o * s[static_cast<size_t>(axis)] + c) * inner) * static_cast<int64_t>(es), static_cast<size_t>(inner) * es);
      dst += static_cast<size_t>(inner) * es;
    }
  return r;
}

std::string prune_channels_pass(Model& m, const StepParams& p, PassContext&) {
  const double ratio = p.number("ratio", 0.3);
  if (!(ratio > 0 && ratio < 1)) throw Error(p.where + ": ratio " + std::to_string(ratio) + " must be in (0, 1)");
  const std::string criterion = p.text("criterion", "l1");
  Analysis a = analyse(m);
  std::vector<ChannelGroup> groups = groups_of(m, a, criterion);
  std::vector<const ChannelGroup*> prunable;
  size_t blocked = 0;
  for (auto& cg : groups) {
    if (cg.blocked) ++blocked;
    else if (!cg.producers.empty()) prunable.push_back(&cg);
  }
  std::stable_sort(prunable.begin(), prunable.end(), [](auto* x, auto* y) { return x->importance < y->importance; });
  const size_t want = static_cast<size_t>(std::floor(ratio * static_cast<double>(prunable.size())));
  std::map<std::string, std::vector<int64_t>> drop;
  std::map<std::string, int64_t> left = a.chans;
  size_t removed_groups = 0, removed_channels = 0;
  for (const ChannelGroup* cg : prunable) {
    if (removed_groups == want) break;
    bool ok = true;  // keep at least one channel in every value
    std::map<std::string, int64_t> take;
    for (auto& mc : cg->members) ++take[mc.first];
    for (auto& kv : take) ok = ok && left[kv.first] - kv.second >= 1;
    if (!ok) continue;
    for (auto& kv : take) left[kv.first] -= kv.second;
    for (auto& mc : cg->members) drop[mc.first].push_back(mc.second);
    removed_channels += cg->members.size();
    ++removed_groups;
  }
  for (auto& kv : drop) std::sort(kv.second.begin(), kv.second.end());
  Graph& g = m.graph;
  auto uses = consumers(g);
  int fresh = 0;
  // A node's own copy of an initializer it is about to change (shared constants stay intact for others).
  auto own = [&](Node& n, size_t k) -> Tensor& {
    const std::string name = n.inputs[k];
    if (uses[name].size() > 1) {
      const std::string copy = name + "_sp" + std::to_string(fresh++);
      g.initializers[copy] = g.initializers.at(name);
      n.inputs[k] = copy;
      return g.initializers[copy];
    }
    return g.initializers[name];
  };
  auto dropped = [&](const std::string& v) -> const std::vector<int64_t>& {
    static const std::vector<int64_t> none;
    auto it = drop.find(v);
    return it == drop.end() ? none : it->second;
  };
  for (Node& n : g.nodes) {
    if (n.outputs.empty()) continue;
    const auto& dy = dropped(n.outputs[0]);
    const auto& dx = dropped(n.in(0));
    if (n.op_type == "Gemm" && g.initializers.count(n.in(1)) && (!dx.empty() || !dy.empty())) {
      Tensor& w = own(n, 1);
      const bool tb = n.attr_i("transB", 0) != 0;  // [N, K] with transB, else [K, N]
      w = tb ? drop_channels(drop_channels(w, 0, dy), 1, dx) : drop_channels(drop_channels(w, 1, dy), 0, dx);
      if (n.inputs.size() > 2 && !n.in(2).empty() && !dy.empty()) {
        Tensor& b = own(n, 2);
        b = drop_channels(b, b.rank() == 2 ? 1 : 0, dy);
      }
      continue;
    }
    if (n.op_type == "Conv" && g.initializers.count(n.in(1))) {
      const int64_t grp = n.attr_i("group", 1);
      Tensor& w = own(n, 1);
      if (grp == 1) {
        w = drop_channels(drop_channels(w, 0, dy), 1, dx);
      } else if (!dy.empty()) {  // depthwise
        w = drop_channels(w, 0, dy);
        n.attrs["group"].i = grp - static_cast<int64_t>(dy.size());
      }
      if (n.inputs.size() > 2 && !n.in(2).empty()) {
        Tensor& b = own(n, 2);
        b = drop_channels(b, 0, dy);
      }
    } else if (n.op_type == "BatchNormalization" && !dy.empty()) {
      for (size_t k = 1; k < 5; ++k) {
        Tensor& t = own(n, k);
        t = drop_channels(t, 0, dy);
      }
    } else if (is_binary(n.op_type) && !dy.empty()) {
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        const int axis = per_channel_axis(g, n.inputs[k], a.chans[n.outputs[0]], a.rank[n.outputs[0]]);
        if (axis >= 0) {
          Tensor& t = own(n, k);
          t = drop_channels(t, axis, dy);
        }
      }
    } else if (n.op_type == "ConstantOfShape" && !dy.empty()) {
      Tensor& s = own(n, 0);
      Tensor ns = s.clone();
      if (ns.dtype() == DType::i64 && ns.numel() == 4) ns.ptr<int64_t>()[1] -= static_cast<int64_t>(dy.size());
      s = ns;
    }
  }
  g.value_info.clear();  // shapes changed
  char line[256];
  std::snprintf(line, sizeof line, "prune-channels: %zu channel groups (%zu blocked by graph inputs/outputs or unsupported ops), %zu removed by %s (%zu channels in all values)",
                groups.size(), blocked, removed_groups, criterion.c_str(), removed_channels);
  return line;
}

}  // namespace

std::vector<ChannelGroup> channel_groups(const Model& m, const std::string& criterion) {
  Analysis a = analyse(m);
  return groups_of(m, a, criterion);
}

void register_structured_passes(std::map<std::string, PassInfo>& r) {
  r["prune-channels"] = {"prune-channels", {"ratio", "criterion"}, false,
                         "structured pruning: remove the ratio (0..1) of channel groups with the lowest l1|l2|bn importance", prune_channels_pass};
}

}  // namespace ec::compress
