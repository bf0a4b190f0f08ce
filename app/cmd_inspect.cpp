// `edgecompress inspect`: what a model is made of — inputs/outputs, op histogram, per-layer parameters and
// MACs, weight bytes by dtype, sparsity, totals. Text or JSON.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "analysis.h"
#include "commands.h"
#include "common.h"
#include "onnx_io.h"
#include "passes.h"

namespace ec {
namespace {

struct InspectOptions {
  std::string model;
  std::vector<std::string> shapes;
  bool json = false;
  bool layers = true;
};

std::string human(double v) {
  char b[32];
  if (v >= 1e9) std::snprintf(b, sizeof b, "%.2fG", v / 1e9);
  else if (v >= 1e6) std::snprintf(b, sizeof b, "%.2fM", v / 1e6);
  else if (v >= 1e3) std::snprintf(b, sizeof b, "%.1fk", v / 1e3);
  else std::snprintf(b, sizeof b, "%.0f", v);
  return b;
}

void run_inspect(const InspectOptions& o) {
  Model m = load_onnx(o.model);
  const size_t file_nodes = m.graph.nodes.size();
  const int constants = constants_to_initializers(m.graph);  // weights exported as Constant nodes count as weights
  ModelStats st = analyze_model(m, parse_shapes(o.shapes, m));
  if (o.json) {
    nlohmann::json j;
    j["model"] = o.model;
    j["opset"] = m.opset();
    j["producer"] = m.producer_name + (m.producer_version.empty() ? "" : " " + m.producer_version);
    for (auto& in : m.graph.inputs)
      j["inputs"].push_back({{"name", in.name}, {"dtype", dtype_name(in.dtype)}, {"dims", in.dims_str()}, {"shape", st.input_shapes[in.name]}});
    for (auto& out : m.graph.outputs) {
      nlohmann::json oj = {{"name", out.name}, {"dtype", dtype_name(out.dtype)}, {"dims", out.dims_str()}};
      if (st.output_shapes.count(out.name)) oj["shape"] = st.output_shapes[out.name];
      j["outputs"].push_back(oj);
    }
    j["op_histogram"] = st.op_histogram;
    j["weight_bytes"] = st.weight_bytes;
    j["totals"] = {{"params", st.params}, {"zero_params", st.zero_params}, {"sparsity", st.sparsity()},
                   {"macs", st.macs}, {"weight_bytes", st.weight_bytes_total}, {"nodes", file_nodes},
                   {"constant_nodes_as_weights", constants}};
    j["shapes_known"] = st.shapes_known;
    if (!st.shapes_known) j["shape_error"] = st.shape_error;
    for (auto& l : st.layers) {
      if (!o.layers) break;
      j["layers"].push_back({{"name", l.name}, {"op", l.op}, {"out_shape", l.out_shape}, {"params", l.params},
                             {"zero_params", l.zero_params}, {"macs", l.macs}});
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("model    %s\n", o.model.c_str());
  std::printf("opset    %lld   producer %s %s   nodes %zu\n", static_cast<long long>(m.opset()), m.producer_name.c_str(),
              m.producer_version.c_str(), file_nodes);
  if (constants > 0) std::printf("constant %d Constant nodes hold tensors: counted as weights below\n", constants);
  for (auto& in : m.graph.inputs)
    std::printf("input    %-24s %-8s %s  (analysed as %s)\n", in.name.c_str(), dtype_name(in.dtype), in.dims_str().c_str(),
                shape_str(st.input_shapes[in.name]).c_str());
  for (auto& out : m.graph.outputs)
    std::printf("output   %-24s %-8s %s%s\n", out.name.c_str(), dtype_name(out.dtype), out.dims_str().c_str(),
                st.output_shapes.count(out.name) ? ("  -> " + shape_str(st.output_shapes[out.name])).c_str() : "");
  std::printf("\nops     ");
  for (auto& kv : st.op_histogram) std::printf(" %s x%d", kv.first.c_str(), kv.second);
  std::printf("\n");
  if (o.layers) {
    std::printf("\n%-40s %-18s %-20s %10s %10s %8s\n", "layer", "op", "output", "params", "MACs", "sparsity");
    for (auto& l : st.layers) {
      if (l.params == 0 && l.macs == 0) continue;
      double sp = l.params ? static_cast<double>(l.zero_params) / static_cast<double>(l.params) : 0.0;
      std::printf("%-40.40s %-18s %-20s %10lld %10lld %7.1f%%\n", l.name.c_str(), l.op.c_str(), shape_str(l.out_shape).c_str(),
                  static_cast<long long>(l.params), static_cast<long long>(l.macs), 100 * sp);
    }
  }
  std::printf("\nparams   %lld (%s)   zeros %lld   sparsity %.2f%%\n", static_cast<long long>(st.params), human(static_cast<double>(st.params)).c_str(),
              static_cast<long long>(st.zero_params), 100 * st.sparsity());
  if (st.shapes_known)
    std::printf("MACs     %lld (%s) per inference\n", static_cast<long long>(st.macs), human(static_cast<double>(st.macs)).c_str());
  else
    std::printf("MACs     unknown: %s\n", st.shape_error.c_str());
  std::printf("weights  %zu bytes:", st.weight_bytes_total);
  for (auto& kv : st.weight_bytes) std::printf(" %s %zu", kv.first.c_str(), kv.second);
  std::printf("\n");
}

}  // namespace

void add_inspect_command(ec::cli::App& app) {
  auto o = std::make_shared<InspectOptions>();
  ec::cli::App* c = app.add_subcommand("inspect", "Show a model's inputs, outputs, ops, parameters, MACs and weight bytes");
  c->add_option("model", o->model, "ONNX model file")->required();
  c->add_option("--shape", o->shapes, "Input shape: d,d,d,d for the first input or NAME=d,d,d,d (symbolic dims default to 1)");
  c->add_flag("--json", o->json, "Print JSON");
  c->add_flag("!--no-layers", o->layers, "Omit the per-layer table");
  c->callback([o] { run_inspect(*o); });
}

}  // namespace ec
