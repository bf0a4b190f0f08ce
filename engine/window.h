// Spatial geometry shared by window operators (Conv, pooling) in NCHW and NHWC kernels.
#pragma once
#include <cstdint>
#include <vector>

#include "ir.h"
#include "tensor.h"

namespace ec {

// Spatial geometry of a 2-D window op (Conv, pools). 1-D inputs use H = 1. All sizes in elements.
struct Window {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
  int64_t ih = 1, iw = 1, oh = 1, ow = 1;
};

// Reads kernel/stride/dilation/pads/auto_pad of node `n` for an NCHW (or NCW) input shape `x` and computes
// the output size; throws naming the node on inconsistent attributes or a kernel larger than the input.
Window make_window(const Node& n, const Shape& x, std::vector<int64_t> kernel, bool ceil_mode);
// Output shape [N, c, OH, OW] (or [N, c, OW] for 1-D inputs).
Shape window_out_shape(const Shape& x, int64_t c, const Window& w);

}  // namespace ec
