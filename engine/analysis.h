// Static model analysis for `inspect` and compression reports: parameters, MACs, weight bytes, sparsity.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "ir.h"

namespace ec {

struct LayerStats {
  std::string name, op;
  int64_t params = 0;       // elements of the node's initializer inputs
  int64_t zero_params = 0;  // of which exactly zero
  int64_t macs = 0;         // multiply-accumulates for one inference (Conv, ConvTranspose, Gemm, MatMul)
  Shape out_shape;          // first output's shape (empty when shapes are unknown)
};

struct ModelStats {
  std::vector<LayerStats> layers;              // graph order
  std::map<std::string, int> op_histogram;     // op_type -> count
  std::map<std::string, size_t> weight_bytes;  // dtype name -> bytes of initializers
  std::map<std::string, Shape> input_shapes;   // resolved input shapes used for MACs
  std::map<std::string, Shape> output_shapes;  // computed output shapes
  int64_t params = 0, zero_params = 0, macs = 0;
  size_t weight_bytes_total = 0;
  bool shapes_known = false;
  std::string shape_error;  // why MACs are unknown, when shapes_known is false
  double sparsity() const { return params ? static_cast<double>(zero_params) / static_cast<double>(params) : 0.0; }
};

// Analyses `m`. Shapes come from the native engine's planner with `input_shapes` (symbolic dims not
// given default to 1); when that fails (e.g. an unsupported operator) MACs are 0 and shape_error says why.
ModelStats analyze_model(const Model& m, const std::map<std::string, Shape>& input_shapes);

}  // namespace ec
