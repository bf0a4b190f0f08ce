// Writes ONNX models of the architecture kinds users bring, built in code (random weights, fixed seed): the
// layer shapes and operator mix of the real networks, not their accuracy. For whole-model benchmarks
// (bench/models.sh) and the zoo's end-to-end check (compress int8 -> eval fidelity -> run: bench/zoo_e2e.sh).
//   bench_zoo OUT_DIR [NAME...]   -> OUT_DIR/NAME.onnx for each (default: all)
// NAMEs: mobilenetv2, resnet18, yolo (YOLOv5-shaped, three raw heads), mobilenetv3 (HardSwish, squeeze-excitation
// with HardSigmoid), mobilenetv3-const (the same with every weight in a Constant node and a symbolic HxW input,
// as PaddlePaddle and some PyTorch exports write), seghead (a text-detection/segmentation head: bilinear Resize,
// ConvTranspose, Sigmoid), yolov8 (SiLU, C2f, SPPF, anchor-free head with DFL decoded in the graph: [1,84,N]),
// ssd (SSDLite-shaped: scores [1,N,21] and prior-decoded boxes [1,N,4]).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "error.h"
#include "ir.h"
#include "onnx_io.h"

namespace {

using namespace ec;
using ec::bench::ints;
using ec::bench::integer;


class Builder {
 public:
  // opset 10 (the default): Clip bounds as attributes, Resize(X, scales): what OpenCV 4.6 DNN imports; HardSwish
  // needs 14. constant_weights: every weight is a Constant node's value instead of an initializer.
  explicit Builder(const std::string& name, int opset = 10, bool constant_weights = false)
      : rng_(1234), opset_(opset), constant_weights_(constant_weights) {
    m_.opsets[""] = opset;
    m_.producer_name = "edgecompress bench_zoo";
    m_.graph.name = name;
  }
  std::string input(const std::string& name, Shape s) {
    ValueInfo v;
    v.name = name;
    v.has_shape = true;
    for (int64_t d : s) v.dims.push_back(Dim{d, ""});
    m_.graph.inputs.push_back(v);
    return name;
  }
  // An input with some dimensions symbolic (Dim{-1, "height"}).
  std::string input(const std::string& name, std::vector<Dim> dims) {
    ValueInfo v;
    v.name = name;
    v.has_shape = true;
    v.dims = std::move(dims);
    m_.graph.inputs.push_back(v);
    return name;
  }
  // A graph output of the given rank (dimensions left symbolic: the checker needs a shape field).
  void output(const std::string& v, int rank) {
    ValueInfo o;
    o.name = v;
    o.has_shape = true;
    for (int i = 0; i < rank; ++i) o.dims.push_back(Dim{-1, v + "_d" + std::to_string(i)});
    m_.graph.outputs.push_back(o);
  }
  // Uniform weights of variance 2 / fan_in (He), so activations stay in range through deep stacks.
  std::string weight(Shape s, int64_t fan_in, float gain = 1.f) {
    Tensor t(DType::f32, s);
    const float lim = gain * std::sqrt(6.f / static_cast<float>(fan_in));
    std::uniform_real_distribution<float> u(-lim, lim);
    for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng_);
    return constant(t);
  }
  std::string constant(Tensor t) {
    if (constant_weights_) {
      Attribute a;
      a.kind = Attribute::Kind::t;
      a.t = std::move(t);
      return node("Constant", {}, {{"value", a}});
    }
    std::string n = "w" + std::to_string(next_++);
    m_.graph.initializers[n] = std::move(t);
    return n;
  }
  std::string ints_const(std::vector<int64_t> v) {
    Tensor t(DType::i64, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.ptr<int64_t>()[i] = v[i];
    return constant(std::move(t));
  }
  std::string scalar(float v) { return constant(Tensor::from_f32({1}, {v})); }
  std::string scalar0(float v) { return constant(Tensor::from_f32({}, {v})); }  // rank 0
  // Resize by 2 in H and W: mode "nearest" or "linear" (bilinear); the opset decides the inputs' form.
  std::string up2(const std::string& v, const std::string& mode) {
    Attribute m;
    m.kind = Attribute::Kind::s;
    m.s = mode;
    std::map<std::string, Attribute> attrs{{"mode", m}};
    const std::string scales = constant(Tensor::from_f32({4}, {1, 1, 2, 2}));
    if (opset_ < 11) return node("Resize", {v, scales}, attrs);
    if (mode == "linear") {
      Attribute ct;
      ct.kind = Attribute::Kind::s;
      ct.s = "half_pixel";
      attrs["coordinate_transformation_mode"] = ct;
    }
    return node("Resize", {v, "", scales}, attrs);
  }
  std::string concat(std::vector<std::string> in, int64_t axis) { return node("Concat", std::move(in), {{"axis", integer(axis)}}); }
  std::string reshape(const std::string& v, std::vector<int64_t> shape) { return node("Reshape", {v, ints_const(std::move(shape))}); }
  std::string transpose(const std::string& v, std::vector<int64_t> perm) { return node("Transpose", {v}, {{"perm", ints(std::move(perm))}}); }
  // Split along axis into parts of the given sizes (opset 13: sizes as an input).
  std::vector<std::string> split(const std::string& v, int64_t axis, std::vector<int64_t> sizes) {
    std::vector<std::string> outs;
    for (size_t i = 0; i < sizes.size(); ++i) outs.push_back("t" + std::to_string(next_++));
    std::map<std::string, Attribute> attrs{{"axis", integer(axis)}};
    std::vector<std::string> in{v};
    if (opset_ >= 13) in.push_back(ints_const(sizes));
    else attrs["split"] = ints(sizes);
    m_.graph.nodes.push_back(Node{"Split_" + outs[0], "Split", "", std::move(in), outs, std::move(attrs)});
    return outs;
  }
  std::string node(const std::string& op, std::vector<std::string> in, std::map<std::string, Attribute> attrs = {}) {
    std::string out = "t" + std::to_string(next_++);
    m_.graph.nodes.push_back(Node{op + "_" + out, op, "", std::move(in), {out}, std::move(attrs)});
    return out;
  }
  // Conv (bias) with "same" padding for odd kernels; act: "", "relu", "relu6", "silu".
  std::string conv(const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride, int64_t group, const std::string& act) {
    const int64_t p = k / 2;
    std::string y = node("Conv", {x, weight({cout, cin / group, k, k}, cin / group * k * k), weight({cout}, cin / group * k * k)},
                         {{"kernel_shape", ints({k, k})}, {"strides", ints({stride, stride})}, {"pads", ints({p, p, p, p})}, {"group", integer(group)}});
    if (act == "relu") return node("Relu", {y});
    if (act == "relu6" && opset_ >= 11) return node("Clip", {y, scalar0(0.f), scalar0(6.f)});  // bounds as inputs
    if (act == "relu6") {
      Attribute lo, hi;
      lo.kind = hi.kind = Attribute::Kind::f;
      lo.f = 0.f;
      hi.f = 6.f;
      return node("Clip", {y}, {{"min", lo}, {"max", hi}});
    }
    if (act == "silu") return node("Mul", {y, node("Sigmoid", {y})});
    if (act == "hswish") return node("HardSwish", {y});
    if (act == "hsigmoid") return hsigmoid(y);
    return y;
  }
  // A 1x1 Conv whose bias is `bias` everywhere: a detection head's class layer initialised to a prior
  // probability, as Ultralytics and torchvision do (log(p / (1 - p))), so scores are low except where the
  // features push them up.
  std::string head(const std::string& x, int64_t cin, int64_t cout, float bias, float gain) {
    return node("Conv", {x, weight({cout, cin, 1, 1}, cin, gain), constant(Tensor::from_f32({cout}, std::vector<float>(static_cast<size_t>(cout), bias)))},
                {{"kernel_shape", ints({1, 1})}});
  }
  // PyTorch's Hardsigmoid as exported: alpha 1/6, beta 0.5.
  std::string hsigmoid(const std::string& y) {
    Attribute a, b;
    a.kind = b.kind = Attribute::Kind::f;
    a.f = 1.f / 6.f;
    b.f = 0.5f;
    return node("HardSigmoid", {y}, {{"alpha", a}, {"beta", b}});
  }
  // ConvTranspose with kernel 2, stride 2 (doubles H and W), bias.
  std::string deconv2(const std::string& x, int64_t cin, int64_t cout) {
    return node("ConvTranspose", {x, weight({cin, cout, 2, 2}, cin), weight({cout}, cin)},
                {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}});
  }
  std::string classifier(const std::string& x, int64_t c, int64_t classes) {
    std::string f = node("Flatten", {node("GlobalAveragePool", {x})});
    return node("Gemm", {f, weight({classes, c}, c), weight({classes}, c)}, {{"transB", integer(1)}});
  }
  const Model& model() const { return m_; }
  int opset() const { return opset_; }

 private:
  Model m_;
  std::mt19937 rng_;
  int opset_;
  bool constant_weights_;
  int next_ = 0;
};

Model mobilenet_v2() {
  Builder b("mobilenetv2");
  std::string x = b.conv(b.input("input", {1, 3, 224, 224}), 3, 32, 3, 2, 1, "relu6");
  int64_t c = 32;
  const int64_t cfg[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (auto& r : cfg) {
    for (int64_t i = 0; i < r[2]; ++i) {
      const int64_t s = i == 0 ? r[3] : 1, hidden = c * r[0];
      std::string h = r[0] == 1 ? x : b.conv(x, c, hidden, 1, 1, 1, "relu6");
      h = b.conv(h, hidden, hidden, 3, s, hidden, "relu6");
      h = b.conv(h, hidden, r[1], 1, 1, 1, "");
      x = s == 1 && c == r[1] ? b.node("Add", {x, h}) : h;
      c = r[1];
    }
  }
  x = b.conv(x, c, 1280, 1, 1, 1, "relu6");
  b.output(b.classifier(x, 1280, 1000), 2);
  return b.model();
}

Model resnet18() {
  Builder b("resnet18");
  std::string x = b.conv(b.input("input", {1, 3, 224, 224}), 3, 64, 7, 2, 1, "relu");
  x = b.node("MaxPool", {x}, {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}});
  int64_t c = 64;
  for (int64_t stage = 0; stage < 4; ++stage) {
    const int64_t cout = 64 << stage;
    for (int64_t blk = 0; blk < 2; ++blk) {
      const int64_t s = stage > 0 && blk == 0 ? 2 : 1;
      std::string h = b.conv(b.conv(x, c, cout, 3, s, 1, "relu"), cout, cout, 3, 1, 1, "");
      std::string sc = s != 1 || c != cout ? b.conv(x, c, cout, 1, s, 1, "") : x;
      x = b.node("Relu", {b.node("Add", {h, sc})});
      c = cout;
    }
  }
  b.output(b.classifier(x, c, 1000), 2);
  return b.model();
}

// A YOLOv5-style detector at 320x320: SiLU convolutions, C3-like blocks (split, bottlenecks, concat), SPPF
// (three chained 5x5 max pools), an FPN neck with nearest upsampling and concatenation, three 1x1 heads.
Model yolo() {
  Builder b("yolo");
  auto c3 = [&](const std::string& x, int64_t cin, int64_t cout, int n) {
    const int64_t h = cout / 2;
    std::string a = b.conv(x, cin, h, 1, 1, 1, "silu");
    for (int i = 0; i < n; ++i) a = b.node("Add", {a, b.conv(b.conv(a, h, h, 1, 1, 1, "silu"), h, h, 3, 1, 1, "silu")});
    std::string s = b.conv(x, cin, h, 1, 1, 1, "silu");
    return b.conv(b.node("Concat", {a, s}, {{"axis", integer(1)}}), cout, cout, 1, 1, 1, "silu");
  };
  std::string x = b.conv(b.input("images", {1, 3, 320, 320}), 3, 16, 3, 2, 1, "silu");
  x = c3(b.conv(x, 16, 32, 3, 2, 1, "silu"), 32, 32, 1);
  std::string p3 = c3(b.conv(x, 32, 64, 3, 2, 1, "silu"), 64, 64, 2);     // /8
  std::string p4 = c3(b.conv(p3, 64, 128, 3, 2, 1, "silu"), 128, 128, 3); // /16
  std::string p5 = c3(b.conv(p4, 128, 256, 3, 2, 1, "silu"), 256, 256, 1);  // /32
  {  // SPPF
    std::string a = b.conv(p5, 256, 128, 1, 1, 1, "silu");
    auto pool = [&](const std::string& v) {
      return b.node("MaxPool", {v}, {{"kernel_shape", ints({5, 5})}, {"strides", ints({1, 1})}, {"pads", ints({2, 2, 2, 2})}});
    };
    std::string m1 = pool(a), m2 = pool(m1), m3 = pool(m2);
    p5 = b.conv(b.node("Concat", {a, m1, m2, m3}, {{"axis", integer(1)}}), 512, 256, 1, 1, 1, "silu");
  }
  auto up = [&](const std::string& v) {
    Attribute nearest;
    nearest.kind = Attribute::Kind::s;
    nearest.s = "nearest";
    return b.node("Resize", {v, b.constant(Tensor::from_f32({4}, {1, 1, 2, 2}))}, {{"mode", nearest}});
  };
  std::string h5 = b.conv(p5, 256, 128, 1, 1, 1, "silu");
  std::string n4 = c3(b.node("Concat", {up(h5), p4}, {{"axis", integer(1)}}), 256, 128, 1);
  std::string h4 = b.conv(n4, 128, 64, 1, 1, 1, "silu");
  std::string n3 = c3(b.node("Concat", {up(h4), p3}, {{"axis", integer(1)}}), 128, 64, 1);
  std::string d4 = c3(b.node("Concat", {b.conv(n3, 64, 64, 3, 2, 1, "silu"), h4}, {{"axis", integer(1)}}), 128, 128, 1);
  std::string d5 = c3(b.node("Concat", {b.conv(d4, 128, 128, 3, 2, 1, "silu"), h5}, {{"axis", integer(1)}}), 256, 256, 1);
  const int64_t na = 3 * (5 + 80);
  b.output(b.conv(n3, 64, na, 1, 1, 1, ""), 4);
  b.output(b.conv(d4, 128, na, 1, 1, 1, ""), 4);
  b.output(b.conv(d5, 256, na, 1, 1, 1, ""), 4);
  return b.model();
}

// MobileNetV3-Small at 224x224: HardSwish and ReLU inverted residuals, squeeze-excitation (GlobalAveragePool ->
// 1x1 -> ReLU -> 1x1 -> HardSigmoid -> Mul), a 1x1 "classifier conv" and Gemm to 1000 classes. constant_weights
// and a symbolic HxW input make it the shape of a PaddlePaddle export (run at the size a task gives).
Model mobilenet_v3(bool paddle_style) {
  Builder b(paddle_style ? "mobilenetv3-const" : "mobilenetv3", 14, paddle_style);
  std::string in = paddle_style ? b.input("x", std::vector<Dim>{{1, ""}, {3, ""}, {-1, "height"}, {-1, "width"}})
                                : b.input("input", Shape{1, 3, 224, 224});
  std::string x = b.conv(in, 3, 16, 3, 2, 1, "hswish");
  int64_t c = 16;
  auto se = [&](const std::string& v, int64_t ch) {
    const int64_t r = std::max<int64_t>(8, (ch / 4 + 4) / 8 * 8);
    std::string s = b.conv(b.node("GlobalAveragePool", {v}), ch, r, 1, 1, 1, "relu");
    s = b.conv(s, r, ch, 1, 1, 1, "hsigmoid");
    return b.node("Mul", {v, s});
  };
  // kernel, expansion, out, squeeze-excitation, activation (0 relu, 1 hswish), stride
  const int64_t cfg[][6] = {{3, 16, 16, 1, 0, 2},  {3, 72, 24, 0, 0, 2},  {3, 88, 24, 0, 0, 1},  {5, 96, 40, 1, 1, 2},
                            {5, 240, 40, 1, 1, 1}, {5, 240, 40, 1, 1, 1}, {5, 120, 48, 1, 1, 1}, {5, 144, 48, 1, 1, 1},
                            {5, 288, 96, 1, 1, 2}, {5, 576, 96, 1, 1, 1}, {5, 576, 96, 1, 1, 1}};
  for (auto& r : cfg) {
    const std::string act = r[4] ? "hswish" : "relu";
    std::string h = r[1] == c ? x : b.conv(x, c, r[1], 1, 1, 1, act);
    h = b.conv(h, r[1], r[1], r[0], r[5], r[1], act);
    if (r[3]) h = se(h, r[1]);
    h = b.conv(h, r[1], r[2], 1, 1, 1, "");
    x = r[5] == 1 && c == r[2] ? b.node("Add", {x, h}) : h;
    c = r[2];
  }
  x = b.conv(x, c, 576, 1, 1, 1, "hswish");
  x = b.conv(b.node("GlobalAveragePool", {x}), 576, 1024, 1, 1, 1, "hswish");
  std::string f = b.node("Flatten", {x});
  b.output(b.node("Gemm", {f, b.weight({1000, 1024}, 1024), b.weight({1000}, 1024)}, {{"transB", integer(1)}}), 2);
  return b.model();
}

// A text-detection / segmentation head (DBNet-shaped) at 256x256: a strided backbone to 1/32, an FPN whose
// top-down path upsamples with bilinear Resize, the four levels resized to 1/4 and concatenated, then two
// stride-2 ConvTranspose layers back to full size and a Sigmoid: a [1,1,256,256] probability map.
Model seghead() {
  Builder b("seghead", 13);
  std::string x = b.conv(b.input("input", Shape{1, 3, 256, 256}), 3, 16, 3, 2, 1, "relu");
  x = b.conv(x, 16, 16, 3, 1, 16, "relu");
  std::string c2 = b.conv(b.conv(x, 16, 24, 3, 2, 1, "relu"), 24, 24, 3, 1, 1, "relu");    // 1/4
  std::string c3 = b.conv(b.conv(c2, 24, 40, 3, 2, 1, "relu"), 40, 40, 3, 1, 1, "relu");  // 1/8
  std::string c4 = b.conv(b.conv(c3, 40, 80, 3, 2, 1, "relu"), 80, 80, 3, 1, 1, "relu");  // 1/16
  std::string c5 = b.conv(b.conv(c4, 80, 160, 3, 2, 1, "relu"), 160, 160, 3, 1, 1, "relu");  // 1/32
  const int64_t f = 48;
  std::string p5 = b.conv(c5, 160, f, 1, 1, 1, "");
  std::string p4 = b.node("Add", {b.up2(p5, "linear"), b.conv(c4, 80, f, 1, 1, 1, "")});
  std::string p3 = b.node("Add", {b.up2(p4, "linear"), b.conv(c3, 40, f, 1, 1, 1, "")});
  std::string p2 = b.node("Add", {b.up2(p3, "linear"), b.conv(c2, 24, f, 1, 1, 1, "")});
  std::string o5 = b.up2(b.up2(b.up2(b.conv(p5, f, f / 4, 3, 1, 1, ""), "linear"), "linear"), "linear");
  std::string o4 = b.up2(b.up2(b.conv(p4, f, f / 4, 3, 1, 1, ""), "linear"), "linear");
  std::string o3 = b.up2(b.conv(p3, f, f / 4, 3, 1, 1, ""), "linear");
  std::string o2 = b.conv(p2, f, f / 4, 3, 1, 1, "");
  std::string h = b.conv(b.concat({o5, o4, o3, o2}, 1), f, 16, 3, 1, 1, "relu");
  h = b.node("Relu", {b.deconv2(h, 16, 16)});
  b.output(b.node("Sigmoid", {b.deconv2(h, 16, 1)}), 4);
  return b.model();
}

// YOLOv8n-shaped at 320x320: SiLU convolutions, C2f blocks (1x1 -> Split in two -> chained bottlenecks, every
// one concatenated -> 1x1), SPPF, a PAN neck with two nearest upsamplings, decoupled box (4 x 16 DFL bins) and
// class (80) heads on strides 8/16/32, and the anchor-free decode in the graph as Ultralytics exports it
// (softmax over the bins, a 1x1 convolution with weights 0..15, distances from the cell centres, times the
// stride): one [1, 84, 2100] output of cx, cy, w, h in input pixels and 80 sigmoid class scores.
Model yolov8() {
  Builder b("yolov8", 13);
  auto c2f = [&](const std::string& x, int64_t cin, int64_t cout, int n, bool shortcut) {
    const int64_t h = cout / 2;
    auto parts = b.split(b.conv(x, cin, 2 * h, 1, 1, 1, "silu"), 1, {h, h});
    std::vector<std::string> cat = {parts[0], parts[1]};
    std::string y = parts[1];
    for (int i = 0; i < n; ++i) {
      std::string z = b.conv(b.conv(y, h, h, 3, 1, 1, "silu"), h, h, 3, 1, 1, "silu");
      y = shortcut ? b.node("Add", {y, z}) : z;
      cat.push_back(y);
    }
    return b.conv(b.concat(cat, 1), (2 + n) * h, cout, 1, 1, 1, "silu");
  };
  std::string x = b.conv(b.input("images", Shape{1, 3, 320, 320}), 3, 16, 3, 2, 1, "silu");
  x = c2f(b.conv(x, 16, 32, 3, 2, 1, "silu"), 32, 32, 1, true);
  std::string p3 = c2f(b.conv(x, 32, 64, 3, 2, 1, "silu"), 64, 64, 2, true);     // /8
  std::string p4 = c2f(b.conv(p3, 64, 128, 3, 2, 1, "silu"), 128, 128, 2, true);  // /16
  std::string p5 = c2f(b.conv(p4, 128, 256, 3, 2, 1, "silu"), 256, 256, 1, true);  // /32
  {  // SPPF
    std::string a = b.conv(p5, 256, 128, 1, 1, 1, "silu");
    auto pool = [&](const std::string& v) {
      return b.node("MaxPool", {v}, {{"kernel_shape", ints({5, 5})}, {"strides", ints({1, 1})}, {"pads", ints({2, 2, 2, 2})}});
    };
    std::string m1 = pool(a), m2 = pool(m1), m3 = pool(m2);
    p5 = b.conv(b.concat({a, m1, m2, m3}, 1), 512, 256, 1, 1, 1, "silu");
  }
  std::string n4 = c2f(b.concat({b.up2(p5, "nearest"), p4}, 1), 384, 128, 1, false);
  std::string o3 = c2f(b.concat({b.up2(n4, "nearest"), p3}, 1), 192, 64, 1, false);
  std::string o4 = c2f(b.concat({b.conv(o3, 64, 64, 3, 2, 1, "silu"), n4}, 1), 192, 128, 1, false);
  std::string o5 = c2f(b.concat({b.conv(o4, 128, 128, 3, 2, 1, "silu"), p5}, 1), 384, 256, 1, false);
  const int64_t classes = 80, bins = 16, size = 320;
  std::vector<std::string> boxes, scores;
  std::vector<float> anchors[2], strides;
  const std::pair<std::string, int64_t> levels[] = {{o3, 64}, {o4, 128}, {o5, 256}};
  int64_t n = 0;
  for (int64_t l = 0; l < 3; ++l) {
    const auto& [v, c] = levels[l];
    const int64_t stride = 8 << l, g = size / stride;
    std::string bx = b.conv(b.conv(b.conv(v, c, 64, 3, 1, 1, "silu"), 64, 64, 3, 1, 1, "silu"), 64, 4 * bins, 1, 1, 1, "");
    // class layer: prior 0.01 (bias log(0.01 / 0.99)), as RetinaNet and torchvision initialise detection heads,
    // and weights 16x He's bound: the random features reaching it vary little, and without the gain every score
    // sits at the prior (or, without the prior, near 0.5); with both, ~11 cells a frame pass a 0.25 threshold
    const float prior = std::log(0.01f / 0.99f);
    std::string cl = b.head(b.conv(b.conv(v, c, classes, 3, 1, 1, "silu"), classes, classes, 3, 1, 1, "silu"), classes, classes, prior, 16.f);
    boxes.push_back(b.reshape(bx, {1, 4 * bins, g * g}));
    scores.push_back(b.reshape(cl, {1, classes, g * g}));
    for (int64_t i = 0; i < g * g; ++i) {
      anchors[0].push_back(static_cast<float>(i % g) + 0.5f);
      anchors[1].push_back(static_cast<float>(i / g) + 0.5f);
      strides.push_back(static_cast<float>(stride));
    }
    n += g * g;
  }
  // DFL: [1,64,N] -> [1,4,16,N] -> [1,16,4,N] -> softmax over the bins -> 1x1 conv with weights 0..15 -> [1,4,N]
  std::string d = b.transpose(b.reshape(b.concat(boxes, 2), {1, 4, bins, n}), {0, 2, 1, 3});
  Attribute ax;
  ax.kind = Attribute::Kind::i;
  ax.i = 1;
  d = b.node("Softmax", {d}, {{"axis", ax}});
  std::vector<float> proj(static_cast<size_t>(bins));
  for (int64_t i = 0; i < bins; ++i) proj[static_cast<size_t>(i)] = static_cast<float>(i);
  d = b.reshape(b.node("Conv", {d, b.constant(Tensor::from_f32({1, bins, 1, 1}, proj))}, {{"kernel_shape", ints({1, 1})}}), {1, 4, n});
  auto lt_rb = b.split(d, 1, {2, 2});
  std::vector<float> anc(anchors[0]);
  anc.insert(anc.end(), anchors[1].begin(), anchors[1].end());
  const std::string a = b.constant(Tensor::from_f32({1, 2, n}, anc));
  std::string x1y1 = b.node("Sub", {a, lt_rb[0]}), x2y2 = b.node("Add", {a, lt_rb[1]});
  std::string cxy = b.node("Mul", {b.node("Add", {x1y1, x2y2}), b.scalar(0.5f)});
  std::string wh = b.node("Sub", {x2y2, x1y1});
  std::string box = b.node("Mul", {b.concat({cxy, wh}, 1), b.constant(Tensor::from_f32({1, 1, n}, strides))});
  b.output(b.concat({box, b.node("Sigmoid", {b.concat(scores, 2)})}, 1), 3);
  return b.model();
}

// SSDLite-shaped at 256x256 with 21 classes (background first): a MobileNet-style backbone, depthwise-separable
// heads on 1/16, 1/32 and 1/64 with 3 priors per cell, class scores softmaxed ([1,N,21]) and box offsets
// decoded against the priors in the graph (centre + 0.1 * offset * prior size, size * exp(0.2 * offset)) into
// normalised x1, y1, x2, y2 ([1,N,4]): the two outputs the ssd decoder reads.
Model ssd() {
  Builder b("ssd", 13);
  std::string x = b.conv(b.input("input", Shape{1, 3, 256, 256}), 3, 16, 3, 2, 1, "relu6");
  auto dw_sep = [&](const std::string& v, int64_t cin, int64_t cout, int64_t stride) {
    return b.conv(b.conv(v, cin, cin, 3, stride, cin, "relu6"), cin, cout, 1, 1, 1, "relu6");
  };
  x = dw_sep(x, 16, 32, 2);                                  // 1/4
  x = dw_sep(dw_sep(x, 32, 64, 2), 64, 64, 1);               // 1/8
  std::string f1 = dw_sep(dw_sep(x, 64, 128, 2), 128, 128, 1);  // 1/16
  std::string f2 = dw_sep(f1, 128, 256, 2);                  // 1/32
  std::string f3 = dw_sep(f2, 256, 256, 2);                  // 1/64
  const int64_t classes = 21, priors = 3;
  std::vector<std::string> cls, loc;
  std::vector<float> pri;  // per prior: cx, cy, w, h (normalised)
  const std::pair<std::string, int64_t> levels[] = {{f1, 128}, {f2, 256}, {f3, 256}};
  const float base[] = {0.1f, 0.25f, 0.5f};
  int64_t n = 0;
  for (int l = 0; l < 3; ++l) {
    const auto& [v, c] = levels[l];
    const int64_t g = 256 / (16 << l);
    auto head = [&](int64_t out) {
      std::string h = b.conv(b.conv(v, c, c, 3, 1, c, "relu6"), c, out, 1, 1, 1, "");
      return b.reshape(b.transpose(h, {0, 2, 3, 1}), {1, g * g * priors, out / priors});
    };
    cls.push_back(head(priors * classes));
    loc.push_back(head(priors * 4));
    for (int64_t i = 0; i < g * g; ++i)
      for (int64_t k = 0; k < priors; ++k) {
        const float ar = k == 0 ? 1.f : (k == 1 ? 2.f : 0.5f);
        pri.insert(pri.end(), {(static_cast<float>(i % g) + 0.5f) / g, (static_cast<float>(i / g) + 0.5f) / g,
                               base[l] * std::sqrt(ar), base[l] / std::sqrt(ar)});
      }
    n += g * g * priors;
  }
  Attribute ax;
  ax.kind = Attribute::Kind::i;
  ax.i = 2;
  std::string scores = b.node("Softmax", {b.concat(cls, 1)}, {{"axis", ax}});
  std::vector<float> p_cxy, p_wh;
  for (int64_t i = 0; i < n; ++i) {
    p_cxy.insert(p_cxy.end(), {pri[static_cast<size_t>(4 * i)], pri[static_cast<size_t>(4 * i + 1)]});
    p_wh.insert(p_wh.end(), {pri[static_cast<size_t>(4 * i + 2)], pri[static_cast<size_t>(4 * i + 3)]});
  }
  const std::string pc = b.constant(Tensor::from_f32({1, n, 2}, p_cxy)), pw = b.constant(Tensor::from_f32({1, n, 2}, p_wh));
  auto off = b.split(b.concat(loc, 1), 2, {2, 2});
  std::string cxy = b.node("Add", {pc, b.node("Mul", {b.node("Mul", {off[0], b.scalar(0.1f)}), pw})});
  std::string wh = b.node("Mul", {pw, b.node("Exp", {b.node("Mul", {off[1], b.scalar(0.2f)})})});
  std::string half = b.node("Mul", {wh, b.scalar(0.5f)});
  std::string boxes = b.concat({b.node("Sub", {cxy, half}), b.node("Add", {cxy, half})}, 2);
  b.output(scores, 3);
  b.output(boxes, 3);
  return b.model();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR [NAME...]\n", argv[0]);
    return 2;
  }
  const std::vector<std::pair<std::string, std::function<Model()>>> all = {
      {"mobilenetv2", mobilenet_v2},
      {"resnet18", resnet18},
      {"yolo", yolo},
      {"mobilenetv3", [] { return mobilenet_v3(false); }},
      {"mobilenetv3-const", [] { return mobilenet_v3(true); }},
      {"seghead", seghead},
      {"yolov8", yolov8},
      {"ssd", ssd}};
  try {
    const std::string dir = argv[1];
    std::vector<std::string> names(argv + 2, argv + argc);
    if (names.empty())
      for (auto& [name, make] : all) names.push_back(name);
    for (const std::string& name : names) {
      auto it = std::find_if(all.begin(), all.end(), [&](auto& e) { return e.first == name; });
      if (it == all.end()) throw ec::Error("model '" + name + "' is not one this program builds");
      ec::save_onnx(it->second(), dir + "/" + name + ".onnx");
      std::printf("wrote %s/%s.onnx\n", dir.c_str(), name.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_zoo: %s\n", e.what());
    return 1;
  }
  return 0;
}
