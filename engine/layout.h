// NHWC layout pass of the native engine: rewrites a graph so that convolutions, pools, the binary
// elementwise ops and constant pads between them run in NHWC on XNNPACK (ops of domain kEcDomain), with
// Transposes only where the graph enters or leaves that region.
#pragma once
#include <string>

#include "ir.h"

namespace ec {

struct LayoutStats {
  int nhwc_nodes = 0;   // nodes now running in NHWC (internal ops and layout-free ops)
  int transposes = 0;   // layout conversions inserted
  int folded = 0;       // model Transposes that became no-ops (NHWC already) or were merged
  int pointwise_add = 0;  // 1x1 convolutions with the following residual Add fused (PointwiseAdd)
  int conv_add = 0;       // other float convolutions with the following residual Add fused (Conv with a 4th input)
  int dw_pointwise = 0;   // depthwise convolutions fused into the PointwiseAdd reading them (DwPointwiseAdd)
  int qconv_add = 0;      // int8 1x1 convolutions with the following int8 Add fused (QConvAdd)
  int int8_float_out = 0;  // int8 1x1 convolutions whose output is read as float (QConvF32)
  int int8_concats = 0;   // Concats of int8 data (every input at the output's scale)
  int int8_splits = 0;    // Splits of int8 data (every output at the input's scale)
  int nchw_outputs = 0;   // float Convs writing NCHW for a reader in NCHW (their Transpose back dropped)
  int nchw_inputs = 0;    // float stems reading the model's NCHW input (its Transpose to NHWC dropped)
};

// Rewrites `g` in place. Every value keeps its name where it is still visible in NCHW (graph outputs
// always are); NHWC values are named "<name>#nhwc". Needs initializer weights for Conv (4-D, float32).
// Run after optimize_for_native (activations fused). Graphs with nothing to convert are unchanged.
// fuse_pointwise = false leaves 1x1 convolutions and their residual Adds as XNNPACK ops (for the float16
// pass, which cannot run our float32 PointwiseAdd kernel).
LayoutStats convert_to_nhwc(Graph& g, bool fuse_pointwise = true);

// "12 NHWC nodes, 2 transposes inserted, 5 folded"
std::string to_string(const LayoutStats& s);

}  // namespace ec
