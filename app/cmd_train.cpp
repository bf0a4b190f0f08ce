// `edgecompress train --data DIR -o OUT.onnx`: trains the reference multilayer perceptron (LeNet-300-100 by
// default) on IDX data such as Debian's Fashion-MNIST, reports test accuracy, and writes ONNX.
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
  std::string data = "/usr/share/datasets/fashion-mnist", out, hidden = "300,100", arch = "mlp";
  compress::MlpOptions mlp;
  int train_samples = -1;
};

// LeNet-5 from scratch through the `finetune` step (libtorch).
void run_train_lenet5(const TrainOptions& o) {
  Model m = compress::lenet5_untrained(o.mlp.seed);
  compress::StepParams p;
  p.where = "train --arch lenet5";
  p.values = {{"data", o.data}, {"epochs", std::to_string(o.mlp.epochs)}, {"batch", std::to_string(o.mlp.batch)},
              {"lr", std::to_string(o.mlp.lr)}, {"seed", std::to_string(o.mlp.seed)}, {"max_samples", std::to_string(o.train_samples)}};
  compress::PassContext ctx;
  std::printf("training lenet5 (431,080 params) on %s, %d epochs, seed %u (libtorch)\n", o.data.c_str(), o.mlp.epochs, o.mlp.seed);
  std::printf("%s\n", compress::run_pass("finetune", m, p, ctx).c_str());
  compress::Dataset test = compress::load_idx(o.data, "t10k");
  const double acc = compress::classification_accuracy(m, test);
  save_onnx(m, o.out);
  std::printf("test accuracy %.4f on %lld samples; wrote %s\n", acc, static_cast<long long>(test.x.rows()), o.out.c_str());
}

void run_train(TrainOptions& o) {
  if (o.arch == "lenet5") return run_train_lenet5(o);
  if (o.arch != "mlp") throw Error("--arch '" + o.arch + "': not mlp or lenet5");
  o.mlp.hidden.clear();
  std::stringstream ss(o.hidden);
  std::string t;
  while (std::getline(ss, t, ',')) {
    try {
      o.mlp.hidden.push_back(std::stoi(t));
    } catch (const std::exception&) {
      throw Error("--hidden '" + o.hidden + "': '" + t + "' is not a layer width");
    }
    if (o.mlp.hidden.back() < 1) throw Error("--hidden '" + o.hidden + "': widths must be positive");
  }
  if (o.mlp.epochs < 1 || o.mlp.batch < 1 || !(o.mlp.lr > 0)) throw Error("--epochs, --batch and --lr must be positive");
  compress::Dataset train = compress::load_idx(o.data, "train", o.train_samples);
  compress::Dataset test = compress::load_idx(o.data, "t10k");
  std::printf("training mlp %d-%s-10 on %lld samples of %s, %d epochs, seed %u\n", static_cast<int>(train.x.cols()), o.hidden.c_str(),
              static_cast<long long>(train.x.rows()), o.data.c_str(), o.mlp.epochs, o.mlp.seed);
  Model m = compress::train_mlp(train, o.mlp, [](int e, double loss) {
    std::printf("  epoch %d  loss %.4f\n", e, loss);
    std::fflush(stdout);
  });
  const double acc = compress::classification_accuracy(m, test);
  save_onnx(m, o.out);
  std::printf("test accuracy %.4f on %lld samples; wrote %s\n", acc, static_cast<long long>(test.x.rows()), o.out.c_str());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* c = app.add_subcommand("train", "Train a reference MLP (LeNet-300-100) on IDX data (Fashion-MNIST) and export ONNX");
  c->add_option("--data", o->data, "Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]")->capture_default_str();
  c->add_option("--arch", o->arch, "Architecture: mlp (Eigen trainer) or lenet5 (libtorch)")->capture_default_str();
  c->add_option("--hidden", o->hidden, "Hidden layer widths")->capture_default_str();
  c->add_option("--epochs", o->mlp.epochs, "Epochs")->capture_default_str();
  c->add_option("--batch", o->mlp.batch, "Mini-batch size")->capture_default_str();
  c->add_option("--lr", o->mlp.lr, "Learning rate (SGD, momentum 0.9)")->capture_default_str();
  c->add_option("--seed", o->mlp.seed, "Random seed (results repeat for a seed)")->capture_default_str();
  c->add_option("--train-samples", o->train_samples, "Use only the first N training samples");
  c->add_option("-o,--output", o->out, "ONNX output")->required();
  c->callback([o] { run_train(*o); });
}

}  // namespace ec
