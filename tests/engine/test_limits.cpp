// Hostile and broken models (issue #16, item 2): each is a one-line ec::Error naming the thing and the value,
// raised before the allocation or the walk it would cause; the limits are options with defaults.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "helpers.h"
#include "onnx_io.h"
#include "onnx_schema.pb.h"

using namespace ec;
using namespace ec::test;
namespace pb = ec::onnxpb;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Restores the process's limits when a test that changed them ends.
struct LimitsGuard {
  LoadLimits saved = load_limits();
  ~LimitsGuard() { load_limits() = saved; }
};

void set_value(pb::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(pb::TensorProto::FLOAT);
  auto* sh = tt->mutable_shape();
  for (int64_t d : dims) sh->add_dim()->set_dim_value(d);
}

// x[1,4] -> Relu -> y: the smallest valid model, for the tests to break one part of.
pb::ModelProto relu_model() {
  pb::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("g");
  set_value(g->add_input(), "x", {1, 4});
  set_value(g->add_output(), "y", {1, 4});
  auto* n = g->add_node();
  n->set_op_type("Relu");
  n->set_name("relu");
  n->add_input("x");
  n->add_output("y");
  return m;
}

std::string bytes_of(const pb::ModelProto& m) {
  std::string b;
  m.SerializeToString(&b);
  return b;
}

// Loads, then prepares on the native engine with the declared shapes (what every command does).
void load_and_prepare(const std::string& bytes, const std::string& name) {
  Model m = load_onnx_bytes(bytes, name);
  create_engine("native", m)->prepare({});
}

void expect_one_line(const std::string& e, const std::vector<std::string>& parts) {
  EXPECT_FALSE(e.empty()) << "no error";
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  for (const auto& p : parts) EXPECT_NE(e.find(p), std::string::npos) << "'" << p << "' missing from: " << e;
}

}  // namespace

TEST(Limits, ValidModelLoadsAndRuns) {
  // the base every other test breaks: it must pass unbroken, or the tests below prove nothing
  EXPECT_EQ(error_of([] { load_and_prepare(bytes_of(relu_model()), "relu.onnx"); }), "");
}

TEST(Limits, DeclaredTeraElementInputIsRefusedAtLoad) {
  pb::ModelProto m = relu_model();
  auto* dims = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  dims->mutable_dim(0)->set_dim_value(1000000);
  dims->mutable_dim(1)->set_dim_value(1000000);  // 10^12 floats
  expect_one_line(error_of([&] { load_onnx_bytes(bytes_of(m), "tera.onnx"); }),
                  {"tera.onnx", "value 'x'", "[1000000,1000000]", "--max-tensor-mb"});
}

TEST(Limits, InitializerDeclaringTeraElementsWithFewBytesIsRefused) {
  pb::ModelProto m = relu_model();
  auto* w = m.mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(pb::TensorProto::FLOAT);
  w->add_dims(1000000);
  w->add_dims(1000000);
  w->set_raw_data(std::string(16, '\0'));
  expect_one_line(error_of([&] { load_onnx_bytes(bytes_of(m), "w.onnx"); }), {"w.onnx", "tensor 'w'", "MiB", "--max-tensor-mb"});
  // within the limit but with too few bytes: named by its sizes, still before allocating
  w->clear_dims();
  w->add_dims(1024);
  w->add_dims(1024);
  expect_one_line(error_of([&] { load_onnx_bytes(bytes_of(m), "w.onnx"); }), {"tensor 'w'", "raw_data has 16 bytes", "[1024,1024]"});
}

TEST(Limits, NegativeAndOverflowingDimensionsAreRefused) {
  pb::ModelProto m = relu_model();
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(-4);
  expect_one_line(error_of([&] { load_onnx_bytes(bytes_of(m), "neg.onnx"); }), {"value 'x'", "negative dimension -4"});

  pb::ModelProto o = relu_model();
  auto* w = o.mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(pb::TensorProto::FLOAT);
  for (int i = 0; i < 3; ++i) w->add_dims(int64_t{1} << 30);  // 2^90 elements: the product overflows
  expect_one_line(error_of([&] { load_onnx_bytes(bytes_of(o), "ovf.onnx"); }), {"tensor 'w'", "64 bits"});
  w->clear_dims();
  w->add_dims(-3);
  expect_one_line(error_of([&] { load_onnx_bytes(bytes_of(o), "ovf.onnx"); }), {"tensor 'w'", "negative dimension -3"});
}

TEST(Limits, ShapeComputedInsideTheGraphIsCheckedBeforeTheArena) {
  // ConstantOfShape with a constant shape of 10^5 x 10^5 x 100 floats (4 TB): refused while planning, naming
  // the node and its output
  pb::ModelProto m = relu_model();
  auto* g = m.mutable_graph();
  auto* s = g->add_initializer();
  s->set_name("big_shape");
  s->set_data_type(pb::TensorProto::INT64);
  s->add_dims(3);
  for (int64_t d : {100000, 100000, 100}) s->add_int64_data(d);
  auto* n = g->add_node();
  n->set_op_type("ConstantOfShape");
  n->set_name("fill");
  n->add_input("big_shape");
  n->add_output("filled");
  auto* o = g->add_output();
  o->set_name("filled");
  o->mutable_type()->mutable_tensor_type()->set_elem_type(pb::TensorProto::FLOAT);
  expect_one_line(error_of([&] { load_and_prepare(bytes_of(m), "fill.onnx"); }),
                  {"fill.onnx", "node 'fill' (ConstantOfShape)", "output 'filled'", "[100000,100000,100]", "--max-tensor-mb"});
}

TEST(Limits, CycleIsNamedNotLooped) {
  // a = Add(x, c); c = Relu(a): each waits on the other
  pb::ModelProto m = relu_model();
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_input(0, "a");
  g->mutable_node(0)->set_output(0, "c");
  auto* add = g->add_node();
  add->set_op_type("Add");
  add->set_name("add");
  add->add_input("x");
  add->add_input("c");
  add->add_output("a");
  g->mutable_output(0)->set_name("c");
  expect_one_line(error_of([&] { load_onnx_bytes(bytes_of(m), "cycle.onnx"); }), {"cycle.onnx", "cycle", "2 nodes can never run"});
}

TEST(Limits, ValueProducedTwiceIsRefused) {
  pb::ModelProto m = relu_model();
  auto* n = m.mutable_graph()->add_node();
  *n = m.graph().node(0);
  n->set_name("relu_again");
  expect_one_line(error_of([&] { load_onnx_bytes(bytes_of(m), "twice.onnx"); }), {"relu_again", "'y'", "already produced by node 'relu'"});
}

TEST(Limits, NodeCountAboveTheLimitIsRefusedAndALongChainSortsFast) {
  // 100,000 Relu nodes written last-first: the file order is the reverse of the run order, which the earlier
  // quadratic sort needed ~10^10 steps for
  const int count = 100000;
  pb::ModelProto m = relu_model();
  auto* g = m.mutable_graph();
  g->clear_node();
  for (int i = count - 1; i >= 0; --i) {
    auto* n = g->add_node();
    n->set_op_type("Relu");
    n->add_input(i == 0 ? "x" : "v" + std::to_string(i - 1));
    n->add_output(i == count - 1 ? "y" : "v" + std::to_string(i));
  }
  const std::string bytes = bytes_of(m);
  expect_one_line(error_of([&] { load_onnx_bytes(bytes, "chain.onnx"); }), {"chain.onnx", "100000 nodes", "limit of 50000", "--max-nodes"});
  LimitsGuard keep;
  load_limits().max_nodes = 200000;
  Model loaded = load_onnx_bytes(bytes, "chain.onnx");
  ASSERT_EQ(loaded.graph.nodes.size(), static_cast<size_t>(count));
  EXPECT_EQ(loaded.graph.nodes.front().inputs[0], "x");
  EXPECT_EQ(loaded.graph.nodes.back().outputs[0], "y");
}

TEST(Limits, AttributeOfTheWrongTypeNamesNodeAttributeAndTypes) {
  pb::ModelProto m = relu_model();
  auto* n = m.mutable_graph()->mutable_node(0);
  n->set_op_type("Transpose");
  n->set_name("tr");
  auto* a = n->add_attribute();
  a->set_name("perm");
  a->set_type(pb::AttributeProto::FLOAT);
  a->set_f(1.f);
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  expect_one_line(error_of([&] { load_and_prepare(bytes_of(m), "attr.onnx"); }),
                  {"node 'tr' (Transpose)", "attribute 'perm' is FLOAT, expected INTS"});
  // a Constant whose value is not a tensor
  pb::ModelProto c = relu_model();
  auto* k = c.mutable_graph()->add_node();
  k->set_op_type("Constant");
  k->set_name("k");
  k->add_output("kv");
  auto* v = k->add_attribute();
  v->set_name("value");
  v->set_type(pb::AttributeProto::INT);
  v->set_i(3);
  auto* o = c.mutable_graph()->add_output();
  o->set_name("kv");
  o->mutable_type()->mutable_tensor_type()->set_elem_type(pb::TensorProto::FLOAT);
  expect_one_line(error_of([&] { load_and_prepare(bytes_of(c), "const.onnx"); }), {"node 'k' (Constant)", "attribute 'value' is INT, expected TENSOR"});
}

TEST(Limits, ConstantOfShapeNeedsAOneElementValue) {
  pb::ModelProto m = relu_model();
  auto* g = m.mutable_graph();
  auto* s = g->add_initializer();
  s->set_name("shape");
  s->set_data_type(pb::TensorProto::INT64);
  s->add_dims(1);
  s->add_int64_data(4);
  auto* n = g->add_node();
  n->set_op_type("ConstantOfShape");
  n->set_name("fill");
  n->add_input("shape");
  n->add_output("filled");
  auto* a = n->add_attribute();
  a->set_name("value");
  a->set_type(pb::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(pb::TensorProto::FLOAT);
  a->mutable_t()->add_dims(0);  // no element to fill with
  auto* o = g->add_output();
  o->set_name("filled");
  o->mutable_type()->mutable_tensor_type()->set_elem_type(pb::TensorProto::FLOAT);
  expect_one_line(error_of([&] { load_and_prepare(bytes_of(m), "cos.onnx"); }), {"node 'fill' (ConstantOfShape)", "0 elements"});
}

TEST(Limits, ExternalDataMustStayInsideTheModelsFolder) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(testing::TempDir()) / ("ext_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "model");
  {
    std::ofstream(root / "secret.bin", std::ios::binary) << std::string(16, 'S');
    std::ofstream(root / "model" / "w.bin", std::ios::binary) << std::string(16, '\0');
  }
  fs::create_symlink(root / "secret.bin", root / "model" / "link.bin");
  auto model_with = [&](const std::string& location, const std::string& offset = "0") {
    pb::ModelProto m = relu_model();
    auto* w = m.mutable_graph()->add_initializer();
    w->set_name("w");
    w->set_data_type(pb::TensorProto::FLOAT);
    w->add_dims(4);
    w->set_data_location(pb::TensorProto::EXTERNAL);
    auto* l = w->add_external_data();
    l->set_key("location");
    l->set_value(location);
    auto* off = w->add_external_data();
    off->set_key("offset");
    off->set_value(offset);
    return bytes_of(m);
  };
  const std::string name = (root / "model" / "m.onnx").string();
  // the file inside the folder loads: the checks below refuse for the location, not for external data as such
  Model ok = load_onnx_bytes(model_with("w.bin"), name);
  EXPECT_EQ(ok.graph.initializers.at("w").numel(), 4);
  expect_one_line(error_of([&] { load_onnx_bytes(model_with("../secret.bin"), name); }), {"tensor 'w'", "'../secret.bin'", "leaves the model's folder"});
  expect_one_line(error_of([&] { load_onnx_bytes(model_with((root / "secret.bin").string()), name); }), {"tensor 'w'", "is absolute"});
  expect_one_line(error_of([&] { load_onnx_bytes(model_with("link.bin"), name); }), {"tensor 'w'", "'link.bin'", "outside the model's folder"});
  expect_one_line(error_of([&] { load_onnx_bytes(model_with("w.bin", "-8"), name); }), {"tensor 'w'", "offset '-8'"});
  expect_one_line(error_of([&] { load_onnx_bytes(model_with("w.bin", "12x"), name); }), {"tensor 'w'", "offset '12x'"});
  expect_one_line(error_of([&] { load_onnx_bytes(model_with("w.bin", "8"), name); }), {"tensor 'w'", "too short", "from offset 8"});
  fs::remove_all(root);
}

TEST(Limits, LimitsAreCommandLineOptions) {
  // a real model against a node limit below its node count, through the command line
  const std::string cmd = std::string(EC_BINARY) + " inspect --max-nodes 10 " + models_dir() + "/blazeface128.onnx 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int status = pclose(p);
  EXPECT_NE(status, 0) << out;
  expect_one_line(out.substr(0, out.find_last_not_of('\n') + 1), {"blazeface128.onnx", "nodes, above the limit of 10 (--max-nodes)"});
  // and the same model loads with the defaults
  EXPECT_EQ(error_of([] { load_onnx(models_dir() + "/blazeface128.onnx"); }), "");
}

// Resize with a scale whose output dimension is no int64 (1e23), not a number, or sizes below zero: a one-line
// error naming the node before any shape is computed from it (the fuzzer found the 1e23 scale: the float to
// int64 conversion was undefined; tests/fuzz/regressions/onnx/resize-scale-1e23).
TEST(Limits, ResizeScalesAndSizesOutOfRangeAreNamed) {
  auto resize = [](const std::vector<float>& scales, const std::vector<int64_t>& sizes) {
    pb::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    auto* g = m.mutable_graph();
    g->set_name("g");
    set_value(g->add_input(), "x", {1, 1, 2, 2});
    auto* o = g->add_output();
    o->set_name("y");
    o->mutable_type()->mutable_tensor_type()->set_elem_type(pb::TensorProto::FLOAT);
    auto* s = g->add_initializer();
    s->set_name("scales");
    s->set_data_type(pb::TensorProto::FLOAT);
    s->add_dims(static_cast<int64_t>(scales.size()));
    for (float f : scales) s->add_float_data(f);
    auto* z = g->add_initializer();
    z->set_name("sizes");
    z->set_data_type(pb::TensorProto::INT64);
    z->add_dims(static_cast<int64_t>(sizes.size()));
    for (int64_t v : sizes) z->add_int64_data(v);
    auto* n = g->add_node();
    n->set_op_type("Resize");
    n->set_name("up");
    for (const char* i : {"x", "", "scales", "sizes"}) n->add_input(i);
    n->add_output("y");
    return bytes_of(m);
  };
  expect_one_line(error_of([&] { load_and_prepare(resize({1, 1, 1e23f, 1}, {}), "r.onnx"); }), {"r.onnx", "'up'", "too large"});
  expect_one_line(error_of([&] { load_and_prepare(resize({1, 1, std::nanf(""), 1}, {}), "r.onnx"); }), {"'up'", "not a positive number"});
  expect_one_line(error_of([&] { load_and_prepare(resize({}, {1, 1, -4, 4}), "r.onnx"); }), {"'up'", "negative"});
  EXPECT_EQ(error_of([&] { load_and_prepare(resize({1, 1, 2, 2}, {}), "r.onnx"); }), "") << "a sane scale still prepares";
}
