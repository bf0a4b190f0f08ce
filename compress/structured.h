// Structured channel pruning that physically removes channels. Channels that must go together are found
// by union-find over (value, channel) pairs through channel-preserving operators: activations, BN, pooling,
// depthwise Conv, elementwise Add/Mul (residual connections) and channel Concat (including zero padding
// made with ConstantOfShape). Each group is scored by the L1 (or L2) norm of the producing Conv filters,
// normalised per layer, or by BatchNormalization scale; the lowest-scoring fraction is removed from every
// producer, consumer, BN, per-channel constant and padding shape. The result is a smaller dense model.
#pragma once
#include <string>
#include <vector>

#include "ir.h"

namespace ec::compress {

struct ChannelGroup {
  std::vector<std::pair<std::string, int64_t>> members;  // (value, channel)
  std::vector<std::string> producers;                    // Conv nodes whose output channels are members
  bool blocked = false;                                  // touches a graph input/output or an unsupported op
  double importance = 0;
};

// The dependency groups of `m` (input shapes: the model's, symbolic dims as 1). `criterion`: l1, l2, bn.
std::vector<ChannelGroup> channel_groups(const Model& m, const std::string& criterion = "l1");

}  // namespace ec::compress
