// Training steps on libtorch (Debian libtorch-dev, CPU), over the graph bridge of torch_bridge.h; they run in
// the helper process edgecompress-train (train_steps.h):
//   finetune        softmax cross-entropy on labelled data (IDX folder, or images:DIR with a subfolder per
//                   class); pruned weights stay at +0
//   share-finetune  after `share`: centroids move by their weights' summed gradients (Deep Compression §3.3)
//   distill         a teacher ONNX model's outputs as targets: Hinton soft targets (+ labels) for classifiers on
//                   IDX data, or, on unlabelled frames (the recipe's calibration source), per-output regression
//                   to the teacher (a detector: scores as soft binary targets, boxes weighted by the teacher's
//                   confidence)
//   qat             after `quantize`: float master weights fake-quantized per channel, activations through the
//                   file's QDQ scales; exported as QDQ with the trained int8 weights and their new scales
// Every step: SGD with momentum or Adam, fixed seeds (per-epoch shuffles and augmentation: the same bytes for
// the same seed, whether run straight or resumed), an ETA on a terminal, checkpoints after each epoch.
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <random>

#include "error.h"
#include "mlp.h"
#include "onnx_io.h"
#include "pass.h"
#include "torch_bridge.h"
#include "train_steps.h"

namespace ec::compress {
namespace {

namespace fs = std::filesystem;

enum class Kind { finetune, share, distill, qat };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::finetune: return "finetune";
    case Kind::share: return "share-finetune";
    case Kind::distill: return "distill";
    case Kind::qat: return "qat";
  }
  return "";
}

// The samples a step trains on: inputs [N, ...] and labels (undefined for unlabelled frames).
struct Samples {
  torch::Tensor x, y;
  std::string what;
};

// A labelled image folder (one subfolder per class, sorted names = class indices; png/jpg/jpeg/bmp) for a
// model taking [N,C,H,W], [N,H,W,C] (C 1: gray, 3: RGB) or [N, side*side] (gray): images resized to the
// input size, values scaled to [0, 1] as the IDX loader does.
Samples load_image_folder_samples(const Model& m, const std::string& dir, int max_n, const std::string& where) {
  const auto& dims = m.graph.inputs.at(0).dims;
  int64_t c = 1, h = 0, w = 0;
  bool nhwc = false;
  if (dims.size() == 4 && (dims[1].value == 1 || dims[1].value == 3)) c = dims[1].value, h = dims[2].value, w = dims[3].value;
  else if (dims.size() == 4 && (dims[3].value == 1 || dims[3].value == 3)) c = dims[3].value, h = dims[1].value, w = dims[2].value, nhwc = true;
  else if (dims.size() == 2 && dims[1].value > 0) {
    h = w = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(dims[1].value))));
    if (h * w != dims[1].value) h = w = 0;
  }
  if (h <= 0 || w <= 0) throw Error(where + ": images:" + dir + ": the model input is not [N,C,H,W], [N,H,W,C] or [N, side*side] with a fixed size");
  std::vector<fs::path> classes;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory()) classes.push_back(e.path());
  if (ec) throw Error(where + ": images:" + dir + ": " + ec.message());
  std::sort(classes.begin(), classes.end());
  std::vector<torch::Tensor> xs;
  std::vector<int64_t> labels;
  for (size_t k = 0; k < classes.size(); ++k) {
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(classes[k])) {
      std::string ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      cv::Mat img = cv::imread(f.string(), c == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
      if (img.empty()) throw Error(f.string() + ": not a readable image");
      if (c == 3) cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
      cv::resize(img, img, cv::Size(static_cast<int>(w), static_cast<int>(h)), 0, 0, cv::INTER_AREA);
      img.convertTo(img, CV_32F, 1.0 / 255.0);
      torch::Tensor t = torch::from_blob(img.data, {h, w, c}, torch::kFloat32).clone();  // HWC
      xs.push_back(nhwc ? t : t.permute({2, 0, 1}).contiguous());
      labels.push_back(static_cast<int64_t>(k));
    }
  }
  if (xs.empty()) throw Error(where + ": images:" + dir + ": no images (png, jpg, jpeg, bmp) in class subfolders");
  // interleave classes deterministically so that max_samples keeps every class
  std::vector<size_t> order(xs.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(12345);
  std::shuffle(order.begin(), order.end(), rng);
  if (max_n > 0 && static_cast<size_t>(max_n) < order.size()) order.resize(static_cast<size_t>(max_n));
  std::vector<torch::Tensor> sel;
  std::vector<int64_t> lab;
  for (size_t i : order) sel.push_back(xs[i]), lab.push_back(labels[i]);
  Samples s;
  s.x = torch::stack(sel);
  if (dims.size() == 2) s.x = s.x.reshape({s.x.size(0), -1});
  s.y = torch::tensor(lab, torch::kInt64);
  s.what = std::to_string(sel.size()) + " images in " + std::to_string(classes.size()) + " classes of " + dir;
  return s;
}

Samples load_samples(const Model& m, const StepParams& p, const PassContext& ctx, const char* step) {
  const std::string data = p.text("data", "/usr/share/datasets/fashion-mnist");
  const int max_n = static_cast<int>(p.number("max_samples", -1));
  Samples s;
  if (data == "calibration") {
    if (ctx.calibration.empty()) throw Error(p.where + ": " + step + ": data: calibration needs the recipe's calibration source (or --calib)");
    std::vector<torch::Tensor> xs;
    for (auto& sample : ctx.calibration) {
      const Tensor& t = sample.at(0);
      if (t.dtype() != DType::f32) throw Error(p.where + ": " + step + ": calibration inputs must be float32");
      std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
      xs.push_back(torch::from_blob(const_cast<void*>(t.data()), shape, torch::kFloat32).clone());
      if (max_n > 0 && static_cast<int>(xs.size()) >= max_n) break;
    }
    s.x = torch::cat(xs, 0);
    s.what = std::to_string(s.x.size(0)) + " unlabelled calibration frames";
    return s;
  }
  if (data.rfind("images:", 0) == 0) return load_image_folder_samples(m, data.substr(7), max_n, p.where + ": " + step);
  Dataset d = load_idx(data, "train", max_n);
  std::vector<int64_t> shape = {static_cast<int64_t>(d.y.size())};
  for (size_t i = 1; i < m.graph.inputs[0].dims.size(); ++i) shape.push_back(m.graph.inputs[0].dims[i].value);
  int64_t per = 1;
  for (size_t i = 1; i < shape.size(); ++i) per *= shape[i];
  if (per != d.x.cols()) throw Error(p.where + ": " + step + ": " + data + " has " + std::to_string(d.x.cols()) + " pixels per sample, the model input takes " + std::to_string(per));
  s.x = torch::from_blob(d.x.data(), shape, torch::kFloat32).clone();
  std::vector<int64_t> labels(d.y.begin(), d.y.end());
  s.y = torch::tensor(labels, torch::kInt64);
  s.what = std::to_string(d.y.size()) + " samples of " + data;
  return s;
}

// Loss of a distilled detector or regressor: outputs whose last dimension is 1 are logits (sigmoid scores,
// soft binary targets); outputs with as many rows (dimension 1) as a score output are boxes of those
// anchors, weighted by the teacher's score; other outputs plain squared error. Squared errors are divided
// by each teacher output's variance (fixed on the first batch).
class DetectorLoss {
 public:
  explicit DetectorLoss(double box_weight) : box_weight_(box_weight) {}
  torch::Tensor operator()(const std::vector<torch::Tensor>& s, const std::vector<torch::Tensor>& t) {
    if (norm_.empty())
      for (auto& x : t) norm_.push_back(std::max(1e-6, x.var().item<double>()));
    torch::Tensor loss = torch::zeros({});
    std::map<int64_t, torch::Tensor> weight;  // anchors -> teacher score probability [N, A, 1]
    for (size_t k = 0; k < t.size(); ++k)
      if (t[k].dim() >= 2 && t[k].size(-1) == 1) {
        loss = loss + torch::binary_cross_entropy_with_logits(s[k], torch::sigmoid(t[k]));
        weight[t[k].size(1)] = torch::sigmoid(t[k]);
      }
    for (size_t k = 0; k < t.size(); ++k) {
      if (t[k].dim() >= 2 && t[k].size(-1) == 1) continue;
      torch::Tensor se = (s[k] - t[k]).pow(2) / norm_[k];
      auto w = t[k].dim() >= 2 ? weight.find(t[k].size(1)) : weight.end();
      if (w != weight.end()) loss = loss + box_weight_ * (se * w->second).sum() / (w->second.sum() * static_cast<double>(t[k].size(-1)) + 1e-6);
      else loss = loss + se.mean();
    }
    return loss;
  }

 private:
  double box_weight_;
  std::vector<double> norm_;
};

// Random horizontal flips and brightness/contrast changes of a batch of images (NCHW or NHWC).
torch::Tensor augment(const torch::Tensor& x, const std::string& how) {
  if (how == "none" || x.dim() != 4) return x;
  const int64_t n = x.size(0);
  const bool nhwc = (x.size(3) == 1 || x.size(3) == 3) && x.size(1) != 1 && x.size(1) != 3;
  torch::Tensor y = x;
  if (how.find("flip") != std::string::npos) {
    torch::Tensor m = (torch::rand({n, 1, 1, 1}) < 0.5).to(torch::kFloat32);
    y = y * (1 - m) + y.flip({nhwc ? 2 : 3}) * m;
  }
  if (how.find("color") != std::string::npos) {
    torch::Tensor a = 0.8 + 0.4 * torch::rand({n, 1, 1, 1}), b = 0.2 * torch::rand({n, 1, 1, 1}) - 0.1;
    y = y * a + b;
  }
  return y;
}

std::string train_step_impl(Model& m, const StepParams& p, PassContext& ctx, Kind kind) {
  const char* step = kind_name(kind);
  const int epochs = static_cast<int>(p.number("epochs", 1));
  const int batch = static_cast<int>(p.number("batch", 64));
  const double lr = p.number("lr", 0.01), momentum = p.number("momentum", 0.9);
  const uint32_t seed = static_cast<uint32_t>(p.number("seed", 1));
  const std::string optim = p.text("optimizer", "sgd"), bn = p.text("bn", "frozen"), ckpt = p.text("checkpoint", "");
  const bool resume = p.number("resume", 0) != 0;
  if (epochs < 1 || batch < 2) throw Error(p.where + ": " + step + ": epochs must be at least 1 and batch at least 2");
  if (optim != "sgd" && optim != "adam") throw Error(p.where + ": " + step + ": optimizer '" + optim + "' is not sgd or adam");
  if (bn != "frozen" && bn != "train") throw Error(p.where + ": " + step + ": bn '" + bn + "' is not frozen or train");
  if (m.graph.inputs.empty() || m.graph.outputs.empty()) throw Error(p.where + ": " + step + ": the model has no input or output");
  torch::set_num_threads(std::max(1, ctx.threads));

  Samples data = load_samples(m, p, ctx, step);
  // the teacher, for distill
  std::unique_ptr<Model> teacher_model;
  std::unique_ptr<TorchGraph> teacher;
  const double T = p.number("temperature", 4), alpha = p.number("alpha", 0.9);
  std::string loss_kind = p.text("loss", "auto");
  if (kind == Kind::distill) {
    const std::string tp = p.text("teacher", "original");
    if (tp == "original") {
      if (!ctx.original) throw Error(p.where + ": distill: teacher: original needs the recipe's input model; give teacher: PATH");
      teacher_model = std::make_unique<Model>(*ctx.original);
    } else {
      teacher_model = std::make_unique<Model>(load_onnx(tp));
    }
    BridgeOptions to;
    to.trainable = false;
    teacher = std::make_unique<TorchGraph>(teacher_model->graph, to);
    if (loss_kind == "auto") loss_kind = data.y.defined() ? "soft-targets" : "detector";
    if (loss_kind != "soft-targets" && loss_kind != "detector") throw Error(p.where + ": distill: loss '" + loss_kind + "' is not soft-targets or detector");
    if (!(T > 0) || alpha < 0 || alpha > 1) throw Error(p.where + ": distill: temperature must be > 0 and alpha in [0, 1]");
    if (teacher_model->graph.outputs.size() != m.graph.outputs.size())
      throw Error(p.where + ": distill: the teacher has " + std::to_string(teacher_model->graph.outputs.size()) + " outputs, the student " +
                  std::to_string(m.graph.outputs.size()));
  } else if (!data.y.defined()) {
    throw Error(p.where + ": " + step + ": needs labelled data (an IDX folder); unlabelled frames train only through distill");
  }
  // the teacher may take the same samples in another shape ([N,1,28,28] for a CNN, [N,784] for an MLP)
  std::vector<int64_t> teacher_shape = {-1};
  if (teacher)
    for (size_t i = 1; i < teacher_model->graph.inputs.at(0).dims.size(); ++i) {
      const int64_t d = teacher_model->graph.inputs[0].dims[i].value;
      teacher_shape.push_back(d > 0 ? d : data.x.size(static_cast<int64_t>(std::min(i, static_cast<size_t>(data.x.dim() - 1)))));
    }
  if (teacher) {
    int64_t per = 1, mine = 1;
    for (size_t i = 1; i < teacher_shape.size(); ++i) per *= teacher_shape[i];
    for (int64_t i = 1; i < data.x.dim(); ++i) mine *= data.x.size(i);
    if (per != mine) throw Error(p.where + ": distill: the teacher takes " + std::to_string(per) + " values per sample, the student " + std::to_string(mine));
  }
  const std::string aug = p.text("augment", data.y.defined() ? "none" : "flip,color");

  BridgeOptions bo;
  bo.train_bn = bn == "train";
  bo.qat = kind == Kind::qat;
  TorchGraph tg(m.graph, bo);
  if (tg.trainable() == 0) return std::string(step) + ": no Conv/Gemm/MatMul weights to train";
  if (kind == Kind::qat && tg.qat_weights() == 0) throw Error(p.where + ": qat: the model has no int8 weights (DequantizeLinear over int8 initializers): put `quantize` before `qat`");
  if (kind == Kind::share && tg.enable_sharing(static_cast<int64_t>(p.number("max_centroids", 256))) == 0)
    throw Error(p.where + ": share-finetune: no weight tensor has few enough distinct values: run `share` first");

  std::unique_ptr<torch::optim::Optimizer> opt;
  if (optim == "adam") opt = std::make_unique<torch::optim::Adam>(tg.parameters(), torch::optim::AdamOptions(lr));
  else opt = std::make_unique<torch::optim::SGD>(tg.parameters(), torch::optim::SGDOptions(lr).momentum(momentum));

  // checkpoints: DIR/<step>.state.pt (trained tensors), <step>.optim.pt, <step>.epoch, <step>-epoch<N>.onnx
  int start = 0;
  const fs::path cdir(ckpt);
  auto cfile = [&](const std::string& suffix) { return (cdir / (std::string(step) + suffix)).string(); };
  if (!ckpt.empty()) {
    std::error_code ec;
    fs::create_directories(cdir, ec);
    if (ec) throw Error(p.where + ": " + step + ": checkpoint directory '" + ckpt + "': " + ec.message());
    if (resume && fs::exists(cfile(".epoch"))) {
      std::ifstream f(cfile(".epoch"));
      if (!(f >> start) || start < 0) throw Error(cfile(".epoch") + ": not an epoch number");
      std::vector<torch::Tensor> saved;
      torch::load(saved, cfile(".state.pt"));
      std::vector<torch::Tensor> now = tg.state();
      if (saved.size() != now.size()) throw Error(cfile(".state.pt") + ": holds " + std::to_string(saved.size()) + " tensors, this step trains " + std::to_string(now.size()));
      torch::NoGradGuard ng;
      for (size_t i = 0; i < now.size(); ++i) {
        if (!saved[i].sizes().equals(now[i].sizes())) throw Error(cfile(".state.pt") + ": tensor " + std::to_string(i) + " has another shape than the model's");
        now[i].copy_(saved[i]);
      }
      torch::load(*opt, cfile(".optim.pt"));
      std::fprintf(stderr, "%s: resuming after epoch %d from %s\n", step, start, ckpt.c_str());
    }
  }

  // without augmentation the teacher's outputs are the same every epoch: computed once
  std::vector<torch::Tensor> teacher_all;
  if (teacher && aug == "none") {
    torch::NoGradGuard ng;
    std::vector<std::vector<torch::Tensor>> parts;
    for (int64_t i = 0; i < data.x.size(0); i += 1000) parts.push_back(teacher->forward(data.x.slice(0, i, i + 1000).reshape(teacher_shape), false));
    for (size_t k = 0; k < parts.at(0).size(); ++k) {
      std::vector<torch::Tensor> col;
      for (auto& pt : parts) col.push_back(pt[k]);
      teacher_all.push_back(torch::cat(col, 0));
    }
  }
  const int64_t n = data.x.size(0), steps = (n + batch - 1) / batch;
  std::vector<int64_t> order(static_cast<size_t>(n));
  DetectorLoss det(p.number("box_weight", 1));
  double first_loss = NAN, last_loss = NAN;
  const auto t0 = std::chrono::steady_clock::now();
  for (int e = start; e < epochs; ++e) {
    // per-epoch seeds: a resumed run sees the same shuffles and augmentations as a straight one
    std::seed_seq sq{seed, static_cast<uint32_t>(e)};
    std::mt19937 rng(sq);
    torch::manual_seed(static_cast<uint64_t>(seed) * 1000003u + static_cast<uint64_t>(e));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    torch::Tensor idx_all = torch::tensor(order, torch::kInt64);
    double sum = 0;
    int64_t done_steps = 0;
    for (int64_t s = 0; s < steps; ++s) {
      torch::Tensor idx = idx_all.slice(0, s * batch, std::min(n, (s + 1) * batch));
      if (idx.numel() < 2) continue;  // batch statistics need two samples
      torch::Tensor xb = augment(data.x.index_select(0, idx), aug);
      opt->zero_grad();
      std::vector<torch::Tensor> out = tg.forward(xb, true);
      torch::Tensor loss;
      if (kind == Kind::distill) {
        std::vector<torch::Tensor> tout;
        if (!teacher_all.empty()) {
          for (auto& t : teacher_all) tout.push_back(t.index_select(0, idx));
        } else {
          torch::NoGradGuard ng;
          tout = teacher->forward(xb.reshape(teacher_shape), false);
        }
        if (loss_kind == "detector") {
          loss = det(out, tout);
        } else {
          torch::Tensor soft = torch::kl_div(torch::log_softmax(out[0] / T, 1), torch::softmax(tout[0] / T, 1), at::Reduction::Sum) /
                               static_cast<double>(xb.size(0)) * (T * T);
          loss = data.y.defined() ? alpha * soft + (1 - alpha) * torch::nn::functional::cross_entropy(out[0], data.y.index_select(0, idx)) : soft;
        }
      } else {
        loss = torch::nn::functional::cross_entropy(out[0], data.y.index_select(0, idx));
      }
      loss.backward();
      if (kind == Kind::share) tg.update_centroids(lr);
      opt->step();
      tg.apply_masks();
      sum += loss.item<double>();
      ++done_steps;
      if (isatty(2) && ((s + 1) % 20 == 0 || s + 1 == steps)) {
        const double done = static_cast<double>((e - start) * steps + s + 1) / static_cast<double>((epochs - start) * steps);
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "\r%s: epoch %d/%d  batch %lld/%lld  loss %.4f  ETA %.0f s   ", step, e + 1, epochs, static_cast<long long>(s + 1),
                     static_cast<long long>(steps), sum / static_cast<double>(done_steps), el / done * (1 - done));
      }
    }
    const double mean = sum / static_cast<double>(std::max<int64_t>(1, done_steps));
    if (e == start) first_loss = mean;
    last_loss = mean;
    if (!ckpt.empty()) {
      torch::save(tg.state(), cfile(".state.pt"));
      torch::save(*opt, cfile(".optim.pt"));
      Model copy = m;
      tg.write_back(copy.graph);
      save_onnx(copy, cfile("-epoch" + std::to_string(e + 1) + ".onnx"));
      std::ofstream(cfile(".epoch")) << (e + 1) << "\n";
    }
  }
  if (isatty(2)) std::fprintf(stderr, "\n");
  tg.write_back(m.graph);
  char line[700];
  std::string extra;
  if (kind == Kind::distill)
    extra = "; teacher " + p.text("teacher", "original") + ", loss " + loss_kind +
            (loss_kind == "soft-targets" ? " (T " + std::to_string(T).substr(0, 4) + ", alpha " + std::to_string(alpha).substr(0, 4) + ")" : "") +
            (aug != "none" ? ", augment " + aug : "");
  if (kind == Kind::qat) extra = "; " + std::to_string(tg.qat_weights()) + " int8 weight tensors re-quantized with their trained scales";
  std::snprintf(line, sizeof line,
                "%s: epochs %d-%d on %s (%s lr %g batch %d seed %u, libtorch); mean loss %.4f -> %.4f; %zu tensors trained (%zu through shared "
                "centroids, %zu BN statistics), %zu with pruned positions kept at zero%s",
                step, start + 1, epochs, data.what.c_str(), optim.c_str(), lr, batch, seed, first_loss, last_loss, tg.trainable(), tg.shared(),
                tg.bn_trained(), tg.masked(), extra.c_str());
  return line;
}

// libtorch reports errors with a backtrace: one line instead, naming the step.
std::string train_step(Model& m, const StepParams& p, PassContext& ctx, Kind kind) {
  try {
    return train_step_impl(m, p, ctx, kind);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    throw Error(p.where + ": " + kind_name(kind) + ": libtorch: " + msg);
  }
}

}  // namespace

std::string run_torch_train_step(const std::string& name, Model& m, const StepParams& p, PassContext& ctx) {
  for (Kind k : {Kind::finetune, Kind::share, Kind::distill, Kind::qat})
    if (name == kind_name(k)) return train_step(m, p, ctx, k);
  throw Error("training: unknown step '" + name + "'");
}

}  // namespace ec::compress
