// The IR as a trainable libtorch computation (only built with EC_WITH_TORCH). The ONNX graph is interpreted
// node by node with torch operators; Conv/Gemm/MatMul weights and biases (and, on request, BatchNormalization
// scale and shift) become trainable tensors; write_back puts the trained values into the same initializers,
// so the graph's structure never changes.
//
// QDQ graphs: activation QuantizeLinear/DequantizeLinear pairs are fake quantization with the file's
// scales (straight-through gradients). Weight DequantizeLinear nodes over int8 initializers are either
// constants (default) or, with `qat`, float master weights fake-quantized per channel on every forward
// (scale = max|w| / 127 of the current weights), re-quantized to int8 with their new scales by write_back.
//
// Graphs exported with a fixed batch of 1 (BlazeFace) train on batches: a Reshape to a fixed leading 1 and a
// Concat input with a leading 1 (ConstantOfShape padding) follow the batch.
#pragma once
#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir.h"

namespace ec::compress {

struct BridgeOptions {
  bool train_bn = false;  // BatchNormalization in training mode: batch statistics, running stats updated, scale/shift trained
  bool qat = false;       // weights behind DequantizeLinear train as float masters (see above)
  bool trainable = true;  // false: a frozen graph (a teacher)
};

class TorchGraph {
 public:
  TorchGraph(const Graph& g, BridgeOptions o);

  // Trainable tensors for the optimiser (tensors trained through shared centroids are left out).
  std::vector<torch::Tensor> parameters() const;
  // Every tensor the training changes (parameters, BN running statistics, centroids), in a fixed order: what
  // a checkpoint holds.
  std::vector<torch::Tensor> state() const;

  // Runs the graph on `input` (the first graph input, a batch) and returns all graph outputs in order.
  // `training` selects BN batch statistics when train_bn is set.
  std::vector<torch::Tensor> forward(const torch::Tensor& input, bool training);

  // Weight sharing (Deep Compression §3.3): weight tensors (rank >= 2) with at most `max_values` distinct
  // non-zero values train their centroids. Returns how many tensors are shared.
  size_t enable_sharing(int64_t max_values);
  // After backward: each centroid steps by -lr x (sum of its weights' gradients); weights take their centroid.
  void update_centroids(double lr);
  // Zeroes the pruned positions (zero when the bridge was built) of the trainable weight tensors.
  void apply_masks();

  // Writes the trained values into the graph's initializers as new tensors (copies of a Model share tensor
  // storage, so writing in place would change them too). QAT masters are written as int8 + new scales.
  void write_back(Graph& g) const;

  size_t trainable() const { return params_.size(); }
  size_t shared() const { return shared_.size(); }
  size_t masked() const { return masks_.size(); }
  size_t qat_weights() const { return qweights_.size(); }
  size_t bn_trained() const { return bn_stats_.size(); }

 private:
  using Getter = std::function<torch::Tensor(const std::string&)>;
  torch::Tensor run(const Node& n, const Getter& get, bool training);

  struct Shared {
    torch::Tensor centroids, index, zero;  // [K] values, [numel] cluster of each weight, the zero cluster (0 or 1)
  };
  struct QWeight {  // a weight DequantizeLinear under QAT
    std::string master, scale;  // master: the int8 initializer's name (its float value trains); scale initializer
    int64_t axis = 0;
  };
  const Graph& g_;
  BridgeOptions o_;
  int64_t batch_ = 1;
  std::map<std::string, torch::Tensor> params_, consts_, masks_, bn_stats_;
  std::map<std::string, Shared> shared_;
  std::map<std::string, QWeight> qweights_;  // by DequantizeLinear output
};

}  // namespace ec::compress
