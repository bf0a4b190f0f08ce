#include "mlp.h"

#include <zlib.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "engine.h"
#include "error.h"

namespace ec::compress {
namespace {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::string read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!f) throw Error(path + ": cannot open");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  if (n < 0) throw Error(path + ": not readable as gzip");
  return out;
}

uint32_t be32(const std::string& s, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24) | (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8) | static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

std::string find_file(const std::string& dir, const std::string& base) {
  for (const std::string& p : {dir + "/" + base + ".gz", dir + "/" + base}) {
    FILE* f = std::fopen(p.c_str(), "rb");
    if (f) {
      std::fclose(f);
      return p;
    }
  }
  throw Error(dir + ": no " + base + "[.gz] (IDX data, e.g. Debian's dataset-fashion-mnist)");
}

Tensor to_tensor(const Mat& m) {
  Tensor t(DType::f32, {m.rows(), m.cols()});
  std::memcpy(t.data(), m.data(), t.size_bytes());
  return t;
}

}  // namespace

Dataset load_idx(const std::string& dir, const std::string& split, int max_n) {
  const std::string ip = find_file(dir, split + "-images-idx3-ubyte"), lp = find_file(dir, split + "-labels-idx1-ubyte");
  const std::string im = read_gz(ip), lb = read_gz(lp);
  if (im.size() < 16 || be32(im, 0) != 0x803) throw Error(ip + ": not an IDX image file (magic 0x00000803)");
  if (lb.size() < 8 || be32(lb, 0) != 0x801) throw Error(lp + ": not an IDX label file (magic 0x00000801)");
  const uint32_t n = be32(im, 4), rows = be32(im, 8), cols = be32(im, 12);
  if (be32(lb, 4) != n) throw Error(lp + ": " + std::to_string(be32(lb, 4)) + " labels for " + std::to_string(n) + " images");
  if (im.size() < 16 + static_cast<size_t>(n) * rows * cols || lb.size() < 8 + n) throw Error(ip + ": truncated");
  const int count = max_n > 0 ? std::min<int>(max_n, static_cast<int>(n)) : static_cast<int>(n);
  Dataset d;
  d.rows = static_cast<int>(rows);
  d.cols = static_cast<int>(cols);
  d.x.resize(count, rows * cols);
  d.y.resize(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    for (uint32_t p = 0; p < rows * cols; ++p) d.x(i, p) = static_cast<uint8_t>(im[16 + static_cast<size_t>(i) * rows * cols + p]) / 255.f;
    d.y[static_cast<size_t>(i)] = static_cast<uint8_t>(lb[8 + static_cast<size_t>(i)]);
    if (d.y[static_cast<size_t>(i)] > 9) throw Error(lp + ": label " + std::to_string(d.y[static_cast<size_t>(i)]) + " is not 0..9");
  }
  return d;
}

Model train_mlp(const Dataset& train, const MlpOptions& o, const std::function<void(int, double)>& progress) {
  if (train.x.rows() == 0) throw Error("train: no samples");
  std::mt19937 rng(o.seed);
  std::vector<int> sizes = {static_cast<int>(train.x.cols())};
  for (int h : o.hidden) sizes.push_back(h);
  sizes.push_back(10);
  const size_t L = sizes.size() - 1;
  std::vector<Mat> W(L), VW(L);
  std::vector<Eigen::RowVectorXf> b(L), vb(L);
  for (size_t l = 0; l < L; ++l) {  // He uniform
    const float lim = std::sqrt(6.f / sizes[l]);
    std::uniform_real_distribution<float> u(-lim, lim);
    W[l].resize(sizes[l], sizes[l + 1]);
    for (int i = 0; i < W[l].size(); ++i) W[l].data()[i] = u(rng);
    VW[l] = Mat::Zero(sizes[l], sizes[l + 1]);
    b[l] = Eigen::RowVectorXf::Zero(sizes[l + 1]);
    vb[l] = b[l];
  }
  std::vector<int> order(static_cast<size_t>(train.x.rows()));
  std::iota(order.begin(), order.end(), 0);
  std::vector<Mat> act(L + 1), delta(L);
  for (int e = 0; e < o.epochs; ++e) {
    std::shuffle(order.begin(), order.end(), rng);
    double loss = 0;
    for (size_t s = 0; s < order.size(); s += static_cast<size_t>(o.batch)) {
      const int n = static_cast<int>(std::min<size_t>(static_cast<size_t>(o.batch), order.size() - s));
      act[0].resize(n, train.x.cols());
      for (int i = 0; i < n; ++i) act[0].row(i) = train.x.row(order[s + static_cast<size_t>(i)]);
      for (size_t l = 0; l < L; ++l) {
        act[l + 1] = (act[l] * W[l]).rowwise() + b[l];
        if (l + 1 < L) act[l + 1] = act[l + 1].cwiseMax(0.f);
      }
      Mat& z = act[L];  // softmax cross-entropy
      Mat p = (z.colwise() - z.rowwise().maxCoeff()).array().exp();
      p = p.array().colwise() / p.rowwise().sum().array();
      delta[L - 1] = p;
      for (int i = 0; i < n; ++i) {
        const int y = train.y[static_cast<size_t>(order[s + static_cast<size_t>(i)])];
        loss -= std::log(std::max(p(i, y), 1e-12f));
        delta[L - 1](i, y) -= 1.f;
      }
      delta[L - 1] /= static_cast<float>(n);
      for (size_t l = L; l-- > 0;) {
        if (l > 0) delta[l - 1] = (delta[l] * W[l].transpose()).cwiseProduct((act[l].array() > 0.f).cast<float>().matrix());
        VW[l] = o.momentum * VW[l] - o.lr * (act[l].transpose() * delta[l]);
        vb[l] = o.momentum * vb[l] - o.lr * delta[l].colwise().sum();
        W[l] += VW[l];
        b[l] += vb[l];
      }
    }
    if (progress) progress(e + 1, loss / static_cast<double>(order.size()));
  }
  // the graph of mlp_untrained with the trained values
  Model m = mlp_untrained(static_cast<int>(train.x.cols()), o.hidden, o.seed);
  m.metadata.erase("edgecompress.arch");
  m.metadata["edgecompress.trained"] = "mlp sgd seed " + std::to_string(o.seed);
  for (size_t l = 0; l < L; ++l) {
    const std::string id = "fc" + std::to_string(l + 1);
    m.graph.initializers[id + ".weight"] = to_tensor(W[l]);
    m.graph.initializers[id + ".bias"] = Tensor::from_f32({b[l].size()}, std::vector<float>(b[l].data(), b[l].data() + b[l].size()));
  }
  return m;
}

Model lenet5_untrained(uint32_t seed) {
  Model m;
  m.opsets[""] = 13;
  m.producer_name = "edgecompress";
  m.metadata["edgecompress.arch"] = "lenet5 seed " + std::to_string(seed);
  std::mt19937 rng(seed);
  auto he = [&](Shape s, int64_t fan_in) {
    Tensor t(DType::f32, std::move(s));
    const float lim = std::sqrt(6.f / static_cast<float>(fan_in));
    std::uniform_real_distribution<float> u(-lim, lim);
    for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
    return t;
  };
  ValueInfo in;
  in.name = "images";
  in.has_shape = true;
  in.dims = {Dim{-1, "N"}, Dim{1, ""}, Dim{28, ""}, Dim{28, ""}};
  m.graph.inputs.push_back(in);
  auto& g = m.graph;
  auto ints = [](std::vector<int64_t> v) {
    Attribute a;
    a.kind = Attribute::Kind::ints;
    a.ints = std::move(v);
    return a;
  };
  g.initializers["conv1.weight"] = he({20, 1, 5, 5}, 25);
  g.initializers["conv1.bias"] = Tensor(DType::f32, {20});
  g.initializers["conv2.weight"] = he({50, 20, 5, 5}, 500);
  g.initializers["conv2.bias"] = Tensor(DType::f32, {50});
  g.initializers["fc1.weight"] = he({500, 800}, 800);
  g.initializers["fc1.bias"] = Tensor(DType::f32, {500});
  g.initializers["fc2.weight"] = he({10, 500}, 500);
  g.initializers["fc2.bias"] = Tensor(DType::f32, {10});
  const std::map<std::string, Attribute> pool = {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}};
  g.nodes.push_back(Node{"conv1", "Conv", "", {"images", "conv1.weight", "conv1.bias"}, {"c1"}, {{"kernel_shape", ints({5, 5})}}});
  g.nodes.push_back(Node{"relu1", "Relu", "", {"c1"}, {"r1"}, {}});
  g.nodes.push_back(Node{"pool1", "MaxPool", "", {"r1"}, {"p1"}, pool});
  g.nodes.push_back(Node{"conv2", "Conv", "", {"p1", "conv2.weight", "conv2.bias"}, {"c2"}, {{"kernel_shape", ints({5, 5})}}});
  g.nodes.push_back(Node{"relu2", "Relu", "", {"c2"}, {"r2"}, {}});
  g.nodes.push_back(Node{"pool2", "MaxPool", "", {"r2"}, {"p2"}, pool});
  g.nodes.push_back(Node{"flatten", "Flatten", "", {"p2"}, {"f"}, {}});
  Attribute tb;
  tb.kind = Attribute::Kind::i;
  tb.i = 1;
  g.nodes.push_back(Node{"fc1", "Gemm", "", {"f", "fc1.weight", "fc1.bias"}, {"h"}, {{"transB", tb}}});
  g.nodes.push_back(Node{"relu3", "Relu", "", {"h"}, {"hr"}, {}});
  g.nodes.push_back(Node{"fc2", "Gemm", "", {"hr", "fc2.weight", "fc2.bias"}, {"logits"}, {{"transB", tb}}});
  ValueInfo outv;
  outv.name = "logits";
  outv.has_shape = true;
  outv.dims = {Dim{-1, "N"}, Dim{10, ""}};
  g.outputs.push_back(outv);
  return m;
}

Model mlp_untrained(int pixels, const std::vector<int>& hidden, uint32_t seed) {
  Model m;
  m.opsets[""] = 13;
  m.producer_name = "edgecompress";
  m.metadata["edgecompress.arch"] = "mlp seed " + std::to_string(seed);
  std::mt19937 rng(seed);
  ValueInfo in;
  in.name = "images";
  in.has_shape = true;
  in.dims = {Dim{-1, "N"}, Dim{pixels, ""}};
  m.graph.inputs.push_back(in);
  std::vector<int> sizes = {pixels};
  sizes.insert(sizes.end(), hidden.begin(), hidden.end());
  sizes.push_back(10);
  std::string prev = "images";
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    const std::string id = "fc" + std::to_string(l + 1);
    Tensor w(DType::f32, {sizes[l], sizes[l + 1]});
    const float lim = std::sqrt(6.f / static_cast<float>(sizes[l]));
    std::uniform_real_distribution<float> u(-lim, lim);
    for (int64_t i = 0; i < w.numel(); ++i) w.ptr<float>()[i] = u(rng);
    m.graph.initializers[id + ".weight"] = w;
    m.graph.initializers[id + ".bias"] = Tensor(DType::f32, {sizes[l + 1]});
    const bool last = l + 2 == sizes.size();
    const std::string out = last ? "logits" : id;
    m.graph.nodes.push_back(Node{id, "Gemm", "", {prev, id + ".weight", id + ".bias"}, {out}, {}});
    prev = out;
    if (!last) {
      m.graph.nodes.push_back(Node{id + ".relu", "Relu", "", {out}, {out + ".relu"}, {}});
      prev = out + ".relu";
    }
  }
  ValueInfo outv;
  outv.name = "logits";
  outv.has_shape = true;
  outv.dims = {Dim{-1, "N"}, Dim{10, ""}};
  m.graph.outputs.push_back(outv);
  return m;
}

Model mobilenet_small_untrained(uint32_t seed) {
  Model m;
  m.opsets[""] = 13;
  m.producer_name = "edgecompress";
  m.metadata["edgecompress.arch"] = "mobilenet-small seed " + std::to_string(seed);
  std::mt19937 rng(seed);
  auto ints = [](std::vector<int64_t> v) {
    Attribute a;
    a.kind = Attribute::Kind::ints;
    a.ints = std::move(v);
    return a;
  };
  auto one = [](int64_t v) {
    Attribute a;
    a.kind = Attribute::Kind::i;
    a.i = v;
    return a;
  };
  auto& g = m.graph;
  ValueInfo in;
  in.name = "images";
  in.has_shape = true;
  in.dims = {Dim{-1, "N"}, Dim{1, ""}, Dim{28, ""}, Dim{28, ""}};
  g.inputs.push_back(in);
  std::string x = "images";
  int64_t c = 1;
  // conv (k x k, stride, groups) + BN + Relu
  auto block = [&](const std::string& id, int64_t out, int64_t k, int64_t stride, bool depthwise) {
    const int64_t group = depthwise ? c : 1, cin = c / group;
    Tensor w(DType::f32, {out, cin, k, k});
    const float lim = std::sqrt(6.f / static_cast<float>(cin * k * k));
    std::uniform_real_distribution<float> u(-lim, lim);
    for (int64_t i = 0; i < w.numel(); ++i) w.ptr<float>()[i] = u(rng);
    g.initializers[id + ".weight"] = w;
    std::map<std::string, Attribute> a = {{"kernel_shape", ints({k, k})}, {"strides", ints({stride, stride})}, {"pads", ints({k / 2, k / 2, k / 2, k / 2})}};
    if (group > 1) a["group"] = one(group);
    g.nodes.push_back(Node{id, "Conv", "", {x, id + ".weight"}, {id + ".c"}, a});
    std::vector<float> ones(static_cast<size_t>(out), 1.f), zeros(static_cast<size_t>(out), 0.f);
    g.initializers[id + ".bn.scale"] = Tensor::from_f32({out}, ones);
    g.initializers[id + ".bn.bias"] = Tensor::from_f32({out}, zeros);
    g.initializers[id + ".bn.mean"] = Tensor::from_f32({out}, zeros);
    g.initializers[id + ".bn.var"] = Tensor::from_f32({out}, ones);
    g.nodes.push_back(Node{id + ".bn", "BatchNormalization", "", {id + ".c", id + ".bn.scale", id + ".bn.bias", id + ".bn.mean", id + ".bn.var"}, {id + ".b"}, {}});
    g.nodes.push_back(Node{id + ".relu", "Relu", "", {id + ".b"}, {id + ".r"}, {}});
    x = id + ".r";
    c = out;
  };
  block("stem", 16, 3, 1, false);
  block("dw1", 16, 3, 2, true);
  block("pw1", 32, 1, 1, false);
  block("dw2", 32, 3, 2, true);
  block("pw2", 64, 1, 1, false);
  block("dw3", 64, 3, 1, true);
  block("pw3", 128, 1, 1, false);
  g.nodes.push_back(Node{"gap", "GlobalAveragePool", "", {x}, {"gap"}, {}});
  g.nodes.push_back(Node{"flatten", "Flatten", "", {"gap"}, {"f"}, {}});
  Tensor w(DType::f32, {10, 128});
  const float lim = std::sqrt(6.f / 128.f);
  std::uniform_real_distribution<float> u(-lim, lim);
  for (int64_t i = 0; i < w.numel(); ++i) w.ptr<float>()[i] = u(rng);
  g.initializers["fc.weight"] = w;
  g.initializers["fc.bias"] = Tensor(DType::f32, {10});
  g.nodes.push_back(Node{"fc", "Gemm", "", {"f", "fc.weight", "fc.bias"}, {"logits"}, {{"transB", one(1)}}});
  ValueInfo outv;
  outv.name = "logits";
  outv.has_shape = true;
  outv.dims = {Dim{-1, "N"}, Dim{10, ""}};
  g.outputs.push_back(outv);
  return m;
}

double classification_accuracy(const Model& m, const Dataset& test, int threads) {
  EngineOptions eo;
  eo.threads = threads;
  auto eng = create_engine("native", m, eo);
  const int64_t n = test.x.rows(), batch = 100, px = test.x.cols();
  Shape s = m.graph.inputs.at(0).dims.size() == 4 ? Shape{batch, 1, test.rows, test.cols} : Shape{batch, px};
  eng->prepare({{m.graph.inputs[0].name, s}});
  int64_t correct = 0, seen = 0;
  for (int64_t i = 0; i + batch <= n; i += batch) {
    std::memcpy(eng->input(0).data(), test.x.data() + i * px, static_cast<size_t>(batch * px) * sizeof(float));
    eng->run();
    const Tensor& y = eng->output(0);
    const int64_t classes = y.numel() / batch;
    for (int64_t k = 0; k < batch; ++k) {
      const float* row = y.ptr<float>() + k * classes;
      correct += (std::max_element(row, row + classes) - row) == test.y[static_cast<size_t>(i + k)];
    }
    seen += batch;
  }
  if (seen == 0) throw Error("accuracy: fewer than 100 test samples");
  return static_cast<double>(correct) / static_cast<double>(seen);
}

}  // namespace ec::compress
