// The 2020 operator API (Debian 11, Ubuntu 22.04): f32 convolution without caches, but none of the int8 operators
// the engine needs. Recognised so that configure can say why XNNPACK is not used.
#include <xnnpack.h>
int main() {
  xnn_operator_t op = nullptr;
  return xnn_create_convolution2d_nhwc_f32(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 8, 8, 8, 8, nullptr, nullptr, 0.f, 1.f, 0, &op) ==
         xnn_status_success;
}
