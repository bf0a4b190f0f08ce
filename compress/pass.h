// Compression passes over the IR: each takes a model and its parameters, edits the model in place and
// returns one report line. Passes register by name; adding one is a .h/.cpp, one registration line and a
// test. Configuration arrives as plain structs: compress never reads YAML or the environment.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir.h"
#include "tensor.h"

namespace ec::compress {

// A step's parameters as written in the recipe (values as text), with where they came from for messages.
struct StepParams {
  std::string where;  // "recipe.yaml:7" for messages
  std::map<std::string, std::string> values;
  std::map<std::string, std::vector<std::string>> lists;

  // Typed access; throws ec::Error "WHERE: PASS: 'key' = 'value' is not a number" etc.
  double number(const std::string& key, double dflt) const;
  std::string text(const std::string& key, const std::string& dflt) const;
  std::vector<std::string> list(const std::string& key) const;
};

// What passes may need besides the model: preprocessed calibration inputs (one per sample, each a full
// set of model inputs in declaration order).
struct PassContext {
  std::vector<std::vector<Tensor>> calibration;
  int threads = 2;
  const Model* original = nullptr;  // the recipe's input model (distill's `teacher: original`), when known
};

using PassFn = std::function<std::string(Model&, const StepParams&, PassContext&)>;

struct PassInfo {
  std::string name;
  std::vector<std::string> params;  // accepted parameter names
  bool needs_calibration = false;
  std::string help;
  PassFn fn;
};

// All registered passes by name.
const std::map<std::string, PassInfo>& passes();
// Runs pass `name`; throws ec::Error for unknown passes, unknown parameters (naming where) or pass errors.
std::string run_pass(const std::string& name, Model& m, const StepParams& p, PassContext& ctx);

// Renames internal values to short ids (graph inputs and outputs keep their names), drops node names,
// intermediate value_info and Conv attributes equal to their ONNX defaults: exporters' long scoped names
// can be a third of a small model's file. Returns the bytes of names saved.
size_t compact_names(Model& m);

// Registration hooks, one per pass file.
void register_quantize_passes(std::map<std::string, PassInfo>& r);
void register_prune_passes(std::map<std::string, PassInfo>& r);
void register_lowrank_passes(std::map<std::string, PassInfo>& r);
void register_share_passes(std::map<std::string, PassInfo>& r);
void register_structured_passes(std::map<std::string, PassInfo>& r);
// Training steps (finetune, share-finetune, distill, qat): libtorch when built with it (train_torch.cpp),
// otherwise steps that say so (train_stub.cpp).
void register_train_passes(std::map<std::string, PassInfo>& r);
// True when this build has the libtorch training steps.
bool training_available();

}  // namespace ec::compress
