// The native backend: our own runtime over the IR. Load runs graph passes and creates one Op per node;
// prepare folds constants (shape subgraphs included), infers shapes, and plans one activation arena with
// buffer reuse by liveness; run walks the planned steps without allocating.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <elf.h>
#include <filesystem>
#include <fstream>
#include <link.h>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "engine.h"
#include "atomic_file.h"
#include "denormals.h"
#include "error.h"
#include "large_alloc.h"
#include "onnx_io.h"
#include "op.h"
#include "fp16.h"
#include "layout.h"
#include "passes.h"
#include "xnn.h"

namespace ec {
namespace {

constexpr size_t kAlign = 64;

std::mutex g_hook_mu;
KernelTimingHook g_hook;

// What identifies this CPU for cached kernel choices: the first processor's identity lines and feature flags
// from /proc/cpuinfo (x86: vendor, family, model, stepping, name, flags; ARM: implementer, part, variant,
// revision, features), so another CPU model, or the same under a different hypervisor mask, measures afresh.
std::string cpu_identity() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, id;
  static const char* keys[] = {"vendor_id", "cpu family", "model", "model name", "stepping", "flags", "CPU implementer",
                               "CPU architecture", "CPU variant", "CPU part", "CPU revision", "Features"};
  while (std::getline(f, line)) {
    if (line.empty()) {
      if (!id.empty()) break;  // the first processor only
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    for (const char* k : keys)
      if (key == k) id += line + "\n";
  }
  return id;
}

// The running program's GNU build ID (hex; "" if it was linked without one), so choices measured with other
// kernels (another build of the program) are measured afresh rather than read back.
std::string program_build_id() {
  std::string id;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          const auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
          const unsigned char* end = p + ph.p_memsz;
          while (p + sizeof(ElfW(Nhdr)) <= end) {
            const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
            const unsigned char* name = p + sizeof(ElfW(Nhdr));
            const unsigned char* desc = name + ((n->n_namesz + 3) & ~3u);
            if (desc + n->n_descsz > end) break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
              auto& s = *static_cast<std::string*>(out);
              for (unsigned k = 0; k < n->n_descsz; ++k) {
                char b[3];
                std::snprintf(b, sizeof b, "%02x", desc[k]);
                s += b;
              }
              return 1;
            }
            p = desc + ((n->n_descsz + 3) & ~3u);
          }
        }
        return 1;  // the first object is the program itself: stop there
      },
      &id);
  return id;
}

// 64-bit FNV-1a of `s`, as 16 hex digits.
std::string fnv_hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string kernel_cache_dir(const std::string& opt) {
  if (opt == "-") return "";
  if (!opt.empty()) return opt;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/edgecompress/kernels";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::string(home) + "/.cache/edgecompress/kernels";
  return "";
}

struct Slot {
  Tensor t;
  bool is_const = false;
  int64_t def = -1, last_use = -1;  // step indices; inputs def = -1
  bool pinned = false;               // graph inputs/outputs live for the whole run
  size_t offset = 0, bytes = 0;
};

struct Step {
  size_t node = 0;
  std::vector<const Tensor*> in;
  std::vector<Tensor*> out;
};

class NativeEngine : public Engine {
 public:
  NativeEngine(const Model& model, const EngineOptions& opts) : opts_(opts), where_(model.path.empty() ? "model" : model.path) {
    graph_ = model.graph;
    opset_ = model.opset();
    if (opts.precision != "auto" && opts.precision != "fp32" && opts.precision != "fp16")
      throw Error(where_ + ": precision '" + opts.precision + "' is not known (auto, fp32, fp16)");
    const bool stores16 = stores_fp16_weights(graph_);
    bool want16 = opts.precision == "fp16" || (opts.precision == "auto" && stores16);
    // auto takes float16 only where the CPU computes in it; an explicit fp16 also runs XNNPACK's float16
    // kernels that compute in float32 and round to float16 (x86 with F16C: float16 storage and traffic)
    std::string why;
    if (!opts.optimize || !opts.xnnpack) why = "it needs the optimized XNNPACK path";
    else if (!xnnpack_fp16_available()) why = xnnpack_fp16_status();
    else if (opts.precision == "auto" && !cpu_has_fp16_arith()) why = cpu_fp16_features() + "; --precision fp16 runs XNNPACK's float16 kernels anyway";
    if (want16 && !why.empty()) {
      if (opts.precision == "fp16") throw Error(where_ + ": precision fp16: " + why);
      precision_note_ = "float32 arithmetic on float16 weights (" + why + ")";
      want16 = false;
    }
    if (opts.optimize) optimize_for_native(graph_);
    if (opts.optimize && opts.xnnpack && xnnpack_available()) {
      layout_ = convert_to_nhwc(graph_, !want16);
      if (want16 && layout_.nhwc_nodes > 0) fp16_ = convert_to_fp16(graph_);
      if (layout_.nhwc_nodes > 0) pool_ = XnnThreadPool(opts.threads);
    }
    if (want16 && fp16_.nodes == 0) {
      if (opts.precision == "fp16") throw Error(where_ + ": precision fp16: no operator of this graph has a float16 kernel");
      precision_note_ = "float32 arithmetic (no operator of this graph has a float16 kernel)";
    }
    if (fp16_.nodes > 0)
      precision_note_ = "float16 arithmetic on " + std::to_string(fp16_.nodes) + " nodes (" + std::to_string(fp16_.casts) + " casts)";
    inputs_ = graph_.inputs;
    outputs_ = graph_.outputs;
    for (const Node& n : graph_.nodes) {
      ops_.push_back(create_op(n, opset_, where_));
      ops_.back()->set_threads(opts.threads);
      ops_.back()->set_threadpool(pool_.get());
    }
  }

  std::string backend() const override { return "native"; }
  std::string describe() const override {
    const std::string p = precision_note_.empty() ? "" : "; " + precision_note_;
    if (!opts_.xnnpack) return "reference NCHW kernels (XNNPACK off)" + p;
    if (!xnnpack_available()) return "reference NCHW kernels (" + xnnpack_status() + ")" + p;
    if (layout_.nhwc_nodes == 0) return "reference NCHW kernels (nothing for XNNPACK in this graph)" + p;
    int int8 = 0;
    for (const Node& n : graph_.nodes) int8 += n.domain == kEcDomain && (n.op_type == "QConv" || n.op_type == "QAdd");
    return "XNNPACK NHWC: " + to_string(layout_) + (int8 ? ", " + std::to_string(int8) + " int8 Conv/Add" : "") + p;
  }

  void prepare(const std::map<std::string, Shape>& shapes) override {
    std::vector<Shape> in_shapes = resolve_input_shapes(shapes, where_);
    slots_.clear();
    step_outs_.clear();
    step_ins_.clear();
    steps_.clear();
    ids_.clear();
    size_t total = graph_.initializers.size() + inputs_.size();
    for (const Node& n : graph_.nodes) total += n.outputs.size();
    slots_.reserve(total);  // pointers into slots_ stay valid while planning
    auto id_of = [&](const std::string& name) -> size_t {
      auto it = ids_.find(name);
      if (it != ids_.end()) return it->second;
      ids_[name] = slots_.size();
      slots_.emplace_back();
      return slots_.size() - 1;
    };
    for (auto& kv : graph_.initializers) {
      Slot& s = slots_[id_of(kv.first)];
      s.t = kv.second;
      s.is_const = true;
    }
    for (size_t i = 0; i < inputs_.size(); ++i) {
      Slot& s = slots_[id_of(inputs_[i].name)];
      s.t = Tensor::view(inputs_[i].dtype, in_shapes[i], nullptr);
      s.pinned = true;
    }
    // Pass 1: shapes, constant folding, steps.
    size_t ws = 0;
    for (size_t ni = 0; ni < graph_.nodes.size(); ++ni) {
      const Node& n = graph_.nodes[ni];
      Op& op = *ops_[ni];
      OpInputs oi;
      std::vector<size_t> in_ids;
      bool all_const = true;
      for (const std::string& name : n.inputs) {
        if (name.empty()) {
          oi.t.push_back(nullptr);
          oi.is_const.push_back(true);
          in_ids.push_back(SIZE_MAX);
          continue;
        }
        auto it = ids_.find(name);
        if (it == ids_.end()) throw Error(where_ + ": " + n.label() + ": input '" + name + "' is not defined");
        Slot& s = slots_[it->second];
        oi.t.push_back(&s.t);
        oi.is_const.push_back(s.is_const);
        all_const = all_const && s.is_const;
        in_ids.push_back(it->second);
      }
      {  // light operators on small tensors run on the calling thread (light_on_caller)
        size_t bytes = 0;
        for (size_t k = 0; k < oi.t.size(); ++k)
          if (oi.t[k] && !oi.is_const[k]) bytes += static_cast<size_t>(oi.t[k]->numel()) * dtype_size(oi.t[k]->dtype());
        const bool caller = opts_.threads > 1 && light_on_caller(n.op_type, bytes);
        op.set_threads(caller ? 1 : opts_.threads);
        op.set_threadpool(caller ? nullptr : pool_.get());
      }
      std::vector<TensorSpec> specs(n.outputs.size());
      try {
        op.reshape(oi, specs);
      } catch (const Error& e) {
        throw Error(where_ + ": " + e.what());
      }
      // what the file's shapes make this node produce, checked before the arena or a folded constant is sized
      for (size_t k = 0; k < specs.size() && k < n.outputs.size(); ++k)
        if (!n.outputs[k].empty())
          checked_tensor_bytes(specs[k].dtype, specs[k].shape, where_ + ": " + n.label() + ": output '" + n.outputs[k] + "'");
      checked_tensor_bytes(DType::u8, {static_cast<int64_t>(std::min<size_t>(op.workspace_bytes(), INT64_MAX))},
                           where_ + ": " + n.label() + ": workspace");
      const bool fold = all_const || op.shape_only();
      Step step;
      step.node = ni;
      for (size_t k = 0; k < n.inputs.size(); ++k) step.in.push_back(oi.t[k]);
      std::vector<size_t> out_ids;
      for (size_t k = 0; k < n.outputs.size(); ++k) {
        if (n.outputs[k].empty()) {
          out_ids.push_back(SIZE_MAX);
          continue;
        }
        size_t id = id_of(n.outputs[k]);
        out_ids.push_back(id);
        Slot& s = slots_[id];
        if (fold) {
          s.t = Tensor(specs[k].dtype, specs[k].shape);
          s.is_const = true;
        } else {
          s.t = Tensor::view(specs[k].dtype, specs[k].shape, nullptr);
          s.def = static_cast<int64_t>(steps_.size());
          s.last_use = s.def;
        }
      }
      if (fold) {
        std::vector<Tensor*> outs;
        for (size_t id : out_ids) outs.push_back(id == SIZE_MAX ? nullptr : &slots_[id].t);
        std::vector<uint8_t> scratch(op.workspace_bytes());
        try {
          op.run(step.in, outs, scratch.data());
        } catch (const Error& e) {
          throw Error(where_ + ": " + e.what());
        }
        continue;
      }
      for (size_t id : in_ids)
        if (id != SIZE_MAX && !slots_[id].is_const) slots_[id].last_use = static_cast<int64_t>(steps_.size());
      ws = std::max(ws, op.workspace_bytes());
      step_outs_.push_back(out_ids);
      step_ins_.push_back(in_ids);
      steps_.push_back(step);
    }
    for (auto& o : outputs_) {
      auto it = ids_.find(o.name);
      if (it == ids_.end()) throw Error(where_ + ": graph output '" + o.name + "' is never computed");
      slots_[it->second].pinned = true;
    }
    // Pass 2: arena offsets. An element-wise op that may write over an input dying at it (same size) shares that
    // input's block: such chains form one group with the union of their live intervals. Groups are then placed
    // largest first, each at the lowest offset free of every placed group whose interval overlaps its own
    // ("greedy by size", as TFLite's arena planner; first fit in definition order leaves holes where a small block
    // defined early sits below a large one: ResNet-18 4.98 -> 4.40 MiB, YOLO 5.31 -> 4.77), or in definition order
    // when that packs tighter.
    std::vector<size_t> order;
    for (size_t i = 0; i < slots_.size(); ++i)
      if (!slots_[i].is_const) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return slots_[a].def < slots_[b].def; });
    const int64_t forever = static_cast<int64_t>(steps_.size()) + 1;
    struct Group { size_t bytes = 0, off = 0; int64_t begin = 0, end = 0; };
    std::vector<Group> groups;
    std::vector<size_t> group_of(slots_.size(), SIZE_MAX);
    size_t inplace = 0;
    for (size_t id : order) {
      Slot& s = slots_[id];
      s.bytes = (std::max<size_t>(s.t.size_bytes(), 1) + kAlign - 1) / kAlign * kAlign;
      const int64_t end = s.pinned ? forever : s.last_use;
      if (s.def >= 0 && !step_outs_[static_cast<size_t>(s.def)].empty() && step_outs_[static_cast<size_t>(s.def)][0] == id) {
        const int k = ops_[steps_[static_cast<size_t>(s.def)].node]->inplace_input();
        const auto& ins = step_ins_[static_cast<size_t>(s.def)];
        if (k >= 0 && static_cast<size_t>(k) < ins.size() && ins[static_cast<size_t>(k)] != SIZE_MAX) {
          const size_t iid = ins[static_cast<size_t>(k)];
          const Slot& in = slots_[iid];
          if (!in.is_const && !in.pinned && in.last_use == s.def && in.bytes == s.bytes && group_of[iid] != SIZE_MAX &&
              groups[group_of[iid]].end == s.def) {
            group_of[id] = group_of[iid];
            groups[group_of[id]].end = end;
            ++inplace;
            continue;
          }
        }
      }
      group_of[id] = groups.size();
      groups.push_back({s.bytes, 0, s.def, end});
    }
    // place groups in `seq` order at the lowest offset free of every placed group alive at the same time;
    // returns the arena size and leaves the offsets in groups
    auto place = [&groups](const std::vector<size_t>& seq) {
      size_t arena = 0;
      std::vector<size_t> placed;  // indices into groups, kept sorted by offset
      for (size_t g : seq) {
        Group& gr = groups[g];
        size_t off = 0;
        for (size_t p : placed) {
          const Group& o = groups[p];
          if (o.end < gr.begin || gr.end < o.begin) continue;  // not alive at the same time
          if (off + gr.bytes <= o.off) break;
          off = std::max(off, o.off + o.bytes);
        }
        gr.off = off;
        placed.insert(std::upper_bound(placed.begin(), placed.end(), g, [&](size_t a, size_t b) { return groups[a].off < groups[b].off; }), g);
        arena = std::max(arena, off + gr.bytes);
      }
      return arena;
    };
    // both orders (neither always wins: MobileNetV3's arena is smaller in definition order), the smaller kept
    std::vector<size_t> by_def(groups.size());
    for (size_t g = 0; g < groups.size(); ++g) by_def[g] = g;
    std::vector<size_t> by_size = by_def;
    std::stable_sort(by_size.begin(), by_size.end(), [&](size_t a, size_t b) { return groups[a].bytes > groups[b].bytes; });
    const size_t arena_def = place(by_def);
    const size_t arena_size = place(by_size);
    const size_t arena = std::min(arena_def, arena_size);
    if (arena_def < arena_size) place(by_def);
    for (size_t id : order) slots_[id].offset = groups[group_of[id]].off;
    arena_.assign(arena + kAlign, 0);
    uint8_t* base = arena_.data();
    base += (kAlign - reinterpret_cast<uintptr_t>(base) % kAlign) % kAlign;
    for (size_t id : order) {
      Slot& s = slots_[id];
      s.t = Tensor::view(s.t.dtype(), s.t.shape(), base + s.offset);
    }
    for (size_t si = 0; si < steps_.size(); ++si) {
      Step& st = steps_[si];
      const Node& n = graph_.nodes[st.node];
      st.in.clear();
      for (const std::string& name : n.inputs) st.in.push_back(name.empty() ? nullptr : &slots_[ids_.at(name)].t);
      st.out.clear();
      for (size_t id : step_outs_[si]) st.out.push_back(id == SIZE_MAX ? nullptr : &slots_[id].t);
    }
    workspace_.assign(ws + kAlign, 0);
    activation_bytes_ = arena;
    input_ptrs_.clear();
    for (auto& in : inputs_) input_ptrs_.push_back(&slots_[ids_.at(in.name)].t);
    output_ptrs_.clear();
    for (auto& o : outputs_) output_ptrs_.push_back(&slots_[ids_.at(o.name)].t);
    step_outs_.clear();
    step_ins_.clear();
    inplace_steps_ = inplace;
    tune_kernels();
    prof_.clear();
    for (Step& st : steps_) prof_.push_back({graph_.nodes[st.node].name, graph_.nodes[st.node].op_type, 0.0, 0});
    prepared_ = true;
  }

  // True for an element-wise or data-movement operator whose activation inputs are small: it runs on the calling
  // thread. Split over the pool, such an operator spends more on handing out its few small tiles and waking the
  // worker than it saves, and reads half of its data from the other core's cache: MobileNetV3's squeeze-excitation
  // Mul, Quantize/DequantizeLinear and pooling took 0.09 ms per run at 1 thread, 0.42 at 2 (an earlier engine).
  // Small: under 1 MiB for the element-wise arithmetic, pooling, Pad and Slice (from 64 KiB, MobileNetV3 at 2
  // threads ran 7 % slower in float32 and 8 % in int8, stop 45); under 64 KiB for the operators whose split follows
  // the layer before (Concat and Split by contiguous row ranges, ops_shape.cpp copy_parts; Resize by output rows;
  // Transpose by tiles; Sigmoid and the int8 Quantize, Dequantize, QAdd and QLut by ranges of elements), where
  // running alone meant reading what the other core wrote: from 64 KiB instead of 1 MiB, at 2 threads, YOLOv8's
  // head Sigmoid, Resize and Transposes took 0.020, 0.033 and 0.018 ms instead of 0.050, 0.057 and 0.035; the YOLO
  // shape, YOLOv8 and the segmentation head in float32 ran 0.986-0.994 of before, int8 YOLO and YOLOv8 0.93
  // (Xeon Emerald Rapids, paired rounds of one binary).
  static bool light_on_caller(const std::string& op, size_t input_bytes) {
    static const std::set<std::string> light = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Relu", "Clip", "HardSigmoid", "HardSwish",
                                                "GlobalAveragePool", "Pad", "Slice"};
    static const std::set<std::string> follows = {"Concat", "Split", "Resize", "Transpose", "Sigmoid",
                                                  "QuantizeLinear", "DequantizeLinear", "QAdd", "QLut"};
    if (follows.count(op)) return input_bytes < (size_t{1} << 16);
    return input_bytes < (size_t{1} << 20) && light.count(op) > 0;
  }

  // Whether candidate `name`, measured at `ms`, displaces the one measured at `than` (a candidate before it): 10 %
  // faster for the Winograd forms, which hold 1.8x (F(2,3)) to 4x (F(4,3)) the weights, 3 % for the others,
  // which hold the same weights packed another way (3 %: above the spread of the best-of-3 timings here). With
  // 10 % everywhere, the YOLO shape kept XNNPACK on 12 layers where the blocked GEMM was 3-9 % faster alone and
  // in the model (0.161 against 0.177 ms, Conv_t252; Xeon Emerald Rapids).
  static bool displaces(const std::string& name, double ms, double than) {
    return ms < (name.find("winograd") != std::string::npos ? 0.9 : 0.97) * than;
  }

  // For each step whose op has more than one kernel on this CPU: the cached choice for this CPU, thread count and
  // problem (the layers, their candidates and shapes), or each candidate timed on the planned buffers (zeros at
  // this point; the kernels' speed does not depend on the values, subnormals being flushed), the fastest kept (a
  // later candidate only when 10 % faster than an earlier one), then the close candidates timed again inside runs
  // of the whole model (refine_in_model), and the others' packed weights freed. Runs after planning, before any
  // input is written.
  void tune_kernels() {
    tuning_ = KernelTuning{};
    std::vector<size_t> tunable;
    for (size_t si = 0; si < steps_.size(); ++si)
      if (ops_[steps_[si].node]->kernel_candidates().size() > 1) tunable.push_back(si);
    if (tunable.empty()) return;
    std::string problem = "threads " + std::to_string(opts_.threads) + "\n";
    for (size_t si : tunable) {
      Op& op = *ops_[steps_[si].node];
      KernelChoice c;
      c.node = graph_.nodes[steps_[si].node].name;
      c.candidates = op.kernel_candidates();
      problem += c.node;
      for (const auto& k : c.candidates) problem += " " + k;
      for (const Tensor* t : steps_[si].in) problem += " " + (t ? shape_str(t->shape()) : std::string("-"));
      problem += "\n";
      tuning_.layers.push_back(c);
    }
    auto apply = [&] {
      for (size_t i = 0; i < tunable.size(); ++i) {
        Op& op = *ops_[steps_[tunable[i]].node];
        op.choose_kernel(tuning_.layers[i].chosen);
        op.drop_other_kernels();
      }
    };
    if (opts_.kernels == "default") {
      tuning_.how = "default";
      apply();
      return;
    }
    if (opts_.kernels != "measure") throw Error(where_ + ": kernels '" + opts_.kernels + "' is not known (measure, default)");
    KernelTimingHook hook;
    {
      std::lock_guard<std::mutex> l(g_hook_mu);
      hook = g_hook;
    }
    const std::string dir = kernel_cache_dir(opts_.kernel_cache);
    if (!dir.empty() && !hook) {
      static const std::string build = program_build_id();
      tuning_.cache_file = dir + "/" + fnv_hex(cpu_identity() + build + "\n" + problem) + ".txt";
      // the file: the problem text, "--", then one chosen candidate name per layer
      std::ifstream f(tuning_.cache_file);
      std::stringstream ss;
      ss << f.rdbuf();
      const std::string text = ss.str();
      const size_t sep = text.find("--\n");
      if (f && sep != std::string::npos && text.compare(0, sep, problem) == 0) {
        std::istringstream names(text.substr(sep + 3));
        std::string name;
        size_t i = 0;
        bool ok = true;
        for (; i < tuning_.layers.size() && std::getline(names, name); ++i) {
          auto& c = tuning_.layers[i];
          auto it = std::find(c.candidates.begin(), c.candidates.end(), name);
          if (it == c.candidates.end()) { ok = false; break; }
          c.chosen = static_cast<size_t>(it - c.candidates.begin());
        }
        if (ok && i == tuning_.layers.size()) {
          tuning_.how = "cached";
          apply();
          return;
        }
        for (auto& c : tuning_.layers) c.chosen = 0;
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    const DenormalsAsZero flush;
    void* ws = workspace_.data();
    // In a run of the model the other layers' weights pass through the caches between two runs of a layer, so a
    // layer timed alone with its weights hot favours the kernels that reread them (XNNPACK's GEMM streams all of an
    // operator's weights once per tile of output pixels; Winograd streams 1.8-4x the weights): before each timed
    // run, the model's weights as stored are read once (one load per 64-byte line), which leaves the caches
    // as the layers before it would. ResNet-18's 512-channel layers at 2 threads: 0.66 ms alone with hot weights,
    // 1.13 ms in the model; sliced to stay in L2, 0.65 alone and 0.7x of that in the model.
    auto evict = [this] {
      unsigned sum = 0;
      for (const auto& kv : graph_.initializers) {
        const auto* p = static_cast<const unsigned char*>(kv.second.data());
        for (size_t i = 0, n = kv.second.size_bytes(); i < n; i += 64) sum += p[i];
      }
      evict_sink_ = sum;
    };
    for (size_t i = 0; i < tunable.size(); ++i) {
      Step& st = steps_[tunable[i]];
      Op& op = *ops_[st.node];
      KernelChoice& c = tuning_.layers[i];
      // candidate k switched in and timed: the fastest of 3 runs, or of as many as fit in ~1 ms (at most 20) when
      // runs are shorter than that, after an untimed one (setup, caches)
      auto time_candidate = [&](size_t k) {
        op.choose_kernel(k);
        op.run(st.in, st.out, ws);
        double best = 1e300;
        double spent = 0;
        for (int r = 0; r < 20 && (r < 3 || spent < 1.0); ++r) {
          evict();
          const auto a = std::chrono::steady_clock::now();
          op.run(st.in, st.out, ws);
          const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count();
          best = std::min(best, ms);
          spent += ms;
        }
        return hook ? hook(c.node, c.candidates[k], best, false) : best;
      };
      for (size_t k = 0; k < c.candidates.size(); ++k) c.ms.push_back(time_candidate(k));
      // a candidate displaces an earlier one only when faster by a margin (displaces): one layer timed alone is noisy
      auto decide = [&c] {
        c.chosen = 0;
        for (size_t k = 1; k < c.ms.size(); ++k)
          if (displaces(c.candidates[k], c.ms[k], c.ms[c.chosen])) c.chosen = k;
      };
      decide();
      // a later candidate that displaced the first is confirmed: both timed again, each keeping its faster time.
      // The candidates are timed one after the other, and a burst of another tenant's load over the first one's
      // runs (all of them: the best of 3 or more is kept) gave a 2-thread stem on im2col patches at 0.11 ms the win
      // over the kernel reading its rows in place at 0.04 (MobileNetV3 int8, Xeon Emerald Rapids).
      if (c.chosen != 0) {
        for (size_t k : {size_t{0}, c.chosen}) c.ms[k] = std::min(c.ms[k], time_candidate(k));
        decide();
      }
      // settle this layer now: only its winner's packed weights stay while the next layers are measured (a
      // convolution's candidates are built one at a time; the others' packings, small, go after the grouping below)
      op.choose_kernel(c.chosen);
    }
    // Layers of the same problem (operator, activation, candidates, input and output shapes: ResNet-18's three
    // 512-channel 3x3 layers) get the same kernel, the fastest by the minimum over all of their measurements.
    // Each was timed alone at another moment, and on a shared machine a burst of another tenant's load made two
    // of those three take XNNPACK's sliced convolution (1.1-1.2 ms in the model at 2 threads) while the third
    // took the blocked GEMM (0.97 ms).
    std::map<std::string, std::vector<size_t>> same;  // problem -> its layers (indices into tunable)
    for (size_t i = 0; i < tunable.size(); ++i) {
      const Step& st = steps_[tunable[i]];
      const Node& n = graph_.nodes[st.node];
      std::string key = n.domain + ":" + n.op_type + " " + n.attr_s("_act", "");
      for (const auto& k : tuning_.layers[i].candidates) key += " " + k;
      for (const Tensor* t : st.in) key += " " + (t ? shape_str(t->shape()) : std::string("-"));
      key += " ->";
      for (const Tensor* t : st.out) key += " " + (t ? shape_str(t->shape()) : std::string("-"));
      same[key].push_back(i);
    }
    for (const auto& [key, layers] : same) {
      if (layers.size() < 2) continue;
      std::vector<double> best(tuning_.layers[layers[0]].ms.size(), 1e300);
      for (size_t i : layers)
        for (size_t k = 0; k < best.size(); ++k) best[k] = std::min(best[k], tuning_.layers[i].ms[k]);
      const auto& names = tuning_.layers[layers[0]].candidates;
      size_t chosen = 0;
      for (size_t k = 1; k < best.size(); ++k)
        if (displaces(names[k], best[k], best[chosen])) chosen = k;
      for (size_t i : layers) {
        KernelChoice& c = tuning_.layers[i];
        if (c.chosen == chosen) continue;
        c.chosen = chosen;
        ops_[steps_[tunable[i]].node]->choose_kernel(chosen);
      }
    }
    std::vector<std::vector<size_t>> groups;
    for (auto& kv : same) groups.push_back(std::move(kv.second));
    try {
      refine_in_model(tunable, groups, hook);
    } catch (const std::exception&) {  // a model that cannot run on zeros keeps the choices of the layers timed alone
      for (size_t i = 0; i < tunable.size(); ++i) ops_[steps_[tunable[i]].node]->choose_kernel(tuning_.layers[i].chosen);
    }
    for (size_t si : tunable) ops_[steps_[si].node]->drop_other_kernels();
    if (opts_.yield_threads) pool_.park();
    tuning_.cost_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    tuning_.how = "measured";
    apply();
    if (!tuning_.cache_file.empty()) {
      std::string text = problem + "--\n";
      for (const auto& c : tuning_.layers) text += c.candidates[c.chosen] + "\n";
      try {  // a cache that cannot be written costs the next prepare the measurement, nothing else
        std::filesystem::create_directories(dir);
        write_file_atomic(tuning_.cache_file, text);
      } catch (const std::exception&) {
        tuning_.cache_file.clear();
      }
    }
  }

  // The second stage of tune_kernels: the layers' close candidates timed inside runs of the whole model. Timed
  // alone, a layer finds its input and output where its own previous run left them; in the model they are where
  // the layers before it left them, and at 2 threads that can be the other core's cache: the YOLO shape's 80 x 80
  // layers of 16-32 channels took 2x their time alone there (Conv_t22, XNNPACK 3x3: 0.126 ms alone, 0.22 in the
  // model, 0.126 again when run twice in a row), and which kernel pays least for it is a property of the pair.
  // For each group of layers of the same problem (`groups`, indices into `tunable`), the candidates within 25 %
  // of the group's fastest alone are tried, every other tunable layer at a time (so the layers next to a tried
  // one keep their choice): each try runs the model 1 + 5 times and keeps, per tried layer, the fastest run's
  // time from the start of that layer to the end of the next tunable layer (the consumer of its output pays for
  // where it was written). A group moves to the candidate with the lowest sum over its layers only when that is
  // 10 % below the sum for its current one. Inputs are the planned buffers' zeros (as in the first stage).
  void refine_in_model(const std::vector<size_t>& tunable, const std::vector<std::vector<size_t>>& groups, const KernelTimingHook& hook) {
    const size_t n = tunable.size();
    std::vector<std::vector<size_t>> shortlist(n);  // per layer: its group's close candidates, the current first
    size_t tries = 1;
    for (const auto& g : groups) {
      const KernelChoice& c0 = tuning_.layers[g[0]];
      std::vector<double> best(c0.ms.size(), 1e300);
      for (size_t i : g)
        for (size_t k = 0; k < best.size() && k < tuning_.layers[i].ms.size(); ++k) best[k] = std::min(best[k], tuning_.layers[i].ms[k]);
      const double fastest = *std::min_element(best.begin(), best.end());
      std::vector<size_t> list = {c0.chosen};
      for (size_t k = 0; k < best.size(); ++k)
        if (k != c0.chosen && best[k] <= 1.25 * fastest) list.push_back(k);
      for (size_t i : g) shortlist[i] = list;
      tries = std::max(tries, list.size());
    }
    if (tries < 2) return;
    for (auto& c : tuning_.layers) c.model_ms.assign(c.candidates.size(), -1.0);
    // per tunable layer, the steps its time covers: [its step, the next tunable layer's step]
    std::vector<size_t> last(n);
    for (size_t i = 0; i < n; ++i) last[i] = i + 1 < n ? tunable[i + 1] : steps_.size() - 1;
    void* ws = workspace_.data();
    std::vector<double> step_ms(steps_.size());
    // runs the model 1 + 5 times; the fastest of the 5 timed runs' window sums for the layers in `which`
    auto measure = [&](const std::vector<size_t>& which, std::vector<double>& out) {
      out.assign(n, 1e300);
      for (int r = 0; r < 6; ++r) {
        for (size_t si = 0; si < steps_.size(); ++si) {
          const auto a = std::chrono::steady_clock::now();
          ops_[steps_[si].node]->run(steps_[si].in, steps_[si].out, ws);
          step_ms[si] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count();
        }
        if (r == 0) continue;  // warm-up: the kernels just chosen set up, their buffers touched
        for (size_t i : which) {
          double sum = 0;
          for (size_t si = tunable[i]; si <= last[i]; ++si) sum += step_ms[si];
          out[i] = std::min(out[i], sum);
        }
      }
    };
    std::vector<size_t> all(n);
    for (size_t i = 0; i < n; ++i) all[i] = i;
    std::vector<double> ms;
    const auto t0 = std::chrono::steady_clock::now();
    measure(all, ms);  // every layer on its current choice
    for (size_t i = 0; i < n; ++i) tuning_.layers[i].model_ms[shortlist[i][0]] = ms[i];
    // at most ~3 s more (a model of 80 ms per run with 4 close candidates would need 2.9 s): beyond, the first
    // stage's choice stands
    const double per_try = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (per_try * 2 * static_cast<double>(tries - 1) > 3000) {
      for (auto& c : tuning_.layers) c.model_ms.clear();
      return;
    }
    for (size_t parity = 0; parity < 2; ++parity) {  // the layers of one parity go through their candidates
      for (size_t t = 1; t < tries; ++t) {
        std::vector<size_t> which;
        for (size_t i = parity; i < n; i += 2)
          if (t < shortlist[i].size()) which.push_back(i);
        if (which.empty()) break;
        for (size_t i : which) ops_[steps_[tunable[i]].node]->choose_kernel(shortlist[i][t]);
        measure(which, ms);
        for (size_t i : which) tuning_.layers[i].model_ms[shortlist[i][t]] = ms[i];
      }
      for (size_t i = parity; i < n; i += 2)  // back to their choice before the other parity's turn
        if (shortlist[i].size() > 1) ops_[steps_[tunable[i]].node]->choose_kernel(tuning_.layers[i].chosen);
    }
    for (const auto& g : groups) {
      const std::vector<size_t>& list = shortlist[g[0]];
      if (list.size() < 2) continue;
      std::vector<double> total(list.size(), 0.0);
      for (size_t j = 0; j < list.size(); ++j)
        for (size_t i : g) {
          KernelChoice& c = tuning_.layers[i];
          if (hook) c.model_ms[list[j]] = hook(c.node, c.candidates[list[j]], c.model_ms[list[j]], true);
          total[j] += c.model_ms[list[j]];
        }
      size_t pick = 0;
      const auto& names = tuning_.layers[g[0]].candidates;
      for (size_t j = 1; j < list.size(); ++j)
        if (displaces(names[list[j]], total[j], total[0]) && total[j] < total[pick]) pick = j;
      if (pick == 0) continue;
      tuning_.moved_in_model += g.size();
      for (size_t i : g) {
        tuning_.layers[i].chosen = list[pick];
        ops_[steps_[tunable[i]].node]->choose_kernel(list[pick]);
      }
    }
  }

  void run() override {
    if (!prepared_) throw Error(where_ + ": run() before prepare()");
    // subnormals flushed on this thread for the run (the kernels' own workers do the same): a flat frame's
    // decaying activations otherwise cost x86 a microcode assist per instruction (base/denormals.h)
    const DenormalsAsZero flush;
    void* ws = workspace_.data();
    if (!opts_.profile) {
      for (Step& st : steps_) ops_[st.node]->run(st.in, st.out, ws);
      if (opts_.yield_threads) pool_.park();
      return;
    }
    for (size_t i = 0; i < steps_.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      ops_[steps_[i].node]->run(steps_[i].in, steps_[i].out, ws);
      prof_[i].total_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      ++prof_[i].runs;
    }
    if (opts_.yield_threads) pool_.park();
  }

  std::vector<NodeProfile> profile() const override { return prof_; }
  KernelTuning kernel_tuning() const override { return tuning_; }

  Tensor& input(size_t i) override { return *input_ptrs_.at(i); }
  const Tensor& output(size_t i) const override { return *output_ptrs_.at(i); }
  size_t activation_bytes() const override { return activation_bytes_; }
  bool value_shape(const std::string& name, Shape& out) const override {
    auto it = ids_.find(name);
    if (it == ids_.end()) return false;
    out = slots_[it->second].t.shape();
    return true;
  }

 private:
  EngineOptions opts_;
  std::string where_;
  LayoutStats layout_;
  Fp16Stats fp16_;
  std::string precision_note_;  // which arithmetic runs, when the model or options asked about float16
  XnnThreadPool pool_;
  Graph graph_;
  int64_t opset_ = 0;
  std::vector<std::unique_ptr<Op>> ops_;
  std::vector<Slot> slots_;
  std::map<std::string, size_t> ids_;
  std::vector<Step> steps_;
  std::vector<std::vector<size_t>> step_outs_, step_ins_;
  size_t inplace_steps_ = 0;
  LargeVector<uint8_t> arena_, workspace_;  // huge pages from 2 MiB (large_alloc.h)
  std::vector<Tensor*> input_ptrs_, output_ptrs_;
  std::vector<NodeProfile> prof_;
  KernelTuning tuning_;
  volatile unsigned evict_sink_ = 0;  // keeps the eviction reads of tune_kernels from being optimised away
  size_t activation_bytes_ = 0;
  bool prepared_ = false;
};

}  // namespace

void set_kernel_timing_hook(KernelTimingHook hook) {
  std::lock_guard<std::mutex> l(g_hook_mu);
  g_hook = std::move(hook);
}

std::unique_ptr<Engine> create_native_engine(const Model& model, const EngineOptions& opts) {
  return std::make_unique<NativeEngine>(model, opts);
}

}  // namespace ec
