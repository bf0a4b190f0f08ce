// Compiles only against XNNPACK's December-2022 operator API: convolution creation takes a caches argument.
#include <xnnpack.h>
int main() {
  xnn_operator_t op = nullptr;
  xnn_caches_t caches = nullptr;
  return xnn_create_convolution2d_nhwc_qc8(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 8, 8, 8, 8, 0, 1.f, nullptr, nullptr, nullptr, 0, 1.f,
                                           -128, 127, 0, caches, &op) == xnn_status_success &&
         xnn_create_convert_nc_f32_qs8(8, 8, 8, 1.f, 0, -128, 127, 0, &op) == xnn_status_success;
}
