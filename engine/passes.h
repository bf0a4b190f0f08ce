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
// int8 QDQ graphs: DequantizeLinear (per-tensor int8) -> elementwise float ops (SiLU as x * Sigmoid(x),
// HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyRelu, Clip, arithmetic with scalar constants...) ->
// QuantizeLinear (per-tensor int8) becomes one QLut node (domain kEcDomain): the 256 outputs for the 256 int8
// inputs, computed in double and quantized as QuantizeLinear does. The int8 data then never goes through float
// (TFLite runs non-linear int8 activations the same way). Returns how many were made.
int fuse_int8_lookup_tables(Graph& g);
// int8 QDQ graphs: a Concat of DequantizeLinear outputs (int8 data from a QuantizeLinear or QLut) read only by one
// QuantizeLinear to int8: each input at another scale or zero point than that Q gets a QLut requantizing it
// (table = Q(DQ(x)) for the 256 values in the operators' float arithmetic: bit-exact) and a DequantizeLinear at the Q's
// parameters, so every input arrives at the output's scale and the layout pass concatenates the int8 data
// (ONNX Runtime's QLinearConcat). Returns the number of Concats rewritten.
int int8_concats(Graph& g);
// int8 QDQ graphs: a Gemm (transB = 1) whose B is DequantizeLinear of an int8 initializer [N][K] with zero point 0
// (per tensor or per output row) and whose C, if any, is a float initializer of N values becomes one WGemm node
// (domain kEcDomain) that keeps the weights int8 and converts them as it multiplies: a classifier's weights stay a
// quarter of their float size in memory and in every run's reads. Returns how many were made.
int int8_weight_gemms(Graph& g);
// Runs the passes above in order; returns a one-line summary ("folded 3 BN, fused 12 activations").
std::string optimize_for_native(Graph& g);

}  // namespace ec
