// Built when libtorch is absent (EC_WITH_TORCH off or libtorch-dev not installed): the training steps exist
// so recipes parse, and say clearly what they need.
#include "error.h"
#include "pass.h"

namespace ec::compress {

void register_train_passes(std::map<std::string, PassInfo>& r) {
  const std::vector<std::string> common = {"data", "epochs", "batch", "lr", "momentum", "seed", "max_samples", "optimizer", "bn", "checkpoint", "resume", "augment"};
  const std::map<std::string, std::vector<std::string>> steps = {{"finetune", {}},
                                                                 {"share-finetune", {"max_centroids"}},
                                                                 {"distill", {"teacher", "temperature", "alpha", "loss", "box_weight"}},
                                                                 {"qat", {}}};
  for (auto& kv : steps) {
    std::vector<std::string> params = common;
    params.insert(params.end(), kv.second.begin(), kv.second.end());
    const std::string name = kv.first;
    r[name] = {name, params, false, "training step (needs the libtorch build)", [name](Model&, const StepParams& p, PassContext&) -> std::string {
                 throw Error(p.where + ": " + name + " needs libtorch: install libtorch-dev and rebuild (CMake option EC_WITH_TORCH)");
               }};
  }
}

bool training_available() { return false; }

}  // namespace ec::compress
