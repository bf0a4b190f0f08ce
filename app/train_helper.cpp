// edgecompress-train: runs one training step (finetune, share-finetune, distill, qat) on libtorch for
// edgecompress, which starts it with the model and parameters in a temporary directory (compress/train_steps.h).
// Not meant to be run by hand, but it can be:
//   edgecompress-train STEP IN.onnx OUT.onnx --params P.txt [--calibration C.bin] [--original O.onnx]
//                      [--threads N] [--report R.txt] [--error E.txt]
#include <cstdio>
#include <fstream>

#include "cmdline.h"
#include "error.h"
#include "onnx_io.h"
#include "train_steps.h"

int main(int argc, char** argv) {
  ec::cli::App app("edgecompress training helper (libtorch): one recipe step on an ONNX model");
  std::string step, in, out, params, calibration, original, report, error;
  int threads = 2;
  app.add_option("step", step, "finetune, share-finetune, distill or qat")->required();
  app.add_option("input", in, "Model to train (ONNX)")->required();
  app.add_option("output", out, "Trained model (ONNX)")->required();
  app.add_option("--params", params, "The step's parameters: `where` line, then key<TAB>value lines")->required();
  app.add_option("--calibration", calibration, "Calibration frames (tensor file)");
  app.add_option("--original", original, "The recipe's original model (distill teacher: original)");
  app.add_option("--threads", threads, "Training threads");
  app.add_option("--report", report, "Write the step's report line here (else stdout)");
  app.add_option("--error", error, "Write a failure's one-line message here too");
  try {
    app.parse(argc, argv);
  } catch (const ec::cli::ParseError& e) {
    return app.exit(e);
  }
  try {
    ec::Model m = ec::load_onnx(in);
    ec::compress::StepParams p = ec::compress::read_step_params(params);
    ec::compress::PassContext ctx;
    ctx.threads = threads;
    if (!calibration.empty()) ctx.calibration = ec::compress::read_tensor_sets(calibration);
    ec::Model orig;
    if (!original.empty()) {
      orig = ec::load_onnx(original);
      ctx.original = &orig;
    }
    const std::string line = ec::compress::run_torch_train_step(step, m, p, ctx);
    ec::save_onnx(m, out);
    if (report.empty()) {
      std::printf("%s\n", line.c_str());
    } else {
      std::ofstream r(report);
      r << line << "\n";
      if (!r.flush()) throw ec::Error(report + ": cannot write");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgecompress-train: %s\n", e.what());
    if (!error.empty()) std::ofstream(error) << e.what() << "\n";
    return 1;
  }
}
