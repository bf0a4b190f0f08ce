// Graph passes over the IR that keep outputs unchanged (up to float rounding). Used by the native backend
// at load and by compression before it edits weights.
#pragma once
#include <string>

#include "ir.h"

namespace ec {

// Turns Constant nodes into initializers. Returns how many were converted.
int constants_to_initializers(Graph& g);
// Replaces Cast(to=FLOAT) of a float16 or float32 initializer (weights stored as float16 by the fp16
// recipe) with a float32 initializer, so the layout pass sees constant weights. Returns casts folded.
int fold_weight_casts(Graph& g);
// Removes Identity and inference-mode Dropout nodes, rewiring their consumers. Returns nodes removed.
int remove_identities(Graph& g);
// Folds BatchNormalization into a preceding Conv whose output feeds only the BN (weights and BN params
// must be initializers). Returns how many were folded.
int fold_batchnorm(Graph& g);
// Fuses a following activation (Relu, Clip with constant bounds, LeakyRelu, Sigmoid, HardSigmoid,
// HardSwish, Tanh, and x*Sigmoid(x) = SiLU) into Conv/ConvTranspose/Gemm (and Add) producers as "_act" attributes
// that the native kernels read. Returns how many were fused. Output graphs are for the native engine only.
int fuse_activations(Graph& g);
// Runs the passes above in order; returns a one-line summary ("folded 3 BN, fused 12 activations").
std::string optimize_for_native(Graph& g);

}  // namespace ec
