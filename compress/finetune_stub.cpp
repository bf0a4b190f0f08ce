// Built when libtorch is absent (EC_WITH_TORCH off or libtorch-dev not installed): the training steps exist
// so recipes parse, and say clearly what they need.
#include "error.h"
#include "pass.h"

namespace ec::compress {

void register_train_passes(std::map<std::string, PassInfo>& r) {
  r["finetune"] = {"finetune", {"data", "epochs", "batch", "lr", "momentum", "seed", "max_samples"}, false,
                   "train the weights on labelled IDX data (needs the libtorch build)", [](Model&, const StepParams& p, PassContext&) -> std::string {
                     throw Error(p.where + ": finetune needs libtorch: install libtorch-dev and rebuild (CMake option EC_WITH_TORCH)");
                   }};
  r["share-finetune"] = {"share-finetune", {"data", "epochs", "batch", "lr", "momentum", "seed", "max_samples", "max_centroids"}, false,
                         "train shared centroids (needs the libtorch build)", [](Model&, const StepParams& p, PassContext&) -> std::string {
                           throw Error(p.where + ": share-finetune needs libtorch: install libtorch-dev and rebuild (CMake option EC_WITH_TORCH)");
                         }};
}

}  // namespace ec::compress
