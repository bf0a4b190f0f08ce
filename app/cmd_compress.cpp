// `edgecompress compress --model IN.onnx --recipe R.yaml [--calib SOURCE] [-o OUT.onnx]`: runs the
// recipe's steps in order, writes ONNX that passes the checker, and reports each step and the size and
// compute of the result against the original. `edgecompress eval` measures fidelity and speed.
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "analysis.h"
#include "commands.h"
#include "common.h"
#include "config.h"
#include "engine.h"
#include "error.h"
#include "onnx_io.h"
#include "passes.h"
#include "pass.h"
#include "mlp.h"
#include "recipe.h"
#include "task.h"

namespace ec {
namespace {

std::string step_tag(const RecipeStep& s) {
  if (s.name == "quantize") return "int8-ptq";
  if (s.name == "quantize-dynamic") return "int8-dyn";
  if (s.name == "prune-channels") return "prune-ch" + std::to_string(static_cast<int>(std::lround(s.params.number("ratio", 0.3) * 100)));
  if (s.name == "share") return "share" + std::to_string(static_cast<int>(s.params.number("bits", 4))) + "b";
  if (s.name == "lowrank")
    return s.params.values.count("mac_reduction") ? "lowrank-mac" + std::to_string(static_cast<int>(std::lround(s.params.number("mac_reduction", 0) * 100)))
                                                  : "lowrank-e" + std::to_string(static_cast<int>(std::lround(s.params.number("energy", 1) * 100)));
  if (s.name == "prune") {
    if (s.params.text("pattern", "none") == "2:4") return "prune-2of4";
    return "prune" + std::to_string(static_cast<int>(std::lround(s.params.number("sparsity", 0.5) * 100)));
  }
  return s.name;
}

size_t file_size(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
}

struct CompressOptions {
  std::string model, recipe, calib, out, shape;
  int frames = 0;
  bool json = false, keep_names = false;
};

void run_compress(const CompressOptions& o) {
  Recipe r = load_recipe(o.recipe);
  Model m = load_onnx(o.model);
  // weights exported as Constant nodes (PaddlePaddle, some PyTorch exports) become initializers, so every
  // step sees them as weights
  const int constants = constants_to_initializers(m.graph);
  if (constants > 0 && !o.json) std::printf("constants: %d Constant nodes turned into initializers (weights the steps can edit)\n", constants);
  const Model original = m;
  const std::string original_bytes = to_onnx_bytes(m);
  compress::PassContext ctx;
  ctx.original = &original;
  // the shape compute is counted and the result checked at: --shape, else the calibration shape when there is one
  std::map<std::string, Shape> stats_shapes;
  const Shape given = o.shape.empty() ? Shape{} : parse_shapes({o.shape}, m).begin()->second;
  if (!given.empty()) stats_shapes[m.graph.inputs.at(0).name] = given;
  bool need_calib = false;  // quantization, or a training step on the calibration frames (distill on unlabelled video)
  for (auto& s : r.steps)
    need_calib = need_calib || compress::passes().at(s.name).needs_calibration || s.params.text("data", "") == "calibration";
  const std::string calib = o.calib.empty() ? r.calib_source : o.calib;
  if (need_calib) {
    if (calib.empty()) throw Error(o.recipe + ": a step needs calibration data: give --calib SOURCE or calibration.source");
    if (m.graph.inputs.size() != 1) throw Error(o.model + ": calibration feeds single-input models");
    // symbolic input dimensions (height, width) from --shape or the calibration input's size
    const Shape shape = calib.rfind("idx:", 0) == 0 ? (given.empty() ? m.graph.inputs[0].shape_or(1) : given)
                                                     : resolve_input_shape(m.graph.inputs[0], r.task.input, given);
    stats_shapes[m.graph.inputs[0].name] = shape;
    const int count = o.frames > 0 ? o.frames : r.calib_frames;
    if (calib.rfind("idx:", 0) == 0) {  // labelled IDX images (Fashion-MNIST): the training split, in order
      compress::Dataset d = compress::load_idx(calib.substr(4), "train", count * r.calib_every);
      for (int64_t i = 0; i < d.x.rows(); i += r.calib_every) {
        Tensor t(DType::f32, shape);
        if (t.numel() != d.x.cols()) throw Error(calib + ": " + std::to_string(d.x.cols()) + " pixels per sample, the model input " + shape_str(shape) + " takes " + std::to_string(t.numel()));
        std::memcpy(t.data(), d.x.data() + i * d.x.cols(), t.size_bytes());
        ctx.calibration.push_back({t});
      }
    } else if (calib.rfind("images:", 0) == 0) {  // a folder of images
      for (auto& s : load_image_folder(calib.substr(7), r.task.input, shape, count)) ctx.calibration.push_back({s.input});
    } else {
      for (auto& s : load_samples(calib, r.task.input, shape, r.calib_every, count, r.calib_start)) ctx.calibration.push_back({s.input});
    }
  }
  std::vector<std::string> lines;
  std::string tags;
  for (const RecipeStep& s : r.steps) {
    lines.push_back(compress::run_pass(s.name, m, s.params, ctx));
    tags += "__" + step_tag(s);
    if (!o.json) std::printf("%s\n", lines.back().c_str());
  }
  // a recipe that leaves the model as it was is a mistake (wrong model for the recipe, or every layer excluded)
  if (to_onnx_bytes(m) == original_bytes) {
    std::string why;
    for (size_t i = 0; i < lines.size(); ++i) why += (i ? "; " : "") + lines[i];
    throw Error(o.recipe + ": the steps changed nothing in " + o.model + " (" + why + ")");
  }
  if (!o.keep_names) {
    const size_t saved = compress::compact_names(m);
    lines.push_back("names: nodes and internal values renamed to short ids (" + std::to_string(saved) + " bytes of names saved; --keep-names keeps them)");
    if (!o.json) std::printf("%s\n", lines.back().c_str());
  }
  std::string out = o.out;
  if (out.empty()) {
    std::string stem = o.model.substr(0, o.model.rfind('.'));
    out = stem + tags + ".onnx";
  }
  m.producer_name = "edgecompress";
  m.metadata["edgecompress.recipe"] = r.name.empty() ? o.recipe : r.name;
  m.metadata["edgecompress.source_model"] = o.model;
  save_onnx(m, out);  // runs the ONNX checker
  // the result must still load and run in our engine
  Model back = load_onnx(out);
  std::map<std::string, Shape> shapes = stats_shapes;  // elsewhere symbolic dims as 1 for this check
  for (auto& in : back.graph.inputs)
    if (!shapes.count(in.name)) shapes[in.name] = in.shape_or(1);
  create_engine("native", back)->prepare(shapes);
  ModelStats a = analyze_model(original, stats_shapes), b = analyze_model(back, stats_shapes);
  const size_t fa = file_size(o.model), fb = file_size(out);
  nlohmann::json j = {{"input", o.model}, {"output", out}, {"recipe", o.recipe}, {"steps", lines},
                      {"original", {{"file_bytes", fa}, {"params", a.params}, {"nonzero_params", a.params - a.zero_params}, {"macs", a.macs}}},
                      {"compressed", {{"file_bytes", fb}, {"params", b.params}, {"nonzero_params", b.params - b.zero_params}, {"macs", b.macs}}},
                      {"size_ratio", fb ? static_cast<double>(fa) / static_cast<double>(fb) : 0.0},
                      {"onnx_checker", "passed"}};
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("\n%-12s %12s %12s %12s %14s\n", "", "file bytes", "params", "non-zero", "MACs");
  std::printf("%-12s %12zu %12lld %12lld %14lld\n", "original", fa, static_cast<long long>(a.params), static_cast<long long>(a.params - a.zero_params),
              static_cast<long long>(a.macs));
  std::printf("%-12s %12zu %12lld %12lld %14lld\n", "compressed", fb, static_cast<long long>(b.params), static_cast<long long>(b.params - b.zero_params),
              static_cast<long long>(b.macs));
  std::printf("file %.2fx smaller; ONNX checker passed; wrote %s\n", fb ? static_cast<double>(fa) / static_cast<double>(fb) : 0.0, out.c_str());
}

}  // namespace

void add_compress_command(ec::cli::App& app) {
  auto o = std::make_shared<CompressOptions>();
  ec::cli::App* c = app.add_subcommand("compress", "Compress an ONNX model with a recipe of steps (quantize, prune, fp16)");
  c->add_option("--model,-m", o->model, "Input ONNX model")->required();
  c->add_option("--recipe,-r", o->recipe, "Recipe YAML (configs/recipes/*.yaml)")->required();
  c->add_option("--calib", o->calib, "Calibration source: a video or any frame source URI, idx:DIR (IDX images) or images:DIR (an image folder): overrides the recipe's");
  c->add_option("--frames", o->frames, "Calibration frames (overrides the recipe's)");
  c->add_option("--shape", o->shape, "Input shape d,d,d,d for models with symbolic dimensions (default: the calibration input's size)");
  c->add_option("-o,--output", o->out, "Output ONNX (default: IN__<steps>.onnx next to the input)");
  c->add_flag("--json", o->json, "JSON report");
  c->add_flag("--keep-names", o->keep_names, "Keep the exporter's node and value names (larger files)");
  c->callback([o] { run_compress(*o); });
}

}  // namespace ec
