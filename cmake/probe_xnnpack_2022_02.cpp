// Compiles only against XNNPACK's 2022 operator API before code/weights caches (Debian 12's snapshot): per-channel
// int8 convolution, f32<->qs8 converts, int8 padding and max pooling, and no caches argument.
#include <xnnpack.h>
int main() {
  xnn_operator_t op = nullptr;
  const int8_t zero = 0;
  return xnn_create_convolution2d_nhwc_qc8(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 8, 8, 8, 8, 0, 1.f, nullptr, nullptr, nullptr, 0, 1.f,
                                           -128, 127, 0, &op) == xnn_status_success &&
         xnn_create_convert_nc_f32_qs8(8, 8, 8, 1.f, 0, -128, 127, 0, &op) == xnn_status_success &&
         xnn_create_convert_nc_qs8_f32(8, 8, 8, 1.f, 0, 0, &op) == xnn_status_success &&
         xnn_create_constant_pad_nd_x8(&zero, 0, &op) == xnn_status_success &&
         xnn_create_max_pooling2d_nhwc_s8(0, 0, 0, 0, 2, 2, 2, 2, 1, 1, 8, 8, 8, -128, 127, 0, &op) == xnn_status_success;
}
