#include "variant_runner.h"

#include <sys/stat.h>

#include <cstring>

#include "error.h"
#include "onnx_io.h"
#include "sensor.h"

namespace ec {
namespace {

double now_ms() { return power::steady_now_ms(); }

int64_t mtime_ns(const struct stat& st) { return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec; }

}  // namespace

VariantRunner::VariantRunner(const RunnerSpec& spec) : spec_(spec) {
  Model m = load_onnx(spec.model);
  struct stat st {};
  if (stat(spec.model.c_str(), &st) == 0) {
    model_bytes_ = static_cast<size_t>(st.st_size);
    model_mtime_ns_ = mtime_ns(st);
  }
  for (auto& kv : m.graph.initializers) params_ += kv.second.numel();
  auto made = m.metadata.find("edgecompress.recipe");
  if (made != m.metadata.end()) {
    auto src = m.metadata.find("edgecompress.source_model");
    recipe_ = made->second + (src != m.metadata.end() ? " of " + src->second : std::string());
  }
  EngineOptions eo;
  eo.threads = spec.threads;
  eo.device = spec.device;
  eo.yield_threads = spec.yield_threads;
  engine_ = create_engine(spec.backend, m, eo);
  std::map<std::string, Shape> shapes;
  if (m.graph.inputs.size() == 1 && (!spec.shape.empty() || !m.graph.inputs[0].is_static()))
    shapes[m.graph.inputs[0].name] = resolve_input_shape(m.graph.inputs[0], spec.input, spec.shape);
  engine_->prepare(shapes);
  if (engine_->num_inputs() != 1) throw Error(spec.model + ": the pipeline feeds single-input image models");
  reconfigure(spec);
}

void VariantRunner::reconfigure(const RunnerSpec& spec) {
  auto pre = std::make_unique<Preprocessor>(spec.input, engine_->input(0).shape());
  auto dec = make_decoder(spec.decoder, pre->width(), pre->height());
  pre_ = std::move(pre);
  dec_ = std::move(dec);
  spec_.input = spec.input;
  spec_.decoder = spec.decoder;
}

void VariantRunner::check_settings(const RunnerSpec& spec) const {
  Preprocessor pre(spec.input, engine_->input(0).shape());
  make_decoder(spec.decoder, pre.width(), pre.height());
}

bool VariantRunner::same_engine(const RunnerSpec& o) const {
  struct stat st {};
  if (stat(o.model.c_str(), &st) != 0) return false;
  return o.model == spec_.model && static_cast<size_t>(st.st_size) == model_bytes_ && mtime_ns(st) == model_mtime_ns_ && o.backend == spec_.backend &&
         o.device == spec_.device && o.threads == spec_.threads && o.shape == spec_.shape && o.yield_threads == spec_.yield_threads;
}

std::vector<const Tensor*> VariantRunner::outputs() const {
  std::vector<const Tensor*> outs;
  for (size_t i = 0; i < engine_->num_outputs(); ++i) outs.push_back(&engine_->output(i));
  return outs;
}

StageTimes VariantRunner::infer_and_decode(const Letterbox& lb, Result& out, double pre_ms) {
  StageTimes t;
  t.pre_ms = pre_ms;
  const double t1 = now_ms();
  engine_->run();
  const double t2 = now_ms();
  dec_->decode(outputs(), lb, out);
  t.infer_start_ms = t1;
  t.infer_ms = t2 - t1;
  t.decode_ms = now_ms() - t2;
  return t;
}

StageTimes VariantRunner::run(const cv::Mat& bgr, Result& out) {
  const double t0 = now_ms();
  const Letterbox lb = pre_->run(bgr, engine_->input(0));
  return infer_and_decode(lb, out, now_ms() - t0);
}

StageTimes VariantRunner::run_preprocessed(const Tensor& input, const Letterbox& lb, Result& out) {
  Tensor& dst = engine_->input(0);
  if (input.shape() != dst.shape() || input.dtype() != dst.dtype())
    throw Error(spec_.model + ": the preprocessed input does not have the model's input shape");
  const double t0 = now_ms();
  std::memcpy(dst.data(), input.data(), input.size_bytes());
  return infer_and_decode(lb, out, now_ms() - t0);
}

}  // namespace ec
