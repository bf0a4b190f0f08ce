// XNNPACK after mid-2023 (Debian 13's 2024 snapshot): per-channel int8 convolution is named qs8_qc8w and
// operators are created, then reshaped, then set up. Recognised so that configure can say why XNNPACK is not
// used; the engine does not call this API yet.
#include <xnnpack.h>
int main() {
  xnn_operator_t op = nullptr;
  return xnn_reshape_convolution2d_nhwc_f32(op, 1, 8, 8, nullptr, nullptr, nullptr, nullptr, nullptr) == xnn_status_success &&
         xnn_create_convolution2d_nhwc_qs8_qc8w != nullptr;
}
