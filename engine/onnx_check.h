// Validation of serialised ONNX models before they are written: libonnx's checker where a new enough libonnx
// was found at configure time (EC_HAVE_ONNX_CHECKER), else edgecompress's own structural checks.
#pragma once
#include <string>

namespace ec {

// Checks serialised ONNX bytes; returns "" when they pass, else the first reason on one line. Runs libonnx's
// onnx::checker::check_model when the build has it, and the structural checks below in every build.
std::string check_onnx_bytes(const std::string& bytes);
// The structural checks alone (what runs where libonnx is missing or too old): a parseable ModelProto with an
// IR version and a default-domain opset; a named graph with outputs; every value defined once (graph inputs,
// initializers, node outputs) and before the node that reads it; typed graph inputs and outputs; initializers
// whose data matches their element type and shape; attributes with a name and a type that matches the field
// that holds the value. Returns "" or the first reason.
std::string structural_check_onnx_bytes(const std::string& bytes);
// Which checker check_onnx_bytes runs, for --version and reports: "onnx::checker (libonnx X.Y)" or
// "structural (edgecompress)".
std::string onnx_checker_name();

}  // namespace ec
