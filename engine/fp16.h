// Float16 pass of the native engine: after the NHWC layout pass, the XNNPACK ops that have float16 kernels
// (convolutions, Add and Mul, max and global average pooling, constant pads, each with at most a fused
// Relu/Clip) run on float16 activations, with Casts where float16 and float32 regions meet. For CPUs with
// float16 arithmetic (ARMv8.2 FEAT_FP16: Xavier's Carmel, Orin's A78AE) and models that store float16
// weights (the fp16 recipe); float16 halves activation memory traffic, and its accumulation rounds at
// ~1e-3 relative, which is why it is only chosen for models their authors already reduced to float16.
#pragma once
#include <string>

#include "ir.h"

namespace ec {

struct Fp16Stats {
  int nodes = 0;  // nodes now running in float16
  int casts = 0;  // float32 <-> float16 casts inserted
};

// Rewrites `g` in place (a graph produced by convert_to_nhwc). Float16 values are named "<name>#f16"; every
// name still read in float32 (graph outputs always) keeps its float32 value. Graphs with int8 ops are left
// alone (returns zero counts).
Fp16Stats convert_to_fp16(Graph& g);

// True when the graph stores weights as float16: a float16 initializer (the fp16 recipe's output).
bool stores_fp16_weights(const Graph& g);

}  // namespace ec
