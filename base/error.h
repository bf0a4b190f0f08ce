// The one exception type the project throws across module boundaries. `app` turns it into a one-line
// message and a non-zero exit code. Messages name the thing and the value, e.g.
// "model.onnx: node 'conv_7' (ConvTranspose): group=3 is not supported".
#pragma once
#include <stdexcept>
#include <string>

namespace ec {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace ec
