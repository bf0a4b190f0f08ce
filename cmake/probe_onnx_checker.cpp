// Compiles only against a libonnx whose checker knows IR version 8 (ONNX 1.10+), the IR edgecompress writes.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
static_assert(onnx::Version::IR_VERSION >= 8, "libonnx too old for IR 8");
int main() {
  onnx::ModelProto m;
  try {
    onnx::checker::check_model(m);
  } catch (...) {
  }
  return 0;
}
