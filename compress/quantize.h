// Post-training quantization to standard QDQ ONNX (what TensorRT's explicit quantization and ONNX Runtime
// load): int8 symmetric weights per output channel, int8 symmetric activations per tensor calibrated by
// min-max, percentile, entropy (KL divergence, as TensorRT) or MSE; and float16 weights.
#pragma once
#include <string>
#include <vector>

#include "ir.h"
#include "tensor.h"

namespace ec::compress {

struct QuantizedTensor {
  Tensor q;      // int8, the shape of the input
  Tensor scale;  // float32 [channels] (per axis) or scalar
  Tensor zero;   // int8 zeros, same shape as scale
};

// Symmetric int8 quantization: scale = max|w| / 127 per slice along `axis` (axis < 0: one scale for all),
// q = round_half_even(w / scale) clamped to [-127, 127]. An all-zero slice gets scale 1.
QuantizedTensor quantize_symmetric(const Tensor& w, int axis);

// Histogram of |x| over calibration data, for choosing an activation range.
struct AbsHistogram {
  double max = 0;
  std::vector<double> counts;  // bins over [0, max]
};

// The clipping threshold amax for `method`: "minmax", "percentile" (of |x|, e.g. 99.99), "entropy"
// (minimum KL divergence between the clipped and the 8-bit distribution) or "mse" (minimum expected
// squared quantize-dequantize error). Throws ec::Error for other methods.
double choose_amax(const AbsHistogram& h, const std::string& method, double percentile);

// Opset 13 is needed for per-axis QDQ. Raises an older default-domain opset to 13 when every operator's
// meaning is unchanged (rewriting Squeeze/Unsqueeze/Split/ReduceSum attributes into inputs). Returns ""
// on success, else why not.
std::string upgrade_to_opset13(Model& m);

}  // namespace ec::compress
