// `edgecompress eval --reference ORIG.onnx --model A.onnx [--model B.onnx] --video V --task T.yaml`:
// per model its file size, parameters, non-zeros, MACs, native latency and fidelity to the reference on
// unlabelled video (detection mAP@0.5 against the reference's detections, mean IoU, top-1 agreement for
// classifiers, output SNR).
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "analysis.h"
#include "commands.h"
#include "common.h"
#include "config.h"
#include "engine.h"
#include "error.h"
#include "fidelity.h"
#include "mlp.h"
#include "onnx_io.h"
#include "passes.h"
#include "ort_peer.h"
#include "svg_plot.h"
#include "task.h"
#include "variant_runner.h"
#include <fstream>

namespace ec {
namespace {

struct EvalOptions {
  std::string reference, video, task, idx, html, images, backend = "native", ort_peer, shape;
  std::vector<std::string> models;
  int frames = 60, every = 4, threads = 2, start = 0;
  float score_floor = 0.1f;
  bool json = false;
};

// A model as `run` runs it (the pipeline's variant runner), on frames preprocessed once for all models.
struct Runner {
  std::unique_ptr<VariantRunner> vr;
  std::vector<double> ms;  // engine time per frame (bounded by --frames)
  void run(const FrameSample& s, Result& r) { ms.push_back(vr->run_preprocessed(s.input, s.lb, r).infer_ms); }
  std::vector<const Tensor*> outputs() const { return vr->outputs(); }
};

Runner make_runner(const std::string& path, const TaskSpec& t, float score, int threads, const PreprocessSpec& spec,
                   const Shape& shape, const std::string& backend = "native") {
  RunnerSpec rs;
  rs.model = path;
  rs.shape = shape;
  rs.backend = backend;
  rs.threads = threads;
  rs.input = spec;
  rs.decoder = t.decoder;
  rs.decoder.score_threshold = score;
  Runner r;
  r.vr = std::make_unique<VariantRunner>(rs);
  return r;
}

// Size and compute of a model as inspect counts them: weights in Constant nodes are weights, compute at `shapes`.
ModelStats model_stats(Model m, const std::map<std::string, Shape>& shapes) {
  constants_to_initializers(m.graph);
  return analyze_model(m, shapes);
}

// The --shape option as the shape of the model's first input (empty without it).
Shape given_shape(const EvalOptions& o, const Model& m) {
  if (o.shape.empty()) return {};
  auto s = parse_shapes({o.shape}, m);
  return s.begin()->second;
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// An offline HTML page: the table and model size against accuracy (or mAP@0.5) and against latency.
void write_eval_html(const nlohmann::json& j, const std::string& path) {
  std::ofstream f(path);
  if (!f) throw Error(path + ": cannot write the report");
  const bool acc = j["models"][0].contains("accuracy");
  f << "<!doctype html><html><head><meta charset='utf-8'><title>edgecompress eval</title><style>body{font-family:sans-serif;margin:24px}"
       "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}</style></head><body>"
       "<h1>edgecompress eval</h1><p>"
    << html_escape(acc ? "accuracy on " + j["data"].get<std::string>() : "fidelity to " + j["reference"].get<std::string>() + " on " + j["video"].get<std::string>())
    << "</p><table><tr><th>model</th><th>file KB</th><th>params</th><th>non-zero</th>";
  f << (acc ? "<th>accuracy</th>" : "<th>MACs</th><th>latency ms</th><th>mAP@0.5</th><th>mean IoU</th>") << "</tr>";
  std::vector<Series> size_q, size_lat;
  size_t k = 0;
  for (auto& m : j["models"]) {
    const double kb = m["file_bytes"].get<double>() / 1024.0;
    const std::string name = m["model"].get<std::string>();
    f << "<tr><td>" << html_escape(name) << "</td><td>" << kb << "</td><td>" << m["params"] << "</td><td>" << m["nonzero_params"] << "</td>";
    double q = NAN;
    if (acc) {
      q = m["accuracy"].get<double>();
      f << "<td>" << q << "</td>";
    } else {
      const bool ref = !m.contains("fidelity");
      q = ref ? 1.0 : (m["fidelity"]["map50"].is_null() ? NAN : m["fidelity"]["map50"].get<double>());
      f << "<td>" << m["macs"] << "</td><td>" << m["latency_ms_median"] << "</td><td>" << (ref ? std::string("reference") : std::to_string(q))
        << "</td><td>" << (ref ? std::string("") : m["fidelity"]["mean_iou"].dump()) << "</td>";
      if (m["latency_ms_median"].is_number())
        size_lat.push_back(Series{name.substr(name.rfind('/') + 1), {m["latency_ms_median"].get<double>()}, {kb}, palette(k)});
    }
    f << "</tr>";
    if (std::isfinite(q)) size_q.push_back(Series{name.substr(name.rfind('/') + 1), {kb}, {q}, palette(k)});
    ++k;
  }
  f << "</table>" << svg_xy({acc ? "Size vs accuracy" : "Size vs fidelity (mAP@0.5 to the original)", "file KB", acc ? "accuracy" : "mAP@0.5", 700, 360, true}, size_q);
  if (!size_lat.empty()) f << svg_xy({"Latency vs size", "ms (native, median)", "file KB", 700, 360, true}, size_lat);
  f << "</body></html>\n";
}

// Accuracy on labelled IDX data (the t10k split) for the reference and every model, with top-1 agreement.
void run_eval_idx(const EvalOptions& o) {
  compress::Dataset test = compress::load_idx(o.idx, "t10k");
  nlohmann::json j;
  j["data"] = o.idx;
  j["samples"] = test.x.rows();
  std::vector<std::string> all = {o.reference};
  all.insert(all.end(), o.models.begin(), o.models.end());
  for (const std::string& path : all) {
    struct stat st {};
    stat(path.c_str(), &st);
    Model m = load_onnx(path);
    ModelStats s = model_stats(m, {});
    j["models"].push_back({{"model", path}, {"file_bytes", st.st_size}, {"params", s.params}, {"nonzero_params", s.params - s.zero_params},
                           {"accuracy", compress::classification_accuracy(m, test, o.threads)}});
  }
  if (!o.html.empty()) write_eval_html(j, o.html);
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("accuracy on %lld labelled samples of %s\n%-48s %10s %9s %9s %9s\n", static_cast<long long>(test.x.rows()), o.idx.c_str(), "model",
              "file KB", "params", "non-zero", "accuracy");
  for (auto& mj : j["models"])
    std::printf("%-48.48s %10.1f %9lld %9lld %9.4f\n", mj["model"].get<std::string>().c_str(), mj["file_bytes"].get<double>() / 1024.0,
                static_cast<long long>(mj["params"].get<int64_t>()), static_cast<long long>(mj["nonzero_params"].get<int64_t>()),
                mj["accuracy"].get<double>());
}

// Accuracy on an image folder with one subfolder per class (sorted names = class indices).
void run_eval_images(const EvalOptions& o) {
  TaskSpec t;
  if (!o.task.empty()) parse_task_yaml(load_yaml(o.task), o.task, t);
  nlohmann::json j;
  j["data"] = o.images;
  std::vector<std::string> all = {o.reference};
  all.insert(all.end(), o.models.begin(), o.models.end());
  for (const std::string& path : all) {
    Model m = load_onnx(path);
    EngineOptions eo;
    eo.threads = o.threads;
    auto eng = create_engine("native", m, eo);
    std::map<std::string, Shape> shapes;
    if (m.graph.inputs.size() == 1) shapes[m.graph.inputs[0].name] = resolve_input_shape(m.graph.inputs[0], t.input, given_shape(o, m));
    eng->prepare(shapes);
    std::vector<int> labels;
    std::vector<std::string> classes;
    auto samples = load_image_folder(o.images, t.input, eng->input(0).shape(), 0, &labels, &classes);
    int64_t correct = 0, n = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      if (labels[i] < 0) continue;
      std::memcpy(eng->input(0).data(), samples[i].input.data(), samples[i].input.size_bytes());
      eng->run();
      const Tensor& y = eng->output(0);
      const float* p = y.ptr<float>();
      correct += (std::max_element(p, p + y.numel()) - p) == labels[i];
      ++n;
    }
    if (n == 0) throw Error(o.images + ": no labelled images (put each class in its own subfolder)");
    struct stat st {};
    stat(path.c_str(), &st);
    ModelStats s = model_stats(m, shapes);
    j["models"].push_back({{"model", path}, {"file_bytes", st.st_size}, {"params", s.params}, {"nonzero_params", s.params - s.zero_params},
                           {"accuracy", static_cast<double>(correct) / static_cast<double>(n)}, {"images", n}, {"classes", classes}});
  }
  if (!o.html.empty()) write_eval_html(j, o.html);
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  for (auto& mj : j["models"])
    std::printf("%-48.48s %10.1f KB  accuracy %.4f on %lld images\n", mj["model"].get<std::string>().c_str(), mj["file_bytes"].get<double>() / 1024.0,
                mj["accuracy"].get<double>(), static_cast<long long>(mj["images"].get<int64_t>()));
}

void run_eval(const EvalOptions& o) {
  if (!o.ort_peer.empty()) register_ort_peer_backend(o.ort_peer);
  if (o.backend != "native" && (!o.idx.empty() || !o.images.empty())) throw Error("eval: --backend applies to --video fidelity only");
  if (!o.idx.empty()) return run_eval_idx(o);
  if (!o.images.empty()) return run_eval_images(o);
  if (o.video.empty()) throw Error("eval: give --video (fidelity on unlabelled video), --idx or --images (accuracy on labelled data)");
  TaskSpec t;
  if (!o.task.empty()) parse_task_yaml(load_yaml(o.task), o.task, t);
  Model ref = load_onnx(o.reference);
  if (ref.graph.inputs.size() != 1) throw Error(o.reference + ": eval feeds single-input image models");
  // symbolic input dimensions (height, width) from --shape or the task's input size; every model runs at it
  const Shape shape = resolve_input_shape(ref.graph.inputs[0], t.input, given_shape(o, ref));
  auto samples = load_samples(o.video, t.input, shape, o.every, o.frames, o.start);
  Runner rr = make_runner(o.reference, t, t.decoder.score_threshold, o.threads, t.input, shape);
  std::vector<Result> ref_results(samples.size());
  std::vector<std::vector<Tensor>> ref_outputs(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    rr.run(samples[i], ref_results[i]);
    for (const Tensor* x : rr.outputs()) ref_outputs[i].push_back(x->clone());
  }
  nlohmann::json j;
  j["reference"] = o.reference;
  j["video"] = o.video;
  j["frames"] = samples.size();
  j["start"] = o.start;
  auto describe = [&](const std::string& path, Runner* r, FidelityAccumulator* f) {
    struct stat st {};
    stat(path.c_str(), &st);
    Model dm = load_onnx(path);
    std::map<std::string, Shape> at;
    if (dm.graph.inputs.size() == 1) at[dm.graph.inputs[0].name] = shape;
    ModelStats s = model_stats(std::move(dm), at);
    nlohmann::json mj = {{"model", path}, {"file_bytes", st.st_size}, {"params", s.params}, {"nonzero_params", s.params - s.zero_params},
                         {"macs", s.macs}, {"latency_ms_median", median(r->ms)}, {"threads", o.threads}};
    if (f) {
      auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
      mj["fidelity"] = {{"map50", num(f->map50())}, {"mean_iou", num(f->mean_iou())}, {"top1_agreement", num(f->top1_agreement())},
                        {"snr_db", std::isinf(f->snr_db()) ? nlohmann::json("inf") : nlohmann::json(f->snr_db())}, {"reference_boxes", f->gt}};
    }
    return mj;
  };
  j["models"].push_back(describe(o.reference, &rr, nullptr));
  for (const std::string& path : o.models) {
    Runner cr = make_runner(path, t, o.score_floor, o.threads, t.input, shape, o.backend);
    FidelityAccumulator f;
    Result res;
    for (size_t i = 0; i < samples.size(); ++i) {
      cr.run(samples[i], res);
      if (!ref_results[i].classes.empty() && !res.classes.empty()) f.add_classes(ref_results[i].classes[0].class_id, res.classes[0].class_id);
      else f.add_detections(ref_results[i].detections, res.detections);
      std::vector<const Tensor*> ro;
      for (auto& x : ref_outputs[i]) ro.push_back(&x);
      f.add_outputs(ro, cr.outputs());
    }
    j["models"].push_back(describe(path, &cr, &f));
    if (o.backend != "native") {
      j["models"].back()["backend"] = o.backend;
      j["models"].back()["model"] = path + " [" + o.backend + "]";
      // one peer process per frame: its wall time is not an inference latency
      if (o.backend == "onnxruntime") j["models"].back()["latency_ms_median"] = nullptr;
    }
  }
  if (!o.html.empty()) write_eval_html(j, o.html);
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("fidelity to %s on %zu frames of %s from frame %d, every %d (reference boxes at score >= %.2f; candidates scored from %.2f)\n",
              o.reference.c_str(), samples.size(), o.video.c_str(), o.start, o.every, t.decoder.score_threshold, o.score_floor);
  // classifiers are scored by top-1 agreement, detectors by mAP@0.5 and mean IoU against the reference
  const bool classify = t.decoder.type == "classify";
  if (classify)
    std::printf("%-48s %10s %9s %9s %12s %9s %9s %8s\n", "model", "file KB", "params", "non-zero", "MACs", "ms p50", "top-1 agr", "SNR dB");
  else
    std::printf("%-48s %10s %9s %9s %12s %9s %8s %8s %8s\n", "model", "file KB", "params", "non-zero", "MACs", "ms p50", "mAP@0.5", "mean IoU", "SNR dB");
  for (auto& mj : j["models"]) {
    std::string fid = "reference";
    char buf[64];
    if (mj.contains("fidelity")) {
      auto& f = mj["fidelity"];
      auto show = [&](const nlohmann::json& v, const char* fmt) {
        if (v.is_null()) return std::string("n/a");
        if (v.is_string()) return v.get<std::string>();
        std::snprintf(buf, sizeof buf, fmt, v.get<double>());
        return std::string(buf);
      };
      fid = classify ? show(f["top1_agreement"], "%9.3f") + " " + show(f["snr_db"], "%8.1f")
                     : show(f["map50"], "%8.3f") + " " + show(f["mean_iou"], "%8.3f") + " " + show(f["snr_db"], "%8.1f");
    }
    char ms[32] = "        -";
    if (mj["latency_ms_median"].is_number()) std::snprintf(ms, sizeof ms, "%9.2f", mj["latency_ms_median"].get<double>());
    std::printf("%-48.48s %10.1f %9lld %9lld %12lld %s %s\n", mj["model"].get<std::string>().c_str(), mj["file_bytes"].get<double>() / 1024.0,
                static_cast<long long>(mj["params"].get<int64_t>()), static_cast<long long>(mj["nonzero_params"].get<int64_t>()),
                static_cast<long long>(mj["macs"].get<int64_t>()), ms, fid.c_str());
  }
}

}  // namespace

void add_eval_command(ec::cli::App& app) {
  auto o = std::make_shared<EvalOptions>();
  ec::cli::App* c = app.add_subcommand("eval", "Fidelity, size and speed of compressed models against their original on video");
  c->add_option("--reference", o->reference, "The original ONNX model")->required();
  c->add_option("--model,-m", o->models, "Compressed models to evaluate")->required();
  c->add_option("--video", o->video, "Video (or any source URI) to evaluate fidelity on");
  c->add_option("--images", o->images, "Folder of labelled images (one subfolder per class): accuracy");
  c->add_option("--idx", o->idx, "Folder of labelled IDX data (e.g. /usr/share/datasets/fashion-mnist): accuracy on its t10k split");
  c->add_option("--task", o->task, "YAML with input: and decoder: (as a run variant), e.g. configs/tasks/blazeface.yaml");
  c->add_option("--frames", o->frames, "Frames to use")->capture_default_str();
  c->add_option("--shape", o->shape, "Input shape d,d,d,d for models with symbolic dimensions (default: the task's input size)");
  c->add_option("--every", o->every, "Use every N-th frame")->capture_default_str();
  c->add_option("--start", o->start, "Skip the first N frames of --video (e.g. those a model was distilled on)")->capture_default_str();
  c->add_option("--threads", o->threads, "Engine threads")->capture_default_str();
  c->add_option("--score-floor", o->score_floor, "Lowest candidate score kept for the precision-recall curve")->capture_default_str();
  c->add_option("--backend", o->backend,
                 "Backend for the compressed models (native, native-ref, opencv, onnxruntime with --ort-peer); the reference runs on native")
      ->capture_default_str();
  c->add_option("--ort-peer", o->ort_peer, "Path of ../shared/peers/ort-peer: makes backend onnxruntime available (one process per frame)");
  c->add_flag("--json", o->json, "JSON output");
  c->add_option("--html", o->html, "Also write an offline HTML report (table, size vs accuracy/fidelity, latency)");
  c->callback([o] { run_eval(*o); });
}

}  // namespace ec
