#include "prune.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "error.h"
#include "pass.h"

namespace ec::compress {

int64_t prune_magnitude(Tensor& w, double sparsity) {
  const int64_t n = w.numel();
  const int64_t k = static_cast<int64_t>(std::floor(sparsity * static_cast<double>(n)));
  if (k <= 0) return 0;
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  float* p = w.ptr<float>();
  std::nth_element(idx.begin(), idx.begin() + (k - 1), idx.end(), [&](int64_t a, int64_t b) { return std::fabs(p[a]) < std::fabs(p[b]); });
  for (int64_t i = 0; i < k; ++i) p[idx[static_cast<size_t>(i)]] = 0.f;
  return k;
}

int64_t prune_2_4(Tensor& w) {
  const int64_t rows = w.dim(0), per = w.numel() / rows;
  if (per % 4) throw Error("2:4 pruning needs a multiple of 4 weights per output channel, got " + std::to_string(per));
  float* p = w.ptr<float>();
  int64_t zeros = 0;
  for (int64_t g = 0; g < w.numel(); g += 4) {
    int order[4] = {0, 1, 2, 3};
    std::sort(order, order + 4, [&](int a, int b) { return std::fabs(p[g + a]) < std::fabs(p[g + b]); });
    p[g + order[0]] = 0.f;
    p[g + order[1]] = 0.f;
    zeros += 2;
  }
  return zeros;
}

namespace {

std::string prune_pass(Model& m, const StepParams& p, PassContext&) {
  const double sparsity = p.number("sparsity", 0.5);
  const std::string scope = p.text("scope", "layer");
  const std::string pattern = p.text("pattern", "none");
  const bool depthwise = p.text("depthwise", "false") == "true";
  if (pattern == "none" && (sparsity < 0 || sparsity >= 1)) throw Error(p.where + ": sparsity " + std::to_string(sparsity) + " must be in [0, 1)");
  if (scope != "layer" && scope != "global") throw Error(p.where + ": scope '" + scope + "' is not layer or global");
  if (pattern != "none" && pattern != "2:4") throw Error(p.where + ": pattern '" + pattern + "' is not none or 2:4");
  const auto ex = p.list("exclude");
  const std::set<std::string> exclude(ex.begin(), ex.end());
  Graph& g = m.graph;
  std::vector<std::string> weights;
  int skipped_dw = 0;
  for (const Node& n : g.nodes) {
    if ((n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul") || n.inputs.size() < 2 || exclude.count(n.name)) continue;
    auto it = g.initializers.find(n.inputs[1]);
    if (it == g.initializers.end() || it->second.dtype() != DType::f32) continue;
    if (n.op_type == "Conv" && n.attr_i("group", 1) > 1 && !depthwise) {
      ++skipped_dw;  // depthwise filters have few weights each: pruning them costs accuracy for no speed
      continue;
    }
    if (std::find(weights.begin(), weights.end(), n.inputs[1]) == weights.end()) weights.push_back(n.inputs[1]);
  }
  int64_t total = 0, zeros = 0;
  if (pattern == "2:4") {
    int done = 0;
    for (const std::string& w : weights) {
      Tensor t = g.initializers.at(w).clone();
      if ((t.numel() / t.dim(0)) % 4) continue;
      zeros += prune_2_4(t);
      total += t.numel();
      g.initializers[w] = t;
      ++done;
    }
    char line[256];
    std::snprintf(line, sizeof line, "prune: 2:4 pattern on %d tensors, %lld of %lld weights zero (%.1f%%)", done, static_cast<long long>(zeros),
                  static_cast<long long>(total), total ? 100.0 * zeros / total : 0.0);
    return line;
  }
  if (scope == "global") {
    std::vector<float> mags;
    for (const std::string& w : weights) {
      const Tensor& t = g.initializers.at(w);
      for (int64_t i = 0; i < t.numel(); ++i) mags.push_back(std::fabs(t.ptr<float>()[i]));
    }
    const size_t k = static_cast<size_t>(std::floor(sparsity * static_cast<double>(mags.size())));
    if (k > 0) {
      std::nth_element(mags.begin(), mags.begin() + static_cast<long>(k - 1), mags.end());
      const float thr = mags[k - 1];
      int64_t budget = static_cast<int64_t>(k);  // ties at the threshold: stop at exactly k
      for (const std::string& w : weights) {
        Tensor t = g.initializers.at(w).clone();
        for (int64_t i = 0; i < t.numel() && budget > 0; ++i)
          if (std::fabs(t.ptr<float>()[i]) < thr) {
            t.ptr<float>()[i] = 0.f;
            --budget;
          }
        g.initializers[w] = t;
      }
      for (const std::string& w : weights) {
        Tensor& t = g.initializers.at(w);
        for (int64_t i = 0; i < t.numel() && budget > 0; ++i)
          if (std::fabs(t.ptr<float>()[i]) == thr && t.ptr<float>()[i] != 0.f) {
            t.ptr<float>()[i] = 0.f;
            --budget;
          }
      }
    }
  } else {
    for (const std::string& w : weights) {
      Tensor t = g.initializers.at(w).clone();
      prune_magnitude(t, sparsity);
      g.initializers[w] = t;
    }
  }
  for (const std::string& w : weights) {
    const Tensor& t = g.initializers.at(w);
    total += t.numel();
    for (int64_t i = 0; i < t.numel(); ++i) zeros += t.ptr<float>()[i] == 0.f;
  }
  char line[256];
  std::snprintf(line, sizeof line, "prune: %s magnitude on %zu tensors, %lld of %lld weights zero (%.1f%%)%s", scope.c_str(), weights.size(),
                static_cast<long long>(zeros), static_cast<long long>(total), total ? 100.0 * zeros / total : 0.0,
                skipped_dw ? (", " + std::to_string(skipped_dw) + " depthwise layers left dense").c_str() : "");
  return line;
}

}  // namespace

void register_prune_passes(std::map<std::string, PassInfo>& r) {
  r["prune"] = {"prune", {"sparsity", "scope", "pattern", "exclude", "depthwise"}, false,
                "unstructured magnitude pruning: sparsity 0..1, scope layer|global, pattern none|2:4, depthwise true|false, exclude [nodes]",
                prune_pass};
}

}  // namespace ec::compress
