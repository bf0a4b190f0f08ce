#include "torch_bridge.h"

#include <cmath>
#include <cstring>

#include "error.h"

namespace ec::compress {
namespace {

torch::Tensor to_torch(const Tensor& t) {
  std::vector<int64_t> s(t.shape().begin(), t.shape().end());
  auto wrap = [&](torch::ScalarType st) { return torch::from_blob(const_cast<void*>(t.data()), s, st).clone(); };
  switch (t.dtype()) {
    case DType::f32: return wrap(torch::kFloat32);
    case DType::i64: return wrap(torch::kInt64);
    case DType::i32: return wrap(torch::kInt32);
    case DType::i8: return wrap(torch::kInt8);
    case DType::u8: return wrap(torch::kUInt8);
    default: throw Error(std::string("training: constant of type ") + dtype_name(t.dtype()) + " is not supported by the libtorch bridge");
  }
}

std::vector<int64_t> int_values(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// A per-axis [C] vector shaped to broadcast along `axis` of a rank-`rank` tensor.
torch::Tensor along(const torch::Tensor& v, int64_t axis, int64_t rank) {
  if (v.dim() == 0) return v;
  std::vector<int64_t> s(static_cast<size_t>(rank), 1);
  s[static_cast<size_t>(axis)] = v.numel();
  return v.reshape(s);
}

// Per-channel symmetric int8 scale of `w` along `axis`: max|w| / 127 (1 for an all-zero channel).
torch::Tensor channel_scale(const torch::Tensor& w, int64_t axis) {
  torch::Tensor a = w.detach().abs().transpose(0, axis).reshape({w.size(axis), -1}).amax(1);
  return torch::where(a > 0, a / 127.0, torch::ones_like(a));
}

}  // namespace

TorchGraph::TorchGraph(const Graph& g, BridgeOptions o) : g_(g), o_(o) {
  static const std::set<std::string> supported = {
      "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Identity", "Dropout", "Clip", "Flatten", "Reshape",
      "Transpose", "ConstantOfShape", "Pad", "Softmax", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Concat",
      "QuantizeLinear", "DequantizeLinear"};
  for (auto& n : g.nodes)
    if (!supported.count(n.op_type) || (!n.domain.empty() && n.domain != "ai.onnx"))
      throw Error("training: " + n.label() + ": operator is not supported by the libtorch bridge");
  std::map<std::string, std::string> producer;
  for (auto& n : g.nodes)
    for (auto& out : n.outputs) producer[out] = n.op_type;
  std::set<std::string> trainable, stats;
  if (o.trainable)
    for (auto& n : g.nodes) {
      if (n.op_type == "Conv" || n.op_type == "Gemm")
        for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) trainable.insert(n.inputs[i]);
      if (n.op_type == "MatMul" && n.inputs.size() > 1) trainable.insert(n.inputs[1]);
      if (n.op_type == "Add" && n.inputs.size() == 2)
        for (size_t i = 0; i < 2; ++i)
          if (producer.count(n.inputs[1 - i]) && producer[n.inputs[1 - i]] == "MatMul") trainable.insert(n.inputs[i]);
      if (n.op_type == "BatchNormalization" && o.train_bn && n.inputs.size() == 5) {
        trainable.insert(n.inputs[1]);
        trainable.insert(n.inputs[2]);
        stats.insert(n.inputs[3]);
        stats.insert(n.inputs[4]);
      }
      if (n.op_type == "DequantizeLinear" && o.qat && n.inputs.size() >= 2 && g.initializers.count(n.inputs[0]) &&
          g.initializers.count(n.inputs[1]) && g.initializers.at(n.inputs[0]).dtype() == DType::i8 &&
          g.initializers.at(n.inputs[0]).shape().size() >= 2) {
        const Tensor& q = g.initializers.at(n.inputs[0]);
        int64_t axis = n.attr_i("axis", 1);
        if (axis < 0) axis += static_cast<int64_t>(q.shape().size());
        if (g.initializers.at(n.inputs[1]).numel() == 1) axis = 0;  // per-tensor: one scale, broadcast
        qweights_[n.outputs.at(0)] = QWeight{n.inputs[0], n.inputs[1], axis};
      }
    }
  for (auto& kv : g.initializers) {
    torch::Tensor t = to_torch(kv.second);
    if (trainable.count(kv.first) && kv.second.dtype() == DType::f32) {
      t.set_requires_grad(true);
      params_[kv.first] = t;
    } else if (stats.count(kv.first) && kv.second.dtype() == DType::f32) {
      bn_stats_[kv.first] = t;
    } else {
      consts_[kv.first] = t;
    }
  }
  for (auto& kv : qweights_) {  // float masters from the int8 values and their scales
    const QWeight& q = kv.second;
    torch::Tensor w = consts_.at(q.master).to(torch::kFloat32);
    torch::Tensor s = consts_.at(q.scale).to(torch::kFloat32);
    w = (s.numel() == 1 ? w * s.reshape({}) : w * along(s, q.axis, w.dim())).contiguous();
    w.set_requires_grad(true);
    params_[q.master] = w;
  }
  for (auto& kv : params_) {
    const torch::Tensor& t = kv.second;
    // pruned weights (rank >= 2; a zero bias is just a value) stay at +0 (not -0: packers test the bits)
    if (t.dim() >= 2 && (t == 0).any().item<bool>()) masks_[kv.first] = (t == 0);
  }
}

std::vector<torch::Tensor> TorchGraph::parameters() const {
  std::vector<torch::Tensor> p;
  for (auto& kv : params_)
    if (!shared_.count(kv.first)) p.push_back(kv.second);
  return p;
}

std::vector<torch::Tensor> TorchGraph::state() const {
  std::vector<torch::Tensor> s;
  for (auto& kv : params_) s.push_back(kv.second);
  for (auto& kv : bn_stats_) s.push_back(kv.second);
  for (auto& kv : shared_) s.push_back(kv.second.centroids);
  return s;
}

size_t TorchGraph::enable_sharing(int64_t max_values) {
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

void TorchGraph::update_centroids(double lr) {
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

void TorchGraph::apply_masks() {
  torch::NoGradGuard ng;
  for (auto& kv : masks_) params_.at(kv.first).masked_fill_(kv.second, 0.0);
}

std::vector<torch::Tensor> TorchGraph::forward(const torch::Tensor& input, bool training) {
  batch_ = input.size(0);
  std::map<std::string, torch::Tensor> v;
  v[g_.inputs.at(0).name] = input;
  Getter get = [&](const std::string& name) -> torch::Tensor {
    if (auto it = v.find(name); it != v.end()) return it->second;
    if (auto it = params_.find(name); it != params_.end()) return it->second;
    if (auto it = bn_stats_.find(name); it != bn_stats_.end()) return it->second;
    if (auto it = consts_.find(name); it != consts_.end()) return it->second;
    throw Error("training: value '" + name + "' is not available");
  };
  for (const Node& n : g_.nodes) {
    if (n.outputs.empty()) continue;
    v[n.outputs[0]] = run(n, get, training);
  }
  std::vector<torch::Tensor> outs;
  for (auto& o : g_.outputs) outs.push_back(v.at(o.name));
  return outs;
}

void TorchGraph::write_back(Graph& g) const {
  auto put_f32 = [&](const std::string& name, const torch::Tensor& value) {
    torch::Tensor t = value.detach().to(torch::kFloat32).contiguous();
    Shape s(t.sizes().begin(), t.sizes().end());
    Tensor fresh(DType::f32, s);
    std::memcpy(fresh.data(), t.data_ptr<float>(), fresh.size_bytes());
    g.initializers.at(name) = fresh;
  };
  std::set<std::string> masters;
  for (auto& kv : qweights_) {
    const QWeight& q = kv.second;
    masters.insert(q.master);
    torch::Tensor w = params_.at(q.master).detach();
    const Tensor& old_scale = g.initializers.at(q.scale);
    torch::Tensor s = old_scale.numel() == 1 ? channel_scale(w.reshape({1, -1}), 0).reshape({}) : channel_scale(w, q.axis);
    torch::Tensor qi = torch::clamp(torch::round(w / along(s, q.axis, w.dim())), -127, 127).to(torch::kInt8).contiguous();
    Tensor fresh(DType::i8, g.initializers.at(q.master).shape());
    std::memcpy(fresh.data(), qi.data_ptr<int8_t>(), fresh.size_bytes());
    g.initializers.at(q.master) = fresh;
    torch::Tensor sc = s.reshape(std::vector<int64_t>(old_scale.shape().begin(), old_scale.shape().end())).contiguous();
    Tensor fs(DType::f32, old_scale.shape());
    std::memcpy(fs.data(), sc.data_ptr<float>(), fs.size_bytes());
    g.initializers.at(q.scale) = fs;
  }
  for (auto& kv : params_)
    if (!masters.count(kv.first)) put_f32(kv.first, kv.second);
  for (auto& kv : bn_stats_) put_f32(kv.first, kv.second);
}

torch::Tensor TorchGraph::run(const Node& n, const Getter& get, bool training) {
  const std::string& op = n.op_type;
  auto in = [&](size_t i) -> torch::Tensor { return get(n.inputs.at(i)); };
  auto has = [&](size_t i) { return i < n.inputs.size() && !n.inputs[i].empty(); };
  if (!n.domain.empty() && n.domain != "ai.onnx") throw Error("training: " + n.label() + ": operator domain '" + n.domain + "' is not supported by the libtorch bridge");
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
  if (op == "Div") return in(0) / in(1);
  if (op == "Relu") return torch::relu(in(0));
  if (op == "LeakyRelu") return torch::leaky_relu(in(0), n.attr_f("alpha", 0.01f));
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
    torch::Tensor x = in(0);
    std::vector<int64_t> s = int_values(in(1));
    for (size_t i = 0; i < s.size(); ++i)
      if (s[i] == 0 && !n.attr_i("allowzero", 0)) s[i] = x.size(static_cast<int64_t>(i));
    // a graph exported for batch 1: a fixed leading 1 follows the batch
    if (!s.empty() && s[0] == 1 && batch_ > 1 && x.size(0) == batch_) s[0] = batch_;
    return x.reshape(s);
  }
  if (op == "Transpose") {
    std::vector<int64_t> perm = n.attr_ints("perm");
    if (perm.empty())
      for (int64_t i = in(0).dim(); i-- > 0;) perm.push_back(i);
    return in(0).permute(perm);
  }
  if (op == "ConstantOfShape") {
    float value = 0;
    if (n.has("value") && n.attr_t("value").numel() == 1 && n.attr_t("value").dtype() == DType::f32) value = n.attr_t("value").ptr<float>()[0];
    else if (n.has("value") && n.attr_t("value").dtype() != DType::f32) throw Error("training: " + n.label() + ": only float values are supported");
    return torch::full(int_values(in(0)), value, torch::kFloat32);
  }
  if (op == "Pad") {
    if (n.attr_s("mode", "constant") != "constant") throw Error("training: " + n.label() + ": only constant padding is supported");
    torch::Tensor x = in(0);
    const std::vector<int64_t> p = has(1) ? int_values(in(1)) : n.attr_ints("pads");
    const int64_t r = x.dim();
    if (static_cast<int64_t>(p.size()) != 2 * r) throw Error("training: " + n.label() + ": pads do not match the rank");
    std::vector<int64_t> tp;  // torch: last dimension first, (begin, end) pairs
    for (int64_t d = r; d-- > 0;) {
      tp.push_back(p[static_cast<size_t>(d)]);
      tp.push_back(p[static_cast<size_t>(d + r)]);
    }
    const double value = has(2) ? in(2).item<double>() : n.attr_f("value", 0.f);
    return torch::constant_pad_nd(x, tp, value);
  }
  if (op == "Softmax") return torch::softmax(in(0), n.attr_i("axis", -1));
  if (op == "Conv") {
    auto pads = n.attr_ints("pads", {0, 0, 0, 0});
    torch::Tensor x = in(0);
    if (n.attr_s("auto_pad", "NOTSET") != "NOTSET") throw Error("training: " + n.label() + ": auto_pad is not supported");
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
    if (pads.size() != 4 || pads[0] != pads[2] || pads[1] != pads[3]) throw Error("training: " + n.label() + ": asymmetric pads are not supported");
    const auto k = n.attr_ints("kernel_shape"), s = n.attr_ints("strides", {1, 1});
    const bool ceil = n.attr_i("ceil_mode", 0) != 0;
    if (op == "MaxPool") return torch::max_pool2d(in(0), k, s, {pads[0], pads[1]}, {1, 1}, ceil);
    return torch::avg_pool2d(in(0), k, s, {pads[0], pads[1]}, ceil, n.attr_i("count_include_pad", 0) != 0);
  }
  if (op == "GlobalAveragePool") return in(0).mean({2, 3}, true);
  if (op == "BatchNormalization") {
    const bool train_mode = training && o_.train_bn && bn_stats_.count(n.inputs.at(3));
    return torch::batch_norm(in(0), in(1), in(2), in(3), in(4), train_mode, 1.0 - n.attr_f("momentum", 0.9f), n.attr_f("epsilon", 1e-5f), false);
  }
  if (op == "Concat") {
    std::vector<torch::Tensor> xs;
    const int64_t axis = n.attr_i("axis", 0);
    for (size_t i = 0; i < n.inputs.size(); ++i) xs.push_back(in(i));
    if (axis != 0 && batch_ > 1)  // constant padding made for batch 1
      for (auto& x : xs)
        if (x.dim() > 0 && x.size(0) == 1) {
          std::vector<int64_t> s(x.sizes().begin(), x.sizes().end());
          s[0] = batch_;
          x = x.expand(s);
        }
    return torch::cat(xs, axis);
  }
  if (op == "QuantizeLinear") {
    // fake quantization to the integer grid (as float, straight-through gradients); DequantizeLinear scales back
    torch::Tensor scale = in(1);
    if (scale.numel() != 1) throw Error("training: " + n.label() + ": per-axis activation quantization is not supported");
    int64_t zp = 0, qmin = 0, qmax = 255;  // ONNX: no zero point means uint8
    if (has(2)) {
      const torch::Tensor z = in(2);
      zp = z.to(torch::kInt64).item<int64_t>();
      if (z.scalar_type() == torch::kInt8) qmin = -128, qmax = 127;
    }
    const double s = scale.item<double>();
    return torch::fake_quantize_per_tensor_affine(in(0), s, zp, qmin, qmax) / s + static_cast<double>(zp);
  }
  if (op == "DequantizeLinear") {
    if (auto it = qweights_.find(n.outputs.at(0)); it != qweights_.end()) {  // QAT weight: fake-quantized master
      const torch::Tensor& w = params_.at(it->second.master);
      if (consts_.at(it->second.scale).numel() == 1) {
        const double s = channel_scale(w.reshape({1, -1}), 0).item<double>();
        return torch::fake_quantize_per_tensor_affine(w, s, 0, -127, 127);
      }
      const int64_t axis = it->second.axis;
      torch::Tensor s = channel_scale(w, axis);
      return torch::fake_quantize_per_channel_affine(w, s, torch::zeros({s.numel()}, torch::kInt32), axis, -127, 127);
    }
    torch::Tensor x = in(0).to(torch::kFloat32), scale = in(1).to(torch::kFloat32);
    torch::Tensor zp = has(2) ? in(2).to(torch::kFloat32) : torch::zeros_like(scale);
    if (scale.numel() == 1) return (x - zp.reshape({})) * scale.reshape({});
    int64_t axis = n.attr_i("axis", 1);
    if (axis < 0) axis += x.dim();
    return (x - along(zp, axis, x.dim())) * along(scale, axis, x.dim());
  }
  throw Error("training: " + n.label() + ": operator is not supported by the libtorch bridge");
}

}  // namespace ec::compress
