// The training steps (finetune, share-finetune, distill, qat) run on libtorch in a helper process,
// `edgecompress-train`, built only when libtorch-dev is installed: the `edgecompress` binary itself does not
// link libtorch (which would cost every command, `run` on a device included, ~100 MB of memory and ~0.3 s of
// start-up). In ec_compress the steps are proxies: the model, the step's parameters, the calibration frames
// and the recipe's original model go to the helper through a temporary directory, the trained model comes
// back the same way; the helper's progress (ETA) goes straight to the terminal.
#pragma once
#include <string>
#include <vector>

#include "pass.h"

namespace ec::compress {

struct TrainStepInfo {
  std::string name;
  std::vector<std::string> params;
  std::string help;
};
// The training steps and their parameters.
const std::vector<TrainStepInfo>& train_steps();

// The helper to use instead of searching for it (app/ sets it from $EC_TRAIN_HELPER); "" to search.
void set_train_helper_path(const std::string& path);
// Path of the helper: the one set, else `edgecompress-train` next to this executable or one folder up (the
// tests live in build/tests); "" when absent or not executable.
std::string train_helper_path();

// Runs step `name` on libtorch in this process: only in the helper (ec_train, train_torch.cpp).
std::string run_torch_train_step(const std::string& name, Model& m, const StepParams& p, PassContext& ctx);

// Sets of float32 input tensors (calibration frames) to and from a file: "ECT1", count, then for each set its
// size and for each tensor rank, dims (int64) and values. Throws ec::Error naming the file.
void write_tensor_sets(const std::string& path, const std::vector<std::vector<Tensor>>& sets);
std::vector<std::vector<Tensor>> read_tensor_sets(const std::string& path);

// A step's parameters to and from a file: `where` on the first line, then key<TAB>value lines.
void write_step_params(const std::string& path, const StepParams& p);
StepParams read_step_params(const std::string& path);

}  // namespace ec::compress
