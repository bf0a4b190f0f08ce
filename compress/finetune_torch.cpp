// Recipe step `finetune` on libtorch (Debian libtorch-dev, CPU): the ONNX graph is interpreted with torch
// operators, its Conv/Gemm/MatMul weights and biases become trainable tensors, training is mini-batch SGD
// with momentum on softmax cross-entropy over labelled IDX data, and the trained values are written back
// into the same initializers (structure unchanged). Weights that are zero when the step starts (pruned) stay
// zero: their gradients and values are masked after every step.
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "error.h"
#include "mlp.h"
#include "pass.h"

namespace ec::compress {
namespace {

torch::Tensor to_torch(const Tensor& t) {
  std::vector<int64_t> s(t.shape().begin(), t.shape().end());
  switch (t.dtype()) {
    case DType::f32: return torch::from_blob(const_cast<void*>(t.data()), s, torch::kFloat32).clone();
    case DType::i64: return torch::from_blob(const_cast<void*>(t.data()), s, torch::kInt64).clone();
    default: throw Error(std::string("finetune: constant of type ") + dtype_name(t.dtype()) + " is not supported by the libtorch bridge");
  }
}

// The IR as a torch computation. Trainable: float initializers read by Conv/Gemm (inputs 1, 2) and
// MatMul (input 1), and biases added to a MatMul's output.
class TorchGraph {
 public:
  explicit TorchGraph(const Graph& g) : g_(g) {
    std::map<std::string, std::string> producer;
    for (auto& n : g.nodes)
      for (auto& o : n.outputs) producer[o] = n.op_type;
    std::set<std::string> trainable;
    for (auto& n : g.nodes) {
      if (n.op_type == "Conv" || n.op_type == "Gemm")
        for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) trainable.insert(n.inputs[i]);
      if (n.op_type == "MatMul" && n.inputs.size() > 1) trainable.insert(n.inputs[1]);
      if (n.op_type == "Add" && n.inputs.size() == 2)
        for (size_t i = 0; i < 2; ++i)
          if (producer.count(n.inputs[1 - i]) && producer[n.inputs[1 - i]] == "MatMul") trainable.insert(n.inputs[i]);
    }
    for (auto& kv : g.initializers) {
      torch::Tensor t = to_torch(kv.second);
      if (trainable.count(kv.first) && kv.second.dtype() == DType::f32) {
        t.set_requires_grad(true);
        params_[kv.first] = t;
        const int64_t zeros = (t == 0).sum().item<int64_t>();
        // pruned weights (rank >= 2; a zero bias is just a value) stay at +0 (not -0: packers test the bits)
        if (zeros > 0 && t.dim() >= 2) masks_[kv.first] = (t == 0);
      } else {
        consts_[kv.first] = t;
      }
    }
  }

  // Parameters for the optimiser (shared weights are updated through their centroids instead).
  std::vector<torch::Tensor> parameters() const {
    std::vector<torch::Tensor> p;
    for (auto& kv : params_)
      if (!shared_.count(kv.first)) p.push_back(kv.second);
    return p;
  }

  // Weight sharing (Deep Compression §3.3): weight tensors (rank >= 2) with at most `max_values` distinct
  // non-zero values train their centroids: each centroid moves by the sum of its weights' gradients, zeros
  // stay zero. Returns how many tensors are shared.
  size_t enable_sharing(int64_t max_values) {
    for (auto& kv : params_) {
      const torch::Tensor& w = kv.second;
      if (w.dim() < 2) continue;
      auto [values, inverse] = torch::_unique(w.detach().flatten(), /*sorted=*/true, /*return_inverse=*/true);
      if (values.numel() > max_values + 1) continue;
      Shared sh;
      sh.centroids = values.clone();
      sh.index = inverse;
      sh.zero = (values == 0).nonzero().flatten();
      shared_[kv.first] = sh;
    }
    return shared_.size();
  }
  // After backward: centroids step by -lr x (sum of their weights' gradients); weights take their centroid.
  void update_centroids(double lr) {
    torch::NoGradGuard ng;
    for (auto& kv : shared_) {
      torch::Tensor& w = params_.at(kv.first);
      Shared& sh = kv.second;
      if (!w.grad().defined()) continue;
      torch::Tensor gsum = torch::zeros_like(sh.centroids).index_add_(0, sh.index, w.grad().flatten());
      sh.centroids.sub_(gsum * lr);
      if (sh.zero.numel() > 0) sh.centroids.index_fill_(0, sh.zero, 0.0);
      w.copy_(sh.centroids.index_select(0, sh.index).reshape(w.sizes()));
      w.grad().zero_();
    }
  }
  size_t shared() const { return shared_.size(); }
  // Zeroes the pruned positions of the trainable tensors (after each optimiser step).
  void apply_masks() {
    torch::NoGradGuard ng;
    for (auto& kv : masks_) params_[kv.first].masked_fill_(kv.second, 0.0);
  }
  size_t masked() const { return masks_.size(); }
  size_t trainable() const { return params_.size(); }

  // Runs the graph on `input` (the first graph input) and returns the first graph output.
  torch::Tensor forward(const torch::Tensor& input) {
    std::map<std::string, torch::Tensor> v;
    v[g_.inputs.at(0).name] = input;
    std::function<torch::Tensor(const std::string&)> get = [&](const std::string& name) -> torch::Tensor {
      if (auto it = v.find(name); it != v.end()) return it->second;
      if (auto it = params_.find(name); it != params_.end()) return it->second;
      if (auto it = consts_.find(name); it != consts_.end()) return it->second;
      throw Error("finetune: value '" + name + "' is not available");
    };
    for (const Node& n : g_.nodes) v[n.outputs.at(0)] = run(n, get);
    return v.at(g_.outputs.at(0).name);
  }

  // Puts the trained values into the graph's initializers as new tensors (copies of a Model share tensor
  // storage, so writing in place would change them too).
  void write_back(Graph& g) const {
    for (auto& kv : params_) {
      torch::Tensor t = kv.second.detach().contiguous();
      Tensor& slot = g.initializers.at(kv.first);
      Tensor fresh(DType::f32, slot.shape());
      std::memcpy(fresh.data(), t.data_ptr<float>(), fresh.size_bytes());
      slot = fresh;
    }
  }

 private:
  torch::Tensor run(const Node& n, const std::function<torch::Tensor(const std::string&)>& get) {
    const std::string& op = n.op_type;
    auto in = [&](size_t i) -> torch::Tensor { return get(n.inputs.at(i)); };
    auto has = [&](size_t i) { return i < n.inputs.size() && !n.inputs[i].empty(); };
    if (op == "Gemm") {
      torch::Tensor a = in(0), b = in(1);
      if (n.attr_i("transA", 0)) a = a.t();
      if (n.attr_i("transB", 0)) b = b.t();
      torch::Tensor y = torch::matmul(a, b) * n.attr_f("alpha", 1.f);
      if (has(2)) y = y + in(2) * n.attr_f("beta", 1.f);
      return y;
    }
    if (op == "MatMul") return torch::matmul(in(0), in(1));
    if (op == "Add") return in(0) + in(1);
    if (op == "Sub") return in(0) - in(1);
    if (op == "Mul") return in(0) * in(1);
    if (op == "Relu") return torch::relu(in(0));
    if (op == "Sigmoid") return torch::sigmoid(in(0));
    if (op == "Tanh") return torch::tanh(in(0));
    if (op == "Identity" || op == "Dropout") return in(0);
    if (op == "Clip") {
      double lo = n.attr_f("min", -INFINITY), hi = n.attr_f("max", INFINITY);
      if (has(1)) lo = in(1).item<double>();
      if (has(2)) hi = in(2).item<double>();
      return torch::clamp(in(0), lo, hi);
    }
    if (op == "Flatten") return in(0).flatten(n.attr_i("axis", 1) == 0 ? 0 : 1);
    if (op == "Reshape") {
      std::vector<int64_t> s(in(1).data_ptr<int64_t>(), in(1).data_ptr<int64_t>() + in(1).numel());
      for (size_t i = 0; i < s.size(); ++i)
        if (s[i] == 0) s[i] = in(0).size(static_cast<int64_t>(i));
      return in(0).reshape(s);
    }
    if (op == "Softmax") return torch::softmax(in(0), n.attr_i("axis", -1));
    if (op == "Conv") {
      auto pads = n.attr_ints("pads", {0, 0, 0, 0});
      torch::Tensor x = in(0);
      if (pads.size() == 4 && (pads[0] != pads[2] || pads[1] != pads[3])) {
        x = torch::constant_pad_nd(x, {pads[1], pads[3], pads[0], pads[2]});
        pads = {0, 0, 0, 0};
      }
      const std::vector<int64_t> p2 = pads.size() == 4 ? std::vector<int64_t>{pads[0], pads[1]} : std::vector<int64_t>{0, 0};
      return torch::conv2d(x, in(1), has(2) ? in(2) : torch::Tensor(), n.attr_ints("strides", {1, 1}), p2, n.attr_ints("dilations", {1, 1}),
                           n.attr_i("group", 1));
    }
    if (op == "MaxPool" || op == "AveragePool") {
      auto pads = n.attr_ints("pads", {0, 0, 0, 0});
      if (pads.size() != 4 || pads[0] != pads[2] || pads[1] != pads[3]) throw Error("finetune: " + n.label() + ": asymmetric pads are not supported");
      const auto k = n.attr_ints("kernel_shape"), s = n.attr_ints("strides", {1, 1});
      const bool ceil = n.attr_i("ceil_mode", 0) != 0;
      if (op == "MaxPool") return torch::max_pool2d(in(0), k, s, {pads[0], pads[1]}, {1, 1}, ceil);
      return torch::avg_pool2d(in(0), k, s, {pads[0], pads[1]}, ceil, n.attr_i("count_include_pad", 0) != 0);
    }
    if (op == "GlobalAveragePool") return in(0).mean({2, 3}, true);
    if (op == "BatchNormalization")
      return torch::batch_norm(in(0), in(1), in(2), in(3), in(4), false, 0.0, n.attr_f("epsilon", 1e-5f), false);
    if (op == "Concat") {
      std::vector<torch::Tensor> xs;
      for (size_t i = 0; i < n.inputs.size(); ++i) xs.push_back(in(i));
      return torch::cat(xs, n.attr_i("axis", 0));
    }
    throw Error("finetune: " + n.label() + ": operator is not supported by the libtorch bridge");
  }

  struct Shared {
    torch::Tensor centroids, index, zero;  // [K] values, [numel] cluster of each weight, the zero cluster (0 or 1)
  };
  const Graph& g_;
  std::map<std::string, torch::Tensor> params_, consts_, masks_;
  std::map<std::string, Shared> shared_;
};

std::string train_pass(Model& m, const StepParams& p, PassContext& ctx, bool sharing) {
  const char* step = sharing ? "share-finetune" : "finetune";
  const std::string dir = p.text("data", "/usr/share/datasets/fashion-mnist");
  const int epochs = static_cast<int>(p.number("epochs", 1));
  const int batch = static_cast<int>(p.number("batch", 64));
  const double lr = p.number("lr", 0.01), momentum = p.number("momentum", 0.9);
  const int max_n = static_cast<int>(p.number("max_samples", -1));
  const uint32_t seed = static_cast<uint32_t>(p.number("seed", 1));
  if (epochs < 1 || batch < 1) throw Error(p.where + ": " + step + ": epochs and batch must be at least 1");
  if (m.graph.inputs.empty() || m.graph.outputs.empty()) throw Error(p.where + ": " + step + ": the model has no input or output");
  Dataset d = load_idx(dir, "train", max_n);
  torch::manual_seed(seed);
  torch::set_num_threads(std::max(1, ctx.threads));
  TorchGraph tg(m.graph);
  if (tg.trainable() == 0) return std::string(step) + ": no Conv/Gemm/MatMul weights to train";
  if (sharing && tg.enable_sharing(static_cast<int64_t>(p.number("max_centroids", 256))) == 0)
    throw Error(p.where + ": share-finetune: no weight tensor has few enough distinct values: run `share` first");
  // input shape: [N, pixels] or the model's declared [N, C, H, W]
  std::vector<int64_t> shape = {-1};
  for (size_t i = 1; i < m.graph.inputs[0].dims.size(); ++i) shape.push_back(m.graph.inputs[0].dims[i].value);
  torch::Tensor x_all = torch::from_blob(d.x.data(), {static_cast<int64_t>(d.y.size()), static_cast<int64_t>(d.x.cols())}, torch::kFloat32);
  std::vector<int64_t> labels(d.y.begin(), d.y.end());
  torch::Tensor y_all = torch::tensor(labels, torch::kInt64);
  torch::optim::SGD opt(tg.parameters(), torch::optim::SGDOptions(lr).momentum(momentum));
  const int64_t n = x_all.size(0), steps = (n + batch - 1) / batch;
  std::mt19937 rng(seed);
  std::vector<int64_t> order(static_cast<size_t>(n));
  double first_loss = NAN, last_loss = NAN;
  const auto t0 = std::chrono::steady_clock::now();
  for (int e = 0; e < epochs; ++e) {
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    torch::Tensor idx_all = torch::tensor(order, torch::kInt64);
    double sum = 0;
    for (int64_t s = 0; s < steps; ++s) {
      torch::Tensor idx = idx_all.slice(0, s * batch, std::min(n, (s + 1) * batch));
      torch::Tensor xb = x_all.index_select(0, idx).reshape(shape), yb = y_all.index_select(0, idx);
      opt.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(tg.forward(xb), yb);
      loss.backward();
      if (sharing) tg.update_centroids(lr);
      opt.step();
      tg.apply_masks();
      sum += loss.item<double>();
      if ((s + 1) % 100 == 0 || s + 1 == steps) {
        const double done = static_cast<double>(e * steps + s + 1) / static_cast<double>(epochs * steps);
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (isatty(2)) std::fprintf(stderr, "\r%s: epoch %d/%d  batch %lld/%lld  loss %.4f  ETA %.0f s   ", step, e + 1, epochs, static_cast<long long>(s + 1),
                     static_cast<long long>(steps), sum / static_cast<double>(s + 1), el / done * (1 - done));
      }
    }
    const double mean = sum / static_cast<double>(steps);
    if (e == 0) first_loss = mean;
    last_loss = mean;
  }
  if (isatty(2)) std::fprintf(stderr, "\n");
  tg.write_back(m.graph);
  char line[500];
  std::snprintf(line, sizeof line,
                "%s: %d epoch(s) on %lld samples of %s (SGD lr %g momentum %g batch %d seed %u, libtorch); mean loss %.4f -> %.4f; "
                "%zu tensors trained (%zu through shared centroids), %zu with pruned positions kept at zero",
                step, epochs, static_cast<long long>(n), dir.c_str(), lr, momentum, batch, seed, first_loss, last_loss, tg.trainable(), tg.shared(),
                tg.masked());
  return line;
}

std::string finetune_pass(Model& m, const StepParams& p, PassContext& ctx) { return train_pass(m, p, ctx, false); }
std::string share_finetune_pass(Model& m, const StepParams& p, PassContext& ctx) { return train_pass(m, p, ctx, true); }

}  // namespace

void register_train_passes(std::map<std::string, PassInfo>& r) {
  r["finetune"] = {"finetune", {"data", "epochs", "batch", "lr", "momentum", "seed", "max_samples"}, false,
                   "train the weights on labelled IDX data (libtorch), pruned weights kept at zero: data DIR, epochs, batch, lr, momentum, "
                   "seed, max_samples",
                   finetune_pass};
  r["share-finetune"] = {"share-finetune", {"data", "epochs", "batch", "lr", "momentum", "seed", "max_samples", "max_centroids"}, false,
                         "after `share`: train the shared centroids with the gradients summed per cluster (Deep Compression 3.3), "
                         "zeros kept; other parameters (biases) by SGD",
                         share_finetune_pass};
}

}  // namespace ec::compress
