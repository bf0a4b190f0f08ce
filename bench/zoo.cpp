// Writes MobileNetV2-, ResNet-18- and YOLO-shaped ONNX models built in code (random weights, fixed seed)
// for whole-model benchmarks: the layer shapes and operator mix of the real networks, not their accuracy.
//   bench_zoo OUT_DIR     -> OUT_DIR/mobilenetv2.onnx, resnet18.onnx, yolo.onnx
#include <cmath>
#include <cstdio>
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
  explicit Builder(const std::string& name) : rng_(1234) {
    m_.opsets[""] = 10;  // opset 10: Clip bounds as attributes, Resize(X, scales): what OpenCV 4.6 DNN imports
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
  // A graph output of the given rank (dimensions left symbolic: the checker needs a shape field).
  void output(const std::string& v, int rank) {
    ValueInfo o;
    o.name = v;
    o.has_shape = true;
    for (int i = 0; i < rank; ++i) o.dims.push_back(Dim{-1, v + "_d" + std::to_string(i)});
    m_.graph.outputs.push_back(o);
  }
  // Uniform weights of variance 2 / fan_in (He), so activations stay in range through deep stacks.
  std::string weight(Shape s, int64_t fan_in) {
    Tensor t(DType::f32, s);
    const float lim = std::sqrt(6.f / static_cast<float>(fan_in));
    std::uniform_real_distribution<float> u(-lim, lim);
    for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng_);
    return constant(t);
  }
  std::string constant(Tensor t) {
    std::string n = "w" + std::to_string(next_++);
    m_.graph.initializers[n] = std::move(t);
    return n;
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
    if (act == "relu6") {
      Attribute lo, hi;
      lo.kind = hi.kind = Attribute::Kind::f;
      lo.f = 0.f;
      hi.f = 6.f;
      return node("Clip", {y}, {{"min", lo}, {"max", hi}});
    }
    if (act == "silu") return node("Mul", {y, node("Sigmoid", {y})});
    return y;
  }
  std::string classifier(const std::string& x, int64_t c, int64_t classes) {
    std::string f = node("Flatten", {node("GlobalAveragePool", {x})});
    return node("Gemm", {f, weight({classes, c}, c), weight({classes}, c)}, {{"transB", integer(1)}});
  }
  const Model& model() const { return m_; }

 private:
  Model m_;
  std::mt19937 rng_;
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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    const std::string dir = argv[1];
    ec::save_onnx(mobilenet_v2(), dir + "/mobilenetv2.onnx");
    ec::save_onnx(resnet18(), dir + "/resnet18.onnx");
    ec::save_onnx(yolo(), dir + "/yolo.onnx");
    std::printf("wrote %s/{mobilenetv2,resnet18,yolo}.onnx\n", dir.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_zoo: %s\n", e.what());
    return 1;
  }
  return 0;
}
