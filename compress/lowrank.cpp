#include "lowrank.h"

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>

#include "error.h"
#include "pass.h"

namespace ec::compress {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

int rank_for_energy(const Eigen::VectorXf& s, double energy) {
  double total = 0;
  for (int i = 0; i < s.size(); ++i) total += static_cast<double>(s[i]) * s[i];
  if (total <= 0) return 1;
  double acc = 0;
  for (int i = 0; i < s.size(); ++i) {
    acc += static_cast<double>(s[i]) * s[i];
    if (acc >= energy * total * (1 - 1e-9)) return i + 1;
  }
  return static_cast<int>(s.size());
}

namespace {

Tensor to_tensor(const Mat& m, Shape shape) {
  Tensor t(DType::f32, std::move(shape));
  std::copy(m.data(), m.data() + m.size(), t.ptr<float>());
  return t;
}

// The rank-r factors of a thin SVD, singular values split evenly: W ~ A (rows x r) * B (r x cols).
void svd_split(const Eigen::BDCSVD<Mat>& svd, int r, Mat& A, Mat& B) {
  Eigen::VectorXf sq = svd.singularValues().head(r).cwiseSqrt();
  A = svd.matrixU().leftCols(r) * sq.asDiagonal();
  B = sq.asDiagonal() * svd.matrixV().leftCols(r).transpose();
}

// The two nodes that replace `n`: `n` reading the thin factor `base_a` into `base_h`, then `n` reading
// `base_h` with factor `base_b` into n's outputs (attributes still n's: callers drop what no longer applies).
std::pair<Node, Node> split_node(const Node& n, const std::string& base) {
  Node first = n, second = n;
  first.name = n.name + "_lr_a";
  second.name = n.name + "_lr_b";
  first.inputs = {n.inputs[0], base + "_a"};
  first.outputs = {base + "_h"};
  second.inputs = {base + "_h", base + "_b"};
  return {first, second};
}

struct Choice {
  double energy = -1;         // kept energy (when > 0)
  double mac_reduction = -1;  // target fraction of MACs removed (when > 0)
};

// Rank for a matrix factorization W (rows x cols) = A (rows x r) B (r x cols): MACs per position go from
// rows*cols to r*(rows+cols). Returns 0 when no rank saves MACs under the choice.
int choose_rank(const Eigen::VectorXf& s, int rows, int cols, const Choice& c) {
  const int full = static_cast<int>(s.size());
  int r = c.energy > 0 ? rank_for_energy(s, c.energy) : full;
  if (c.mac_reduction > 0) r = std::min(r, static_cast<int>(std::floor((1 - c.mac_reduction) * rows * cols / static_cast<double>(rows + cols))));
  if (r < 1 || static_cast<int64_t>(r) * (rows + cols) >= static_cast<int64_t>(rows) * cols) return 0;
  return r;
}

Attribute ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::ints;
  a.ints = std::move(v);
  return a;
}

std::string lowrank_pass(Model& m, const StepParams& p, PassContext&) {
  Choice c;
  c.energy = p.number("energy", -1);
  c.mac_reduction = p.number("mac_reduction", -1);
  if (c.energy <= 0 && c.mac_reduction <= 0) throw Error(p.where + ": lowrank needs energy (0..1] or mac_reduction (0..1)");
  if (c.energy > 1 || c.mac_reduction >= 1) throw Error(p.where + ": energy must be <= 1 and mac_reduction < 1");
  const bool tucker = p.text("kxk", "true") == "true";
  Graph& g = m.graph;
  auto uses = consumers(g);
  std::vector<Node> out;
  int factored = 0, left = 0, fresh = 0;
  int64_t before = 0, after = 0;  // MACs per output position, summed over factored layers
  std::string detail;
  for (const Node& n : g.nodes) {
    auto wit = n.inputs.size() > 1 ? g.initializers.find(n.inputs[1]) : g.initializers.end();
    const bool has_w = wit != g.initializers.end() && wit->second.dtype() == DType::f32 && uses[n.inputs[1]].size() == 1;
    const std::string base = "lr" + std::to_string(fresh++);
    if (has_w && (n.op_type == "Gemm" || n.op_type == "MatMul") && wit->second.rank() == 2 && n.attr_f("alpha", 1) == 1.f) {
      const Tensor& w = wit->second;
      const bool tb = n.op_type == "Gemm" && n.attr_i("transB", 0);
      Mat W = Eigen::Map<const Mat>(w.ptr<float>(), w.dim(0), w.dim(1));
      if (tb) W.transposeInPlace();  // W is K x N: y = x W
      Eigen::BDCSVD<Mat> svd(W, Eigen::ComputeThinU | Eigen::ComputeThinV);
      const int r = choose_rank(svd.singularValues(), static_cast<int>(W.rows()), static_cast<int>(W.cols()), c);
      if (r == 0) {
        ++left;
        out.push_back(n);
        continue;
      }
      Mat A, B;  // K x r, r x N
      svd_split(svd, r, A, B);
      g.initializers[base + "_a"] = to_tensor(A, {A.rows(), A.cols()});
      g.initializers[base + "_b"] = to_tensor(B, {B.rows(), B.cols()});
      g.initializers.erase(n.inputs[1]);
      auto [first, second] = split_node(n, base);
      if (n.op_type == "Gemm") {
        first.attrs.erase("transB");
        first.attrs.erase("beta");
        second.attrs.erase("transA");
        second.attrs.erase("transB");
        if (n.inputs.size() > 2) second.inputs.push_back(n.inputs[2]);
      }
      out.push_back(first);
      out.push_back(second);
      before += W.rows() * W.cols();
      after += static_cast<int64_t>(r) * (W.rows() + W.cols());
      ++factored;
      continue;
    }
    if (has_w && n.op_type == "Conv" && wit->second.rank() == 4 && n.attr_i("group", 1) == 1) {
      const Tensor& w = wit->second;
      const int64_t M = w.dim(0), C = w.dim(1), kh = w.dim(2), kw = w.dim(3);
      if (kh == 1 && kw == 1) {  // SVD: conv C->r (with the original stride) then r->M
        Mat W = Eigen::Map<const Mat>(w.ptr<float>(), M, C);
        Eigen::BDCSVD<Mat> svd(W, Eigen::ComputeThinU | Eigen::ComputeThinV);
        const int r = choose_rank(svd.singularValues(), static_cast<int>(M), static_cast<int>(C), c);
        if (r == 0) {
          ++left;
          out.push_back(n);
          continue;
        }
        Mat W2, W1;  // M x r, r x C
        svd_split(svd, r, W2, W1);
        g.initializers[base + "_a"] = to_tensor(W1, {r, C, 1, 1});
        g.initializers[base + "_b"] = to_tensor(W2, {M, r, 1, 1});
        g.initializers.erase(n.inputs[1]);
        auto [first, second] = split_node(n, base);
        first.attrs.erase("_act");
        if (n.inputs.size() > 2) second.inputs.push_back(n.inputs[2]);
        second.attrs.erase("strides");
        second.attrs.erase("pads");
        second.attrs.erase("auto_pad");
        second.attrs["kernel_shape"] = ints({1, 1});
        out.push_back(first);
        out.push_back(second);
        before += M * C;
        after += static_cast<int64_t>(r) * (M + C);
        ++factored;
        continue;
      }
      if (tucker) {  // Tucker-2 on the output and input channel modes
        Mat W0 = Eigen::Map<const Mat>(w.ptr<float>(), M, C * kh * kw);  // mode-0 unfolding
        Mat W1(C, M * kh * kw);                                           // mode-1 unfolding
        for (int64_t o = 0; o < M; ++o)
          for (int64_t i = 0; i < C; ++i)
            for (int64_t k = 0; k < kh * kw; ++k) W1(i, o * kh * kw + k) = w.ptr<float>()[(o * C + i) * kh * kw + k];
        Eigen::BDCSVD<Mat> s0(W0, Eigen::ComputeThinU), s1(W1, Eigen::ComputeThinU);
        int r2 = c.energy > 0 ? rank_for_energy(s0.singularValues(), c.energy) : static_cast<int>(M);
        int r1 = c.energy > 0 ? rank_for_energy(s1.singularValues(), c.energy) : static_cast<int>(C);
        const double full = static_cast<double>(M) * C * kh * kw;
        auto cost = [&](int a, int b) { return static_cast<double>(C) * a + static_cast<double>(a) * b * kh * kw + static_cast<double>(b) * M; };
        if (c.mac_reduction > 0)
          while ((r1 > 1 || r2 > 1) && cost(r1, r2) > (1 - c.mac_reduction) * full) {
            // shrink the larger rank relative to its dimension
            if (static_cast<double>(r1) / C >= static_cast<double>(r2) / M && r1 > 1) --r1;
            else --r2;
          }
        if (cost(r1, r2) >= full) {
          ++left;
          out.push_back(n);
          continue;
        }
        Mat Uo = s0.matrixU().leftCols(r2), Ui = s1.matrixU().leftCols(r1);  // M x r2, C x r1
        Tensor core(DType::f32, {r2, r1, kh, kw});
        for (int a = 0; a < r2; ++a)
          for (int b = 0; b < r1; ++b)
            for (int64_t k = 0; k < kh * kw; ++k) {
              double sum = 0;
              for (int64_t o = 0; o < M; ++o)
                for (int64_t i = 0; i < C; ++i) sum += static_cast<double>(Uo(o, a)) * Ui(i, b) * w.ptr<float>()[(o * C + i) * kh * kw + k];
              core.ptr<float>()[(a * r1 + b) * kh * kw + k] = static_cast<float>(sum);
            }
        Mat UiT = Ui.transpose();
        g.initializers[base + "_in"] = to_tensor(UiT, {r1, C, 1, 1});
        g.initializers[base + "_core"] = core;
        g.initializers[base + "_out"] = to_tensor(Uo, {M, r2, 1, 1});
        g.initializers.erase(n.inputs[1]);
        Node a = n, k = n, o = n;
        a.name = n.name + "_tk_in";
        k.name = n.name + "_tk_core";
        o.name = n.name + "_tk_out";
        a.inputs = {n.inputs[0], base + "_in"};
        a.outputs = {base + "_h1"};
        a.attrs.clear();
        a.attrs["kernel_shape"] = ints({1, 1});
        k.inputs = {base + "_h1", base + "_core"};
        k.outputs = {base + "_h2"};
        k.attrs.erase("_act");
        o.inputs = {base + "_h2", base + "_out"};
        if (n.inputs.size() > 2) o.inputs.push_back(n.inputs[2]);
        o.attrs.clear();
        o.attrs["kernel_shape"] = ints({1, 1});
        out.push_back(a);
        out.push_back(k);
        out.push_back(o);
        before += static_cast<int64_t>(full);
        after += static_cast<int64_t>(cost(r1, r2));
        ++factored;
        continue;
      }
    }
    out.push_back(n);
  }
  g.nodes = std::move(out);
  topo_sort(g, m.path);
  char line[256];
  std::snprintf(line, sizeof line, "lowrank: %d layers factored (MACs per output position of those layers %lld -> %lld, %.1f%% fewer), %d left alone (no saving)",
                factored, static_cast<long long>(before), static_cast<long long>(after), before ? 100.0 * (before - after) / before : 0.0, left);
  return line;
}

}  // namespace

void register_lowrank_passes(std::map<std::string, PassInfo>& r) {
  r["lowrank"] = {"lowrank", {"energy", "mac_reduction", "kxk"}, false,
                  "SVD (Gemm, MatMul, 1x1 Conv) and Tucker-2 (KxK Conv): energy 0..1 kept, or mac_reduction 0..1; kxk true|false",
                  lowrank_pass};
}

}  // namespace ec::compress
