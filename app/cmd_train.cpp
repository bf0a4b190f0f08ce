// `edgecompress train --arch mlp|lenet5|mobilenet --data DIR -o OUT.onnx`: trains a reference model on IDX
// data such as Debian's Fashion-MNIST, reports test accuracy, and writes ONNX. The MLP (LeNet-300-100 by
// default) trains on the built-in Eigen trainer unless --trainer torch; LeNet-5 and the small MobileNet train
// through the libtorch `finetune` step, and any of them through `distill` when --teacher is given (Hinton's
// soft targets: the same seed and epochs as a labels-only run, so the two compare).
#include <cstdio>
#include <memory>
#include <sstream>

#include "commands.h"
#include "error.h"
#include "mlp.h"
#include "onnx_io.h"
#include "pass.h"

namespace ec {
namespace {

struct TrainOptions {
  std::string data = "/usr/share/datasets/fashion-mnist", out, hidden = "300,100", arch = "mlp", trainer, teacher, optimizer = "sgd", checkpoint;
  compress::MlpOptions mlp;
  int train_samples = -1, threads = 2;
  double temperature = 4, alpha = 0.9;
  bool resume = false;
};

std::vector<int> parse_hidden(const std::string& text) {
  std::vector<int> h;
  std::stringstream ss(text);
  std::string t;
  while (std::getline(ss, t, ',')) {
    try {
      h.push_back(std::stoi(t));
    } catch (const std::exception&) {
      throw Error("--hidden '" + text + "': '" + t + "' is not a layer width");
    }
    if (h.back() < 1) throw Error("--hidden '" + text + "': widths must be positive");
  }
  return h;
}

void report(const Model& m, const TrainOptions& o) {
  if (o.data.rfind("images:", 0) == 0) {  // an image folder has no test split here
    save_onnx(m, o.out);
    std::printf("wrote %s (accuracy: edgecompress eval --reference %s -m %s --images TEST_DIR)\n", o.out.c_str(), o.out.c_str(), o.out.c_str());
    return;
  }
  compress::Dataset test = compress::load_idx(o.data, "t10k");
  const double acc = compress::classification_accuracy(m, test);
  save_onnx(m, o.out);
  std::printf("test accuracy %.4f on %lld samples; wrote %s\n", acc, static_cast<long long>(test.x.rows()), o.out.c_str());
}

// From an untrained model through the libtorch `finetune` (labels) or `distill` (teacher) step.
void run_train_torch(const TrainOptions& o) {
  Model m;
  std::string what;
  const bool bn = o.arch == "mobilenet";
  if (o.arch == "lenet5") m = compress::lenet5_untrained(o.mlp.seed), what = "lenet5";
  else if (bn) m = compress::mobilenet_small_untrained(o.mlp.seed), what = "mobilenet-small";
  else m = compress::mlp_untrained(28 * 28, o.mlp.hidden, o.mlp.seed), what = "mlp 784-" + o.hidden + "-10";
  compress::StepParams p;
  p.where = "train --arch " + o.arch;
  p.values = {{"data", o.data},           {"epochs", std::to_string(o.mlp.epochs)}, {"batch", std::to_string(o.mlp.batch)},
              {"lr", std::to_string(o.mlp.lr)}, {"seed", std::to_string(o.mlp.seed)},   {"max_samples", std::to_string(o.train_samples)},
              {"optimizer", o.optimizer}, {"bn", bn ? "train" : "frozen"}};
  if (!o.checkpoint.empty()) p.values["checkpoint"] = o.checkpoint;
  if (o.resume) p.values["resume"] = "1";
  const std::string step = o.teacher.empty() ? "finetune" : "distill";
  if (!o.teacher.empty()) {
    p.values["teacher"] = o.teacher;
    p.values["temperature"] = std::to_string(o.temperature);
    p.values["alpha"] = std::to_string(o.alpha);
  }
  compress::PassContext ctx;
  ctx.threads = o.threads;
  std::printf("training %s on %s, %d epochs, seed %u (libtorch, %s)\n", what.c_str(), o.data.c_str(), o.mlp.epochs, o.mlp.seed,
              o.teacher.empty() ? "labels" : ("soft targets of " + o.teacher).c_str());
  std::printf("%s\n", compress::run_pass(step, m, p, ctx).c_str());
  report(m, o);
}

void run_train(TrainOptions& o) {
  if (o.arch != "mlp" && o.arch != "lenet5" && o.arch != "mobilenet") throw Error("--arch '" + o.arch + "': not mlp, lenet5 or mobilenet");
  if (o.mlp.epochs < 1 || o.mlp.batch < 2 || !(o.mlp.lr > 0)) throw Error("--epochs and --lr must be positive and --batch at least 2");
  o.mlp.hidden = parse_hidden(o.hidden);
  std::string trainer = o.trainer.empty() ? (o.arch == "mlp" && o.teacher.empty() ? "eigen" : "torch") : o.trainer;
  if (trainer != "eigen" && trainer != "torch") throw Error("--trainer '" + trainer + "': not eigen or torch");
  if (trainer == "eigen" && (o.arch != "mlp" || !o.teacher.empty())) throw Error("--trainer eigen trains only --arch mlp on labels (no --teacher)");
  if (trainer == "torch") return run_train_torch(o);
  compress::Dataset train = compress::load_idx(o.data, "train", o.train_samples);
  std::printf("training mlp %d-%s-10 on %lld samples of %s, %d epochs, seed %u\n", static_cast<int>(train.x.cols()), o.hidden.c_str(),
              static_cast<long long>(train.x.rows()), o.data.c_str(), o.mlp.epochs, o.mlp.seed);
  Model m = compress::train_mlp(train, o.mlp, [](int e, double loss) {
    std::printf("  epoch %d  loss %.4f\n", e, loss);
    std::fflush(stdout);
  });
  report(m, o);
}

}  // namespace

void add_train_command(ec::cli::App& app) {
  auto o = std::make_shared<TrainOptions>();
  ec::cli::App* c = app.add_subcommand("train", "Train a reference model (MLP, LeNet-5, small MobileNet) on IDX data (Fashion-MNIST), optionally distilled from a teacher, and export ONNX");
  c->add_option("--data", o->data, "Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz], or images:DIR (a subfolder per class; torch trainer)")->capture_default_str();
  c->add_option("--arch", o->arch, "Architecture: mlp, lenet5 or mobilenet (small MobileNet-style CNN)")->capture_default_str();
  c->add_option("--hidden", o->hidden, "Hidden layer widths of the MLP")->capture_default_str();
  c->add_option("--trainer", o->trainer, "eigen (built-in, MLP only) or torch (libtorch); default eigen for an MLP on labels, else torch");
  c->add_option("--teacher", o->teacher, "Teacher ONNX model: train on its soft targets (distill) instead of labels alone");
  c->add_option("--temperature", o->temperature, "Distillation temperature")->capture_default_str();
  c->add_option("--alpha", o->alpha, "Weight of the soft-target loss (1 - alpha on the labels)")->capture_default_str();
  c->add_option("--epochs", o->mlp.epochs, "Epochs")->capture_default_str();
  c->add_option("--batch", o->mlp.batch, "Mini-batch size")->capture_default_str();
  c->add_option("--lr", o->mlp.lr, "Learning rate")->capture_default_str();
  c->add_option("--optimizer", o->optimizer, "sgd (momentum 0.9) or adam (torch trainer)")->capture_default_str();
  c->add_option("--seed", o->mlp.seed, "Random seed (results repeat for a seed)")->capture_default_str();
  c->add_option("--train-samples", o->train_samples, "Use only the first N training samples");
  c->add_option("--threads", o->threads, "Training threads (torch trainer)")->capture_default_str();
  c->add_option("--checkpoint", o->checkpoint, "Directory for a checkpoint after every epoch (torch trainer)");
  c->add_flag("--resume", o->resume, "Continue from the checkpoint in --checkpoint");
  c->add_option("-o,--output", o->out, "ONNX output")->required();
  c->callback([o] { run_train(*o); });
}

}  // namespace ec
