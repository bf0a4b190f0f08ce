#include "share.h"

#include <algorithm>
#include <cmath>

#include "error.h"
#include "pass.h"

namespace ec::compress {

std::vector<float> kmeans_share(Tensor& w, int k, int iters) {
  float* p = w.ptr<float>();
  std::vector<int64_t> nz;
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < w.numel(); ++i)
    if (p[i] != 0.f) {
      nz.push_back(i);
      lo = std::min(lo, p[i]);
      hi = std::max(hi, p[i]);
    }
  if (nz.empty()) return {};
  std::vector<double> c(static_cast<size_t>(k));
  for (int j = 0; j < k; ++j) c[static_cast<size_t>(j)] = k == 1 ? (lo + hi) / 2.0 : lo + (hi - lo) * j / (k - 1.0);  // linear init
  std::vector<int> assign(nz.size(), -1);
  for (int it = 0; it < iters; ++it) {
    bool changed = false;
    // centroids stay sorted: assignment by binary search on midpoints
    for (size_t i = 0; i < nz.size(); ++i) {
      const double v = p[nz[i]];
      size_t j = static_cast<size_t>(std::lower_bound(c.begin(), c.end(), v) - c.begin());
      if (j == c.size()) j = c.size() - 1;
      else if (j > 0 && v - c[j - 1] <= c[j] - v) j -= 1;
      if (assign[i] != static_cast<int>(j)) {
        assign[i] = static_cast<int>(j);
        changed = true;
      }
    }
    std::vector<double> sum(c.size(), 0.0);
    std::vector<int64_t> cnt(c.size(), 0);
    for (size_t i = 0; i < nz.size(); ++i) {
      sum[static_cast<size_t>(assign[i])] += p[nz[i]];
      ++cnt[static_cast<size_t>(assign[i])];
    }
    for (size_t j = 0; j < c.size(); ++j)
      if (cnt[j]) c[j] = sum[j] / static_cast<double>(cnt[j]);  // empty clusters keep their place
    std::sort(c.begin(), c.end());
    if (!changed) break;
  }
  std::vector<float> cf(c.begin(), c.end());
  for (size_t i = 0; i < nz.size(); ++i) {  // final assignment to the float centroids
    const float v = p[nz[i]];
    size_t best = 0;
    for (size_t j = 1; j < cf.size(); ++j)
      if (std::fabs(v - cf[j]) < std::fabs(v - cf[best])) best = j;
    p[nz[i]] = cf[best];  // a centroid at exactly 0 turns its weights into pruned zeros
  }
  return cf;
}

namespace {

std::string share_pass(Model& m, const StepParams& p, PassContext&) {
  const int bits = static_cast<int>(p.number("bits", 4));
  if (bits < 1 || bits > 8) throw Error(p.where + ": bits " + std::to_string(bits) + " must be 1..8");
  const int iters = static_cast<int>(p.number("iterations", 30));
  const double min_el = p.number("min_elements", 64);
  Graph& g = m.graph;
  int n = 0;
  int64_t values = 0;
  for (const Node& nd : g.nodes) {
    if ((nd.op_type != "Conv" && nd.op_type != "Gemm" && nd.op_type != "MatMul") || nd.inputs.size() < 2) continue;
    auto it = g.initializers.find(nd.inputs[1]);
    if (it == g.initializers.end() || it->second.dtype() != DType::f32 || static_cast<double>(it->second.numel()) < min_el) continue;
    Tensor t = it->second.clone();
    kmeans_share(t, 1 << bits, iters);
    g.initializers[nd.inputs[1]] = t;
    values += t.numel();
    ++n;
  }
  char line[256];
  std::snprintf(line, sizeof line, "share: %d layers, %lld weights on %d-bit codebooks (%d centroids per layer, k-means with linear init)", n,
                static_cast<long long>(values), bits, 1 << bits);
  return line;
}

}  // namespace

void register_share_passes(std::map<std::string, PassInfo>& r) {
  r["share"] = {"share", {"bits", "iterations", "min_elements"}, false,
                "weight sharing: per-layer k-means with linear init to 2^bits centroids (bits 1..8); pack the result to .ecz", share_pass};
}

}  // namespace ec::compress
