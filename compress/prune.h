// Unstructured magnitude pruning of Conv/Gemm/MatMul weights: per layer or one global threshold, to a
// target sparsity, optionally in the 2:4 pattern (two of every four consecutive input weights zero).
#pragma once
#include "tensor.h"

namespace ec::compress {

// Zeros the `sparsity` fraction (0..1) of smallest-magnitude values of `w` in place; returns zeros set.
int64_t prune_magnitude(Tensor& w, double sparsity);
// Zeros the two smallest of every four consecutive values along the last axis (input channels x kernel
// for Conv, K for Gemm with transB). The last axis must be a multiple of 4 after flattening per output.
int64_t prune_2_4(Tensor& w);

}  // namespace ec::compress
