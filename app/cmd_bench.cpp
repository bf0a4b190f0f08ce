// `edgecompress bench`: latency of one model on one or more backends (and optionally ONNX Runtime through
// the ort-peer script) with the same seeded input, warm-up, repeats, min/median/p95, throughput, memory,
// ratios against the first backend, and output differences between backends.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "commands.h"
#include "common.h"
#include "engine.h"
#include "error.h"
#include "onnx_io.h"
#include "ort_peer.h"

namespace ec {
namespace {

struct BenchOptions {
  std::string model;
  std::string backends = "native";
  int threads = 1;
  int runs = 50;
  int warmup = 5;
  int peer_warmup = 30;  // a fresh ONNX Runtime session in node is 10-50 % slower for its first 15-30 runs
  int blocks = 0;  // 0: 5 (at most --runs) when there is a peer or several backends, else 1
  uint32_t seed = 1;
  std::vector<std::string> shapes;
  std::string input_file;
  std::string ort_peer, ort_model;
  bool json = false;
  bool compare = false;
  bool profile = false;
  bool memory = false, memory_child = false;
  std::string precision = "auto";
  std::string kernels = "measure";
};

struct Result {
  std::string name;
  LatencyStats lat;
  double load_ms = 0, prepare_ms = 0;
  size_t rss_after_bytes = 0, activation_bytes = 0;
  std::string describe;  // the engine's own line (kernels, layout)
  size_t peak_bytes = 0;  // --memory: resident memory added by load + prepare + 3 runs (child process)
  std::vector<std::string> out_names;
  std::vector<Tensor> outputs;  // copies for comparison
  std::vector<NodeProfile> profile;
  KernelTuning tuning;  // native: how the layers with a choice of kernels got theirs
  std::vector<double> block_medians;  // the median of each block of timed runs, ms (blocks alternate between backends)
  int threads = 0;                    // the threads this backend ran with (NAME@N, else --threads); 0 for the peer
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> r;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, sep))
    if (!t.empty()) r.push_back(t);
  return r;
}

// A --backend entry: an engine name, optionally with its own thread count ("native@2"), so one run can alternate
// 1 and 2 threads of the same engine and give their ratio from the same phases of the machine's load.
struct BackendSpec {
  std::string engine;
  int threads;
};

BackendSpec parse_backend(const std::string& s, int threads) {
  const size_t at = s.find('@');
  if (at == std::string::npos) return {s, threads};
  const std::string t = s.substr(at + 1);
  if (t.empty() || t.size() > 3 || t.find_first_not_of("0123456789") != std::string::npos || std::stoi(t) < 1)
    throw Error("--backend " + s + ": the thread count after '@' must be a positive integer, not '" + t + "'");
  return {s.substr(0, at), std::stoi(t)};
}

// A backend loaded, prepared, fed the input and warmed up, ready for blocks of timed runs.
struct Prepared {
  Result r;
  std::unique_ptr<Engine> eng;
  std::vector<double> ms;             // every timed run, ms
  std::vector<double> block_medians;  // the median of each block of timed runs, ms
};

Prepared prepare_backend(const std::string& name, const Model& m, const BenchOptions& o,
                         const std::map<std::string, Shape>& shapes, const std::vector<Tensor>& inputs) {
  Prepared p;
  Result& r = p.r;
  r.name = name;
  const BackendSpec spec = parse_backend(name, o.threads);
  r.threads = spec.threads;
  EngineOptions eo;
  eo.threads = spec.threads;
  eo.profile = o.profile;
  if (spec.engine == "native") eo.precision = o.precision;
  eo.kernels = o.kernels;
  double t0 = now_ms();
  p.eng = create_engine(spec.engine, m, eo);
  double t1 = now_ms();
  p.eng->prepare(shapes);
  double t2 = now_ms();
  r.load_ms = t1 - t0;
  r.prepare_ms = t2 - t1;
  r.activation_bytes = p.eng->activation_bytes();
  for (size_t i = 0; i < p.eng->num_inputs(); ++i) {
    Tensor& dst = p.eng->input(i);
    if (dst.size_bytes() != inputs[i].size_bytes())
      throw Error(name + ": input '" + p.eng->input_info(i).name + "' size differs from the prepared input");
    std::memcpy(dst.data(), inputs[i].data(), dst.size_bytes());
  }
  for (int i = 0; i < o.warmup; ++i) p.eng->run();
  return p;
}

// Times `runs` more runs of a prepared backend and records the block's median.
void time_block(Prepared& p, int runs) {
  std::vector<double> block;
  for (int i = 0; i < runs; ++i) {
    double a = now_ms();
    p.eng->run();
    block.push_back(now_ms() - a);
  }
  p.ms.insert(p.ms.end(), block.begin(), block.end());
  p.block_medians.push_back(summarize_ms(block).median_ms);
}

// The statistics over every block, the profile, kernel choices and output copies; releases the engine.
Result finish_backend(Prepared& p) {
  Result r = std::move(p.r);
  r.lat = summarize_ms(p.ms);
  r.block_medians = p.block_medians;
  r.rss_after_bytes = current_rss_bytes();
  r.profile = p.eng->profile();
  r.describe = p.eng->describe();
  r.tuning = p.eng->kernel_tuning();
  for (size_t i = 0; i < p.eng->num_outputs(); ++i) {
    r.out_names.push_back(p.eng->output_info(i).name);
    r.outputs.push_back(p.eng->output(i).clone());
  }
  p.eng.reset();
  return r;
}

// The middle value (the mean of the two middle ones for an even count); 0 for none.
double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Which kernel each layer with a choice runs, the measured times per run, and what choosing cost.
void print_tuning(const Result& r) {
  const KernelTuning& t = r.tuning;
  if (t.how.empty()) return;
  std::map<std::string, int> wins;
  for (const KernelChoice& c : t.layers) ++wins[c.candidates[c.chosen]];
  std::string tally;
  for (const auto& w : wins) tally += (tally.empty() ? "" : ", ") + w.first + " " + std::to_string(w.second);
  if (t.how == "measured")
    std::printf("%s: kernels measured on this CPU for %zu layers in %.1f ms (%zu changed by their time inside the model): %s%s\n", r.name.c_str(),
                t.layers.size(), t.cost_ms, t.moved_in_model, tally.c_str(), t.cache_file.empty() ? "" : (" (cached: " + t.cache_file + ")").c_str());
  else
    std::printf("%s: kernels for %zu layers %s: %s%s\n", r.name.c_str(), t.layers.size(),
                t.how == "cached" ? "from the cache of an earlier measurement" : "by the built-in rule (--kernels default)", tally.c_str(),
                t.how == "cached" ? (" (" + t.cache_file + ")").c_str() : "");
  for (const KernelChoice& c : t.layers) {
    std::printf("  %-28s", c.node.c_str());
    for (size_t k = 0; k < c.candidates.size(); ++k) {
      std::printf(" %s%s", k == c.chosen ? "*" : "", c.candidates[k].c_str());
      if (k < c.ms.size()) std::printf(" %.4f ms", c.ms[k]);
      if (k < c.model_ms.size() && c.model_ms[k] >= 0) std::printf(" (in the model %.4f)", c.model_ms[k]);
    }
    std::printf("\n");
  }
}

// "VmHWM:" (peak resident set, resettable through clear_refs) of /proc/self/status in bytes (0 when unreadable).
size_t status_bytes(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return static_cast<size_t>(std::stoull(line.substr(std::strlen(key)))) * 1024;
  return 0;
}

// In the --memory child: the peak resident memory that creating, preparing and running `backend` adds to a
// process that has the model parsed and the inputs ready (weights as the backend holds them, activations,
// workspaces, transient packing buffers). The kernel's high-water mark is reset first (clear_refs 5). The engine's
// input buffers are not counted: a caller writes its input there instead of into a buffer of its own (ONNX
// Runtime reads the caller's buffer, which its figure does not count either), so their bytes are taken off.
size_t engine_peak_bytes(const std::string& backend, const Model& m, const BenchOptions& o, const std::map<std::string, Shape>& shapes,
                         const std::vector<Tensor>& inputs) {
  { std::ofstream("/proc/self/clear_refs") << "5"; }
  const size_t base = current_rss_bytes();
  const BackendSpec spec = parse_backend(backend, o.threads);
  EngineOptions eo;
  eo.threads = spec.threads;
  if (spec.engine == "native") eo.precision = o.precision;
  eo.kernels = o.kernels;
  auto eng = create_engine(spec.engine, m, eo);
  eng->prepare(shapes);
  for (int k = 0; k < 3; ++k) {
    for (size_t i = 0; i < inputs.size(); ++i) std::memcpy(eng->input(i).data(), inputs[i].data(), inputs[i].size_bytes());
    eng->run();
  }
  const size_t peak = status_bytes("VmHWM:");
  size_t input_bytes = 0;
  for (const Tensor& t : inputs) input_bytes += t.size_bytes();
  return peak > base + input_bytes ? peak - base - input_bytes : 0;
}

// Runs this program again as a --memory child for `backend`, so every backend starts from a fresh heap.
size_t measure_peak_in_child(const std::string& backend, const BenchOptions& o) {
  std::string cmd = "'" + self_exe_path() + "' bench --memory-child --model '" + o.model + "' --backend " + backend +
                    " --threads " + std::to_string(o.threads) + " --seed " + std::to_string(o.seed) + " --precision " + o.precision +
                    " --kernels " + o.kernels;
  for (auto& s : o.shapes) cmd += " --shape '" + s + "'";
  if (!o.input_file.empty()) cmd += " --input '" + o.input_file + "'";
  return nlohmann::json::parse(run_capture(cmd))["peak_bytes"].get<size_t>();
}

// The peak memory ONNX Runtime adds for the model, measured like ours: the peer process's peak resident memory
// (wait4) over loading the model and 3 runs, minus that of the same peer loading a one-node model on the same input
// and running it 3 times: node, ONNX Runtime's libraries and the caller's input buffer cancel out. The one node is
// a ReduceMax to a single value, so the model's own outputs stay counted (a Relu baseline had an input-sized output
// and took that much off ONNX Runtime's figure).
size_t ort_peer_added_bytes(const std::string& peer, const std::string& model, const Tensor& input, int threads) {
  char dir_tmpl[] = "/tmp/ec-ort-base-XXXXXX";
  if (!mkdtemp(dir_tmpl)) throw Error("cannot create a temp folder for the ort peer's baseline");
  const std::string dir = dir_tmpl;
  struct Cleanup {
    std::string d;
    ~Cleanup() {
      std::remove((d + "/reduce.onnx").c_str());
      rmdir(d.c_str());
    }
  } cleanup{dir};
  Model base;
  base.opsets[""] = 13;
  ValueInfo x;
  x.name = "x";
  x.has_shape = true;
  for (int64_t d : input.shape()) x.dims.push_back(Dim{d, ""});
  ValueInfo y;  // a scalar of the input's type
  y.name = "y";
  y.dtype = x.dtype;
  y.has_shape = true;
  base.graph.inputs.push_back(x);
  base.graph.outputs.push_back(y);
  Attribute keep;
  keep.kind = Attribute::Kind::i;
  keep.i = 0;
  base.graph.nodes.push_back(Node{"reduce", "ReduceMax", "", {"x"}, {"y"}, {{"keepdims", keep}}});
  save_onnx(base, dir + "/reduce.onnx");
  const size_t with_model = run_ort_peer(peer, model, input, threads, 3, 0).peak_rss_bytes;
  const size_t baseline = run_ort_peer(peer, dir + "/reduce.onnx", input, threads, 3, 0).peak_rss_bytes;
  return with_model > baseline ? with_model - baseline : 0;
}

// ONNX Runtime through the peer, one peer process per block (`runs` timed runs after --peer-warmup each): min is
// the least over the blocks, median and p95 the median of the blocks' (the peer reports no single runs), mean
// weighted by runs; outputs from the last block.
struct OrtBlocks {
  Result r;
  std::vector<double> p95s;
  double sum_ms = 0;
};

void ort_block(OrtBlocks& b, const BenchOptions& o, const Tensor& input, int runs) {
  OrtPeerResult p = run_ort_peer(o.ort_peer, o.ort_model.empty() ? o.model : o.ort_model, input, o.threads, runs,
                                 std::max(o.warmup, o.peer_warmup));
  Result& r = b.r;
  r.name = o.ort_model.empty() ? "onnxruntime" : "onnxruntime*";
  r.lat.min_ms = r.block_medians.empty() ? p.min_ms : std::min(r.lat.min_ms, p.min_ms);
  r.block_medians.push_back(p.median_ms);
  b.p95s.push_back(p.p95_ms);
  b.sum_ms += p.mean_ms * p.runs;
  r.lat.runs += static_cast<size_t>(p.runs);
  r.out_names = p.names;
  r.outputs = p.outputs;
}

Result finish_ort(OrtBlocks& b, const BenchOptions& o, const Tensor& input) {
  Result r = std::move(b.r);
  r.lat.median_ms = median_of(r.block_medians);
  r.lat.p95_ms = median_of(b.p95s);
  r.lat.mean_ms = r.lat.runs ? b.sum_ms / static_cast<double>(r.lat.runs) : 0;
  if (o.memory) r.peak_bytes = ort_peer_added_bytes(o.ort_peer, o.ort_model.empty() ? o.model : o.ort_model, input, o.threads);
  return r;
}

struct Diff {
  double max_abs = 0, range = 0;
};

Diff compare(const Tensor& a, const Tensor& b) {
  Diff d;
  if (a.numel() != b.numel()) return {INFINITY, 0};
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < a.numel(); ++i) {
    float x = a.ptr<float>()[i], y = b.ptr<float>()[i];
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    d.max_abs = std::max(d.max_abs, static_cast<double>(std::fabs(x - y)));
  }
  d.range = static_cast<double>(hi - lo);
  return d;
}

// Per-op-type totals of the profiled backends (warm-up runs included), slowest first.
void print_profile(const std::vector<Result>& results, nlohmann::json* j) {
  for (const Result& r : results) {
    if (r.profile.empty()) continue;
    std::map<std::string, std::pair<double, int>> by_op;
    double total = 0;
    int64_t runs = 1;
    for (const NodeProfile& p : r.profile) {
      by_op[p.op].first += p.total_ms;
      by_op[p.op].second += 1;
      total += p.total_ms;
      runs = std::max<int64_t>(runs, p.runs);
    }
    std::vector<std::pair<std::string, std::pair<double, int>>> rows(by_op.begin(), by_op.end());
    std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
    if (!j) std::printf("profile %s (per run, %lld runs incl. warm-up):\n", r.name.c_str(), static_cast<long long>(runs));
    for (auto& row : rows) {
      const double per = row.second.first / static_cast<double>(runs);
      if (j) (*j)["profile"][r.name][row.first] = {{"ms_per_run", per}, {"nodes", row.second.second}};
      else std::printf("  %-22s %4d nodes %9.3f ms %5.1f%%\n", row.first.c_str(), row.second.second, per, 100 * row.second.first / total);
    }
    std::vector<NodeProfile> nodes = r.profile;  // the slowest nodes
    std::sort(nodes.begin(), nodes.end(), [](const NodeProfile& a, const NodeProfile& b) { return a.total_ms > b.total_ms; });
    if (!j) std::printf("  slowest nodes:\n");
    for (size_t i = 0; i < nodes.size() && (j || i < 8); ++i) {  // JSON: every node
      const double per = nodes[i].total_ms / static_cast<double>(runs);
      if (j) (*j)["profile_nodes"][r.name].push_back({{"node", nodes[i].name}, {"op", nodes[i].op}, {"ms_per_run", per}});
      else std::printf("    %-14s %9.3f ms  %s\n", nodes[i].op.c_str(), per, nodes[i].name.c_str());
    }
  }
}

// The median over the blocks of r's block median / ref's median in the same block: the ratio of two backends
// measured in the same phase of the machine's load. The plain ratio of medians when blocks do not pair up.
double paired_ratio(const Result& r, const Result& ref) {
  if (r.block_medians.size() != ref.block_medians.size() || r.block_medians.empty())
    return ref.lat.median_ms > 0 ? r.lat.median_ms / ref.lat.median_ms : 0;
  std::vector<double> v;
  for (size_t k = 0; k < r.block_medians.size(); ++k)
    if (ref.block_medians[k] > 0) v.push_back(r.block_medians[k] / ref.block_medians[k]);
  return median_of(v);
}

void run_bench(const BenchOptions& o) {
  if (o.runs < 1) throw Error("--runs " + std::to_string(o.runs) + ": must be at least 1");
  if (o.threads < 1) throw Error("--threads " + std::to_string(o.threads) + ": must be at least 1");
  Model m = load_onnx(o.model);
  auto shapes = parse_shapes(o.shapes, m);
  // Inputs: resolve shapes through a native prepare-free path: the declared dims filled by --shape.
  std::vector<Tensor> inputs;
  for (auto& in : m.graph.inputs) {
    Shape s;
    if (shapes.count(in.name)) s = shapes[in.name];
    else if (in.is_static()) s = in.shape_or(0);
    else throw Error(o.model + ": input '" + in.name + "' has dynamic shape " + in.dims_str() + ": give its shape (--shape)");
    Tensor t(DType::f32, s);
    if (in.dtype != DType::f32) throw Error(o.model + ": input '" + in.name + "' is " + dtype_name(in.dtype) + "; bench feeds float32 only");
    if (!o.input_file.empty() && inputs.empty()) {
      std::string bytes = read_file_bytes(o.input_file);
      if (bytes.size() != t.size_bytes())
        throw Error(o.input_file + ": has " + std::to_string(bytes.size()) + " bytes, input '" + in.name + "' " + shape_str(s) +
                    " needs " + std::to_string(t.size_bytes()));
      std::memcpy(t.data(), bytes.data(), bytes.size());
    } else {
      fill_seeded(t, o.seed + static_cast<uint32_t>(inputs.size()));
    }
    inputs.push_back(t);
    shapes[in.name] = s;
  }
  if (o.memory_child) {
    std::printf("{\"peak_bytes\": %zu}\n", engine_peak_bytes(o.backends, m, o, shapes, inputs));
    return;
  }
  // A backend that cannot load or run the model (OpenCV DNN of some releases on BlazeFace, an operator one
  // backend lacks) is reported as failed with its reason; the others are still measured.
  std::vector<std::pair<std::string, std::string>> failed;
  std::vector<Prepared> prepared;
  for (const std::string& b : split(o.backends, ',')) {
    try {
      prepared.push_back(prepare_backend(b, m, o, shapes, inputs));
    } catch (const Error& e) {
      std::string why = e.what();
      if (why.find('\n') != std::string::npos) why = why.substr(0, why.find('\n'));
      if (split(o.backends, ',').size() == 1) throw Error(why);
      std::fprintf(stderr, "edgecompress: bench: backend %s failed: %s\n", b.c_str(), why.c_str());
      failed.emplace_back(b, why);
    }
  }
  if (prepared.empty()) throw Error("bench: every backend failed (" + failed.front().first + ": " + failed.front().second + ")");
  const bool peer = !o.ort_peer.empty();
  if (peer && inputs.size() != 1) throw Error("--ort-peer: only single-input models can be fed to the peer");
  // The timed runs in blocks that alternate between the backends (and the peer), so a phase of another
  // tenant's load falls on all of them alike; each backend's statistics are over all of its blocks.
  const int blocks = o.blocks > 0 ? o.blocks : std::min(o.runs, peer || prepared.size() > 1 ? 5 : 1);
  if (blocks > o.runs) throw Error("--blocks " + std::to_string(blocks) + ": more blocks than --runs " + std::to_string(o.runs));
  OrtBlocks ort;
  for (int k = 0; k < blocks; ++k) {
    const int n = o.runs / blocks + (k < o.runs % blocks ? 1 : 0);
    for (Prepared& p : prepared) time_block(p, n);
    if (peer) ort_block(ort, o, inputs[0], n);
  }
  std::vector<Result> results;
  for (Prepared& p : prepared) {
    results.push_back(finish_backend(p));
    if (o.memory) results.back().peak_bytes = measure_peak_in_child(results.back().name, o);
  }
  if (peer) results.push_back(finish_ort(ort, o, inputs[0]));
  const double peak_rss = static_cast<double>(peak_rss_bytes());
  size_t weight_bytes = 0;
  for (auto& kv : m.graph.initializers) weight_bytes += kv.second.size_bytes();
  const Result& ref = results.front();

  nlohmann::json j;
  if (!o.json) {
    std::printf("model %s  input", o.model.c_str());
    for (auto& in : inputs) std::printf(" %s", shape_str(in.shape()).c_str());
    std::printf("  threads %d  warmup %d  runs %d  seed %u  cpus %u\n", o.threads, o.warmup, o.runs, o.seed,
                std::thread::hardware_concurrency());
    std::printf("%-12s %9s %9s %9s %9s %10s %8s %9s %10s\n", "backend", "min ms", "median", "p95", "mean", "inf/s",
                "ratio", "load ms", "act MiB");
  }
  for (const Result& r : results) {
    const double ratio = r.lat.median_ms / ref.lat.median_ms;
    const double thr = r.lat.median_ms > 0 ? 1000.0 / r.lat.median_ms : 0;
    if (o.json) {
      j["results"].push_back({{"backend", r.name},
                              {"latency_ms", {{"min", r.lat.min_ms}, {"median", r.lat.median_ms}, {"p95", r.lat.p95_ms}, {"mean", r.lat.mean_ms}}},
                              {"runs", r.lat.runs},
                              {"throughput_per_s", thr},
                              {"median_ratio_vs_" + ref.name, ratio},
                              {"paired_ratio_vs_" + ref.name, paired_ratio(r, ref)},
                              {"block_medians_ms", r.block_medians},
                              {"threads", r.threads ? r.threads : o.threads},
                              {"load_ms", r.load_ms},
                              {"prepare_ms", r.prepare_ms},
                              {"activation_bytes", r.activation_bytes},
                              {"describe", r.describe}});
      if (!r.tuning.how.empty()) {
        nlohmann::json t = {{"how", r.tuning.how}, {"cost_ms", r.tuning.cost_ms}, {"cache_file", r.tuning.cache_file}, {"moved_in_model", r.tuning.moved_in_model}};
        for (const KernelChoice& c : r.tuning.layers)
          t["layers"].push_back({{"node", c.node}, {"candidates", c.candidates}, {"ms", c.ms}, {"model_ms", c.model_ms}, {"chosen", c.candidates[c.chosen]}});
        j["results"].back()["kernels"] = t;
      }
      if (o.memory) j["results"].back()["peak_memory_bytes"] = r.peak_bytes;
    } else {
      std::printf("%-12s %9.3f %9.3f %9.3f %9.3f %10.1f %7.2fx ", r.name.c_str(), r.lat.min_ms, r.lat.median_ms, r.lat.p95_ms,
                  r.lat.mean_ms, thr, ratio);
      if (r.name.rfind("onnxruntime", 0) == 0) std::printf("%9s %10s\n", "(peer)", "-");
      else if (r.activation_bytes == 0) std::printf("%9.1f %10s\n", r.load_ms, "-");
      else std::printf("%9.1f %10.2f\n", r.load_ms, static_cast<double>(r.activation_bytes) / 1048576.0);
    }
  }
  if (!o.json)
    for (const Result& r : results) {
      if (!r.describe.empty()) std::printf("%s: %s\n", r.name.c_str(), r.describe.c_str());
      print_tuning(r);
    }
  if (o.memory && !o.json) {
    std::printf("peak memory added by load + prepare + 3 runs (weights as held, activations, workspaces; fresh process each;\n"
                "onnxruntime: the peer's peak RSS minus the same peer's on a one-node ReduceMax model; input buffers not counted):\n");
    for (const Result& r : results) std::printf("  %-12s %8.2f MiB\n", r.name.c_str(), static_cast<double>(r.peak_bytes) / 1048576.0);
  }
  if (!o.json)
    std::printf("ratio = median / median of %s; weights %zu bytes; peak RSS of this process %.1f MiB\n", ref.name.c_str(),
                weight_bytes, peak_rss / 1048576.0);
  if (!o.json && results.size() > 1 && ref.block_medians.size() > 1) {
    std::printf("%zu alternating blocks; paired ratio (the median over the blocks of the two medians in the same block):",
                ref.block_medians.size());
    for (size_t k = 1; k < results.size(); ++k)
      std::printf(" %s / %s %.2fx", ref.name.c_str(), results[k].name.c_str(), 1.0 / paired_ratio(results[k], ref));
    std::printf("\n");
  }
  if (!o.json && !o.ort_model.empty()) std::printf("onnxruntime* ran %s (the same input)\n", o.ort_model.c_str());
  for (const auto& f : failed) {
    if (o.json) j["failed"].push_back({{"backend", f.first}, {"error", f.second}});
    else std::printf("%-12s failed: %s\n", f.first.c_str(), f.second.c_str());
  }
  j["model"] = o.model;
  j["threads"] = o.threads;
  j["warmup"] = o.warmup;
  j["seed"] = o.seed;
  j["weight_bytes"] = weight_bytes;
  j["peak_rss_bytes"] = peak_rss;
  if (o.compare && results.size() > 1) {
    for (size_t k = 1; k < results.size(); ++k) {
      const Result& r = results[k];
      for (size_t i = 0; i < ref.outputs.size() && i < r.outputs.size(); ++i) {
        Diff d = compare(ref.outputs[i], r.outputs[i]);
        double rel = d.range > 0 ? d.max_abs / d.range : d.max_abs;
        if (o.json) {
          j["compare"].push_back({{"reference", ref.name}, {"backend", r.name}, {"output", ref.out_names[i]},
                                  {"max_abs_diff", d.max_abs}, {"output_range", d.range}, {"max_diff_over_range", rel}});
        } else {
          std::printf("compare %-8s vs %-12s output %-20s max |diff| %.3g  range %.3g  max |diff|/range %.3g\n", ref.name.c_str(),
                      r.name.c_str(), ref.out_names[i].c_str(), d.max_abs, d.range, rel);
        }
      }
    }
  }
  if (o.profile) print_profile(results, o.json ? &j : nullptr);
  if (o.json) std::printf("%s\n", j.dump(2).c_str());
}

}  // namespace

void add_bench_command(ec::cli::App& app) {
  auto o = std::make_shared<BenchOptions>();
  ec::cli::App* c = app.add_subcommand("bench", "Measure inference latency per backend with the same seeded input");
  c->add_option("--model,-m", o->model, "ONNX model file")->required();
  c->add_option("--backend,-b", o->backends,
                "Backends, comma-separated (native, opencv; NAME@N runs it on N threads, e.g. native@1,native@2); the first is the "
                "ratio reference")
      ->capture_default_str();
  c->add_option("--threads,-t", o->threads, "Threads per backend")->capture_default_str();
  c->add_option("--precision", o->precision,
                 "native: auto (float16 arithmetic for float16-weight models where the CPU has it), fp32 or fp16")
      ->capture_default_str();
  c->add_option("--kernels", o->kernels,
                 "native: measure (time each candidate kernel on the real shapes once, keep the fastest, cache the choice) or default (the built-in rule)")
      ->capture_default_str();
  c->add_option("--runs,-r", o->runs, "Timed runs")->capture_default_str();
  c->add_option("--warmup,-w", o->warmup, "Untimed warm-up runs")->capture_default_str();
  c->add_option("--blocks", o->blocks,
                "Split the timed runs into this many blocks alternating between the backends and the peer (default 5, at most --runs, when "
                "there is more than one, else 1; the peer warms up again in each block)");
  c->add_option("--seed", o->seed, "Seed of the uniform [-1,1) input (same generator as ort-peer)")->capture_default_str();
  c->add_option("--shape", o->shapes, "Input shape: d,d,d,d for the first input or NAME=d,d,d,d");
  c->add_option("--input", o->input_file, "Raw little-endian float32 file for the first input instead of the seeded one");
  c->add_option("--ort-peer", o->ort_peer, "Path of ../shared/peers/ort-peer: adds ONNX Runtime to the same run");
  c->add_option("--peer-warmup", o->peer_warmup,
                "Untimed runs of each peer process before its block (at least --warmup; a fresh ONNX Runtime session is slower "
                "for its first 15-30 runs)")
      ->capture_default_str();
  c->add_option("--ort-model", o->ort_model,
                "Run ONNX Runtime on this model instead (e.g. the fp32 original of an int8 --model), shown as onnxruntime*");
  c->add_flag("--json", o->json, "Print JSON");
  c->add_flag("--profile", o->profile, "Time every node (native) and print totals per op type");
  c->add_flag("--memory", o->memory, "Also measure each backend's peak memory (weights + activations) in a fresh child process");
  c->add_flag("--memory-child", o->memory_child, "Internal: measure one backend's peak memory and print it as JSON")->group("");
  c->add_flag("--compare-outputs", o->compare, "Print max absolute and relative output differences against the first backend");
  c->callback([o] { run_bench(*o); });
}

}  // namespace ec
