// ONNX Runtime through the peer program (../shared/peers/ort-peer): one process per call, the same model
// file and input bytes. Used by `bench --ort-peer` for latency and outputs, and as the "onnxruntime"
// backend of `eval --ort-peer` (one process per frame: for fidelity, never for timing).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine.h"

namespace ec {

struct OrtPeerResult {
  double min_ms = 0, median_ms = 0, p95_ms = 0, mean_ms = 0;  // latency over the timed runs, ms
  int runs = 0;
  std::vector<std::string> names;
  std::vector<Tensor> outputs;  // float32, as the peer dumped them
  size_t peak_rss_bytes = 0;    // the peer process's peak resident memory (wait4 ru_maxrss), bytes
};

// Runs `peer` on `model` with `input` (float32) at `threads`, `warmup` untimed and `runs` timed runs.
// Throws ec::Error when the peer fails or writes outputs of unexpected size.
OrtPeerResult run_ort_peer(const std::string& peer, const std::string& model, const Tensor& input, int threads, int runs, int warmup);

// Runs argv[0] (searched in PATH) with these arguments, no shell, and returns its stdout; throws with the exit
// status when it fails. `peak_rss_bytes` (optional) receives the child's peak resident memory in bytes.
std::string run_capture_argv(const std::vector<std::string>& argv, size_t* peak_rss_bytes = nullptr);

// Runs a shell command and returns its stdout; throws with the exit status when it fails.
std::string run_capture(const std::string& cmd);

// Registers backend "onnxruntime": an Engine whose run() calls the peer once (models with one float input,
// loaded from a file so the peer can read it).
void register_ort_peer_backend(const std::string& peer);

}  // namespace ec
