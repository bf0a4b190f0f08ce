// The "opencv" backend: OpenCV DNN's ONNX importer and its CPU (or CUDA) backend, as a peer and fallback.
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include <cstring>

#include "engine.h"
#include "error.h"
#include "onnx_io.h"

namespace ec {
namespace {

class OpenCvEngine : public Engine {
 public:
  OpenCvEngine(const Model& model, const EngineOptions& opts) : opts_(opts), where_(model.path.empty() ? "model" : model.path) {
    inputs_ = model.graph.inputs;
    outputs_ = model.graph.outputs;
    for (auto& in : inputs_)
      if (in.dtype != DType::f32)
        throw Error(where_ + ": input '" + in.name + "' has dtype " + dtype_name(in.dtype) + "; the opencv backend takes float32 inputs");
    std::string bytes = to_onnx_bytes(model);
    try {
      net_ = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
    } catch (const cv::Exception& e) {
      throw Error(where_ + ": OpenCV DNN cannot load the model: " + first_line(e.what()));
    }
    if (net_.empty()) throw Error(where_ + ": OpenCV DNN returned an empty network");
    if (opts.device == "cpu") {
      net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
      net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    } else if (opts.device == "cuda" || opts.device == "cuda_fp16") {
      auto targets = cv::dnn::getAvailableTargets(cv::dnn::DNN_BACKEND_CUDA);
      if (targets.empty()) throw Error("opencv backend: device '" + opts.device + "' needs OpenCV built with CUDA (this one is not)");
      net_.setPreferableBackend(cv::dnn::DNN_BACKEND_CUDA);
      net_.setPreferableTarget(opts.device == "cuda" ? cv::dnn::DNN_TARGET_CUDA : cv::dnn::DNN_TARGET_CUDA_FP16);
    } else {
      throw Error("opencv backend: device '" + opts.device + "' is not known (cpu, cuda, cuda_fp16)");
    }
    for (auto& o : outputs_) out_names_.push_back(o.name);
  }

  std::string backend() const override { return "opencv"; }

  void prepare(const std::map<std::string, Shape>& shapes) override {
    std::vector<Shape> s = resolve_input_shapes(shapes, where_);
    in_.clear();
    for (auto& sh : s) in_.emplace_back(DType::f32, sh);
    cv::setNumThreads(opts_.threads);
    run_net();  // learns output shapes
    prepared_ = true;
  }

  void run() override {
    if (!prepared_) throw Error(where_ + ": run() before prepare()");
    cv::setNumThreads(opts_.threads);
    run_net();
  }

  Tensor& input(size_t i) override { return in_.at(i); }
  const Tensor& output(size_t i) const override { return out_.at(i); }

 private:
  static std::string first_line(const std::string& s) {
    auto p = s.find('\n', 1);
    std::string r = p == std::string::npos ? s : s.substr(0, p);
    while (!r.empty() && (r[0] == '\n' || r[0] == ' ')) r.erase(0, 1);
    return r;
  }

  void run_net() {
    try {
      for (size_t i = 0; i < in_.size(); ++i) {
        std::vector<int> dims;
        for (int64_t d : in_[i].shape()) dims.push_back(static_cast<int>(d));
        cv::Mat m(static_cast<int>(dims.size()), dims.data(), CV_32F, in_[i].data());
        net_.setInput(m, inputs_[i].name);
      }
      net_.forward(mats_, out_names_);
    } catch (const cv::Exception& e) {
      throw Error(where_ + ": OpenCV DNN forward failed: " + first_line(e.what()));
    }
    if (out_.size() != mats_.size()) out_.resize(mats_.size());
    for (size_t i = 0; i < mats_.size(); ++i) {
      const cv::Mat& m = mats_[i];
      Shape sh;
      for (int d = 0; d < m.dims; ++d) sh.push_back(m.size[d]);
      if (m.type() != CV_32F) throw Error(where_ + ": OpenCV DNN output '" + out_names_[i] + "' is not float32");
      if (out_[i].shape() != sh || out_[i].data() == nullptr) out_[i] = Tensor(DType::f32, sh);
      cv::Mat c = m.isContinuous() ? m : m.clone();
      std::memcpy(out_[i].data(), c.ptr<float>(), out_[i].size_bytes());
    }
  }

  EngineOptions opts_;
  std::string where_;
  cv::dnn::Net net_;
  std::vector<cv::String> out_names_;
  std::vector<cv::Mat> mats_;
  std::vector<Tensor> in_, out_;
  bool prepared_ = false;
};

}  // namespace

std::unique_ptr<Engine> create_opencv_engine(const Model& model, const EngineOptions& opts) {
  return std::make_unique<OpenCvEngine>(model, opts);
}

}  // namespace ec
