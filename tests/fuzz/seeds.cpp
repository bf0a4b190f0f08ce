// Writes the fuzzers' seed corpora next to the real files bench/fuzz.sh copies in (BlazeFace, the recipes and
// configs): small ONNX models built in code that cover the operator families the engine plans differently
// (convolution paths, QDQ int8, shape subgraphs, elementwise broadcasting, resize/pad/pool), an archive of a
// shared and pruned layer, power logs in the recorder's format, and sysfs field sets for both drivers.
//   fuzz_seeds OUT_DIR        -> OUT_DIR/{onnx,archive,power_csv,sysfs}/seed_*
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "archive.h"
#include "error.h"
#include "ir.h"
#include "onnx_io.h"

using namespace ec;

namespace {

void write(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw Error(path + ": cannot write");
}

Tensor rnd(Shape s, uint32_t seed) {
  Tensor t(DType::f32, s);
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(g);
  return t;
}

Attribute ints(std::vector<int64_t> v) { Attribute a; a.kind = Attribute::Kind::ints; a.ints = std::move(v); return a; }
Attribute i1(int64_t v) { Attribute a; a.kind = Attribute::Kind::i; a.i = v; return a; }
Attribute f1(float v) { Attribute a; a.kind = Attribute::Kind::f; a.f = v; return a; }
Attribute s1(const std::string& v) { Attribute a; a.kind = Attribute::Kind::s; a.s = v; return a; }

struct Builder {
  Model m;
  int n = 0;
  explicit Builder(Shape input) {
    m.opsets[""] = 13;
    ValueInfo v;
    v.name = "x";
    v.has_shape = true;
    for (int64_t d : input) v.dims.push_back(Dim{d, ""});
    m.graph.inputs.push_back(v);
  }
  std::string cst(Tensor t) {
    std::string name = "c" + std::to_string(n++);
    m.graph.initializers[name] = std::move(t);
    return name;
  }
  std::string op(const std::string& type, std::vector<std::string> ins, std::map<std::string, Attribute> attrs = {}) {
    Node node;
    node.name = type + "_" + std::to_string(n);
    node.op_type = type;
    node.inputs = std::move(ins);
    node.outputs = {"v" + std::to_string(n++)};
    node.attrs = std::move(attrs);
    m.graph.nodes.push_back(node);
    return node.outputs[0];
  }
  std::string done(const std::string& out) {
    ValueInfo v;
    v.name = out;
    m.graph.outputs.push_back(v);
    return to_onnx_bytes(m);
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds OUT_DIR\n");
    return 2;
  }
  const std::string out = argv[1];
  for (const char* d : {"", "/onnx", "/archive", "/power_csv", "/sysfs", "/http"}) mkdir((out + d).c_str(), 0755);
  try {
    {  // a small classifier: dense conv, relu, pool, depthwise + HardSwish, global pool, Gemm
      Builder b({1, 3, 16, 16});
      std::string v = b.op("Conv", {"x", b.cst(rnd({8, 3, 3, 3}, 1)), b.cst(rnd({8}, 2))}, {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}});
      v = b.op("Relu", {v});
      v = b.op("Conv", {v, b.cst(rnd({8, 1, 5, 5}, 3))}, {{"group", i1(8)}, {"pads", ints({2, 2, 2, 2})}});
      v = b.op("HardSwish", {v});
      v = b.op("MaxPool", {v}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}});
      v = b.op("GlobalAveragePool", {v});
      v = b.op("Flatten", {v});
      v = b.op("Gemm", {v, b.cst(rnd({10, 8}, 4)), b.cst(rnd({10}, 5))}, {{"transB", i1(1)}});
      write(out + "/onnx/seed_classifier.onnx", b.done(b.op("Softmax", {v}, {{"axis", i1(1)}})));
      // the same layers packed: two coded tensors (a pruned and shared Gemm weight, a conv weight)
      Model m = load_onnx_bytes(b.done(v), "seed");
      for (auto& kv : m.graph.initializers)
        if (kv.second.numel() >= 64)
          for (int64_t i = 0; i < kv.second.numel(); ++i) {
            float& w = kv.second.ptr<float>()[i];
            w = (i % 3 == 0) ? 0.f : (w > 0 ? 0.5f : -0.25f);
          }
      write(out + "/archive/seed_classifier.ecz", pack_archive(m));
    }
    {  // QDQ int8 around a convolution and an Add (what the int8 recipes write)
      Builder b({1, 4, 8, 8});
      Tensor sc = Tensor::from_f32({}, {0.02f});
      Tensor zp(DType::i8, {});
      std::string q = b.op("QuantizeLinear", {"x", b.cst(sc), b.cst(zp)});
      std::string x = b.op("DequantizeLinear", {q, b.cst(sc), b.cst(zp)});
      Tensor w(DType::i8, {4, 4, 3, 3});
      for (int64_t i = 0; i < w.numel(); ++i) w.ptr<int8_t>()[i] = static_cast<int8_t>((i * 37) % 255 - 127);
      std::string wd = b.op("DequantizeLinear", {b.cst(w), b.cst(Tensor::from_f32({}, {0.01f})), b.cst(Tensor(DType::i8, {}))});
      std::string c = b.op("Conv", {x, wd}, {{"pads", ints({1, 1, 1, 1})}});
      std::string a = b.op("Add", {c, x});
      std::string q2 = b.op("QuantizeLinear", {a, b.cst(sc), b.cst(zp)});
      write(out + "/onnx/seed_qdq.onnx", b.done(b.op("DequantizeLinear", {q2, b.cst(sc), b.cst(zp)})));
    }
    {  // a shape subgraph (Shape, Gather, Unsqueeze, Concat, Reshape), ConstantOfShape, Expand, Transpose
      Builder b({1, 6, 4, 4});
      std::string sh = b.op("Shape", {"x"});
      std::string n0 = b.op("Gather", {sh, b.cst(Tensor::from_i64({}, {0}))}, {{"axis", i1(0)}});
      std::string un = b.op("Unsqueeze", {n0, b.cst(Tensor::from_i64({1}, {0}))});
      std::string tgt = b.op("Concat", {un, b.cst(Tensor::from_i64({1}, {-1}))}, {{"axis", i1(0)}});
      std::string r = b.op("Reshape", {"x", tgt});
      std::string ones = b.op("ConstantOfShape", {b.cst(Tensor::from_i64({2}, {1, 96}))});
      std::string e = b.op("Expand", {b.cst(Tensor::from_f32({1}, {2.f})), b.cst(Tensor::from_i64({2}, {1, 96}))});
      std::string m1 = b.op("Mul", {r, ones});
      std::string s = b.op("Sub", {m1, e});
      write(out + "/onnx/seed_shapes.onnx", b.done(b.op("Transpose", {s}, {{"perm", ints({1, 0})}})));
    }
    {  // resize, pad, clip, sigmoid, concat, reduce, leaky relu, batch norm, ConvTranspose
      Builder b({1, 2, 6, 6});
      std::string r = b.op("Resize", {"x", "", b.cst(Tensor::from_f32({4}, {1, 1, 2, 2}))}, {{"mode", s1("linear")}});
      std::string p = b.op("Pad", {"x", b.cst(Tensor::from_i64({8}, {0, 0, 3, 3, 0, 0, 3, 3}))});
      std::string c = b.op("Concat", {r, p}, {{"axis", i1(1)}});
      std::string bn = b.op("BatchNormalization", {c, b.cst(rnd({4}, 6)), b.cst(rnd({4}, 7)), b.cst(rnd({4}, 8)), b.cst(Tensor::from_f32({4}, {1, 2, 3, 4}))}, {{"epsilon", f1(1e-5f)}});
      std::string l = b.op("LeakyRelu", {bn}, {{"alpha", f1(0.1f)}});
      std::string ct = b.op("ConvTranspose", {l, b.cst(rnd({4, 2, 2, 2}, 9))}, {{"strides", ints({2, 2})}});
      std::string cl = b.op("Clip", {ct, b.cst(Tensor::from_f32({}, {-1.f})), b.cst(Tensor::from_f32({}, {1.f}))});
      std::string sg = b.op("Sigmoid", {cl});
      write(out + "/onnx/seed_misc.onnx", b.done(b.op("ReduceMean", {sg}, {{"axes", ints({2, 3})}, {"keepdims", i1(1)}})));
    }
    // power logs in the recorder's format: two rails with the total named, a failed sample, an empty reading
    write(out + "/power_csv/seed_two_rails.csv",
          "# edgecompress power log v1\n# sensor=replay\n# total=VDD_IN\nt_ms,ok,VDD_IN_V,VDD_IN_A,VDD_IN_W,VDD_CPU_V,VDD_CPU_A,VDD_CPU_W,board_W,error\n"
          "0.000,1,5.0800,0.61000,3.09880,5.0800,0.21000,1.06680,3.09880,\"\"\n"
          "10.000,1,5.0800,0.62000,3.14960,5.0800,0.22000,1.11760,3.14960,\"\"\n"
          "20.000,0,,,,,,,,\"i2c read failed\"\n"
          "30.000,1,5.0760,0.60000,3.04560,5.0760,0.20000,1.01520,3.04560,\"\"\n");
    write(out + "/power_csv/seed_one_rail.csv", "t_ms,ok,VIN_V,VIN_A,VIN_W,board_W,error\n0,1,12,1,12,12,\"\"\n5,1,12,1.1,13.2,13.2,\"\"\n");
    // sysfs: first byte picks the layout (odd: L4T IIO, even: hwmon); fields: labels x3, mV x3, mA x3, mW x3,
    // update interval (ms), enable flags, a rail filter
    auto fields = [](char layout, std::vector<std::string> f) {
      std::string s(1, layout);
      for (size_t i = 0; i < f.size(); ++i) s += (i ? std::string(1, '\0') : std::string()) + f[i];
      return s;
    };
    write(out + "/sysfs/seed_hwmon", fields(0, {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC", "5080", "5080", "5076", "1200", "400", "350", "", "", "", "1100", "111", ""}));
    write(out + "/sysfs/seed_iio", fields(1, {"POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU", "5000", "5000", "5000", "800", "120", "300", "4000", "600", "1500", "", "", "POM_5V_IN"}));
    // requests to the monitoring endpoint (its token is "fuzz-token"): each path with the token in the header or
    // the query, a wrong and a missing token, keep-alive pipelining, HEAD, a body, chunked, a long header
    const std::string tok = "Authorization: Bearer fuzz-token\r\n";
    int k = 0;
    for (const char* path : {"/metrics", "/api/status", "/snapshot.jpg", "/stream.mjpg", "/", "/nope"})
      write(out + "/http/seed_" + std::to_string(k++), std::string("GET ") + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + tok + "\r\n");
    write(out + "/http/seed_query", "GET /metrics?token=fuzz-token&x=%41%zz HTTP/1.1\r\nHost: a\r\n\r\n");
    write(out + "/http/seed_wrong", "GET /api/status HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer fuzz-tokem\r\n\r\n");
    write(out + "/http/seed_none", "GET /metrics HTTP/1.0\r\n\r\n");
    write(out + "/http/seed_pipelined", "GET /metrics HTTP/1.1\r\nHost: a\r\n" + tok + "\r\nHEAD /api/status HTTP/1.1\r\nHost: a\r\n" + tok +
                                           "Connection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n" + tok + "Connection: close\r\n\r\n");
    write(out + "/http/seed_post", "POST /metrics HTTP/1.1\r\nHost: a\r\n" + tok + "Content-Length: 5\r\n\r\nhello");
    write(out + "/http/seed_chunked", "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    write(out + "/http/seed_long", "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Long: " + std::string(3000, 'x') + "\r\n" + tok + "\r\n");
  } catch (const Error& e) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
