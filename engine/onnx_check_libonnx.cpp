// libonnx's checker on serialised bytes. Built only when configure found a libonnx-dev whose checker accepts
// the IR version this project writes (CMake probe in engine/CMakeLists.txt); the rest of the engine never
// includes libonnx headers, so builds without it differ only in which checker runs.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <string>

namespace ec {

std::string libonnx_check_bytes(const std::string& bytes) {
  onnx::ModelProto mp;
  if (!mp.ParseFromString(bytes)) return "libonnx could not parse the serialised model";
  try {
    onnx::checker::check_model(mp);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    auto nl = msg.find('\n');
    return nl == std::string::npos ? msg : msg.substr(0, nl);
  }
  return "";
}

// The newest IR version this libonnx knows (its release is not in its headers).
std::string libonnx_version() { return "IR " + std::to_string(static_cast<int>(onnx::Version::IR_VERSION)); }

}  // namespace ec
