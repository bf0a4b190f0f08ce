// Inference engines behind one API, as in XNNPACK: create (parse, optimize, pack weights) ->
// prepare(input shapes: plans memory, sizes workspaces) -> run() on engine-owned, bound buffers.
// Backends register by name: "native" (our runtime) and "opencv" (OpenCV DNN) are built in.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir.h"
#include "tensor.h"

namespace ec {

struct EngineOptions {
  int threads = 1;               // worker threads for run() (native: OpenMP; opencv: cv::setNumThreads)
  bool optimize = true;          // native: graph passes (BN folding, activation fusion)
  std::string device = "cpu";    // opencv: "cpu", "cuda" or "cuda_fp16" (needs OpenCV built with CUDA)
  bool profile = false;          // native: time every node in run() (adds two clock reads per node)
  bool xnnpack = true;           // native: NHWC XNNPACK kernels where the build and CPU have them
                                 // (false: the reference NCHW kernels only)
  std::string precision = "auto";  // native: "fp32"; "fp16" (float16 arithmetic on XNNPACK; an error where the CPU
                                   // has none); "auto": fp16 for models that store float16 weights on CPUs that
                                   // have it (ARMv8.2 FEAT_FP16), fp32 otherwise
  bool yield_threads = false;    // native: put the worker threads to sleep after each run instead of letting
                                 // them spin (live pipelines, where capture and decoding need the cores)
  // native: how layers with more than one kernel for this CPU (our fused pointwise or VNNI kernels, XNNPACK's)
  // get theirs. "measure": each candidate timed on the layer's real shapes at prepare, the fastest kept, the
  // choice cached per CPU, thread count and model (kernel_cache); "default": the built-in rule, no timing.
  std::string kernels = "measure";
  // native: folder of cached kernel choices; "" = $XDG_CACHE_HOME/edgecompress/kernels (~/.cache/...);
  // "-" = no cache (measure at every prepare).
  std::string kernel_cache;
};

// One layer with a choice of kernels, and what decided it.
struct KernelChoice {
  std::string node;                     // the (rewritten) node's name
  std::vector<std::string> candidates;  // the built-in rule's pick first
  std::vector<double> ms;               // measured time per run of each candidate (fastest of the repeats); empty
                                        // when the choice came from the cache or the built-in rule
  std::vector<double> model_ms;         // the close candidates' time per run inside runs of the whole model, from
                                        // the layer's start to the end of the next layer with a choice (-1: not
                                        // tried); empty when no layer had a second close candidate
  size_t chosen = 0;
};

// How the kernels of a prepared model were chosen (native).
struct KernelTuning {
  std::string how;         // "measured", "cached", "default", or "" when no layer has a choice
  double cost_ms = 0;      // wall time spent measuring (0 when cached or default)
  std::string cache_file;  // where the choice was read or written ("" without a cache)
  size_t moved_in_model = 0;  // layers whose kernel the timing inside runs of the whole model changed (measured)
  std::vector<KernelChoice> layers;
};

// Tests only: replaces each measured time (ms) of `candidate` on `node` by the hook's result, so a test can
// make one candidate faster and check that it is picked; `in_model`: a time from the second stage, inside runs
// of the whole model (KernelChoice::model_ms), else the layer timed alone. nullptr restores plain measurement.
// Not thread-safe against engines being prepared at the same time.
using KernelTimingHook = std::function<double(const std::string& node, const std::string& candidate, double ms, bool in_model)>;
void set_kernel_timing_hook(KernelTimingHook hook);

// Time spent in one node over all profiled runs.
struct NodeProfile {
  std::string name, op;
  double total_ms = 0;
  int64_t runs = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  // Backend name ("native", "opencv").
  virtual std::string backend() const = 0;
  // Plans for the given input shapes by input name; inputs not named use the model's fixed shape.
  // Throws ec::Error on a rank/dimension mismatch with the model or unfilled symbolic dimensions.
  virtual void prepare(const std::map<std::string, Shape>& shapes) = 0;
  // Runs the model on the current contents of the input buffers. No allocation (native).
  virtual void run() = 0;
  // After prepare: the engine-owned buffer of input i (fill it before run()).
  virtual Tensor& input(size_t i) = 0;
  // After run: output i (valid until the next run or prepare).
  virtual const Tensor& output(size_t i) const = 0;
  // Planned activation arena in bytes after prepare (0 when the backend does not report it).
  virtual size_t activation_bytes() const { return 0; }
  // One line on how the backend runs this model (native: XNNPACK layout and int8 op counts, or why only the
  // reference kernels run); "" when there is nothing to say.
  virtual std::string describe() const { return ""; }
  // After prepare: how the layers that have a choice of kernels got theirs (native); empty otherwise.
  virtual KernelTuning kernel_tuning() const { return {}; }
  // Per-node times accumulated since prepare (native with EngineOptions::profile); empty otherwise.
  virtual std::vector<NodeProfile> profile() const { return {}; }
  // After prepare: the planned shape of any value in the graph; false when unknown to this backend.
  virtual bool value_shape(const std::string& name, Shape& out) const {
    (void)name;
    (void)out;
    return false;
  }

  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  // Declared inputs/outputs of the model (dims may be symbolic).
  const ValueInfo& input_info(size_t i) const { return inputs_[i]; }
  const ValueInfo& output_info(size_t i) const { return outputs_[i]; }
  // Index of the input/output called `name`; throws when there is none.
  size_t input_index(const std::string& name) const;
  size_t output_index(const std::string& name) const;

 protected:
  // Resolves the shape of every declared input from `shapes` (by name) and the model's fixed dims.
  std::vector<Shape> resolve_input_shapes(const std::map<std::string, Shape>& shapes, const std::string& where) const;
  std::vector<ValueInfo> inputs_, outputs_;
};

using EngineFactory = std::function<std::unique_ptr<Engine>(const Model&, const EngineOptions&)>;

// Adds a backend under `name` (replacing one of the same name).
void register_backend(const std::string& name, EngineFactory f);
// Names of registered backends, sorted.
std::vector<std::string> backend_names();
// Creates an engine of backend `name` for `model`; throws ec::Error for an unknown backend or a model it
// cannot load (unsupported operator, ...). The engine keeps its own copy of what it needs.
std::unique_ptr<Engine> create_engine(const std::string& name, const Model& model, const EngineOptions& opts = {});

// Factories of the built-in backends (registered by create_engine on first use).
std::unique_ptr<Engine> create_native_engine(const Model& model, const EngineOptions& opts);
std::unique_ptr<Engine> create_opencv_engine(const Model& model, const EngineOptions& opts);

}  // namespace ec
