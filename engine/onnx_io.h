// ONNX <-> IR conversion with libonnx (protobuf), and the ONNX checker.
#pragma once
#include <string>

#include "ir.h"

namespace ec {

// Highest default-domain opset the engine implements (libonnx 1.12's checker also stops here).
constexpr int64_t kMaxOpset = 17;
// Lowest default-domain opset accepted.
constexpr int64_t kMinOpset = 7;

// Reads an ONNX file into the IR. Throws ec::Error naming the file for: missing/unreadable file, bytes that
// are not an ONNX model (or are truncated), opsets outside [kMinOpset, kMaxOpset], graphs whose values are
// not all produced, cycles, and anything above load_limits() (file size, node count, the bytes of a tensor or
// of a declared value shape), each checked before the allocation it would cause. External tensor data is read
// from files inside the model's folder only (relative locations without "..", symbolic links resolved).
Model load_onnx(const std::string& path);
// Same from bytes already in memory; `name` is used in messages and for external data lookups. Edgecompress
// archives (.ecz, see archive.h) are unpacked. `check_graph` false skips the check that every value is
// produced (for partial graphs being assembled).
Model load_onnx_bytes(const std::string& bytes, const std::string& name, bool check_graph = true);

// Serialises the IR to ONNX bytes (raw_data initializers).
std::string to_onnx_bytes(const Model& m);
// Writes the model to `path`; runs the ONNX checker first and throws with its message if it fails.
void save_onnx(const Model& m, const std::string& path);
// Runs onnx::checker::check_model on the serialised model; returns "" when it passes, else the reason.
std::string check_onnx(const Model& m);

}  // namespace ec
