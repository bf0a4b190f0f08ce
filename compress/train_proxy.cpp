// The training steps as seen by edgecompress: each runs in the libtorch helper process (train_steps.h).
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "error.h"
#include "onnx_io.h"
#include "train_steps.h"

extern char** environ;

namespace ec::compress {
namespace fs = std::filesystem;

const std::vector<TrainStepInfo>& train_steps() {
  static const std::vector<std::string> common = {"data", "epochs", "batch", "lr", "momentum", "seed", "max_samples", "optimizer", "bn", "checkpoint", "resume", "augment"};
  auto with = [](std::vector<std::string> more) {
    more.insert(more.begin(), common.begin(), common.end());
    return more;
  };
  static const std::vector<TrainStepInfo> steps = {
      {"finetune", with({}),
       "train the weights on labelled data (libtorch), pruned weights kept at zero: data DIR (IDX) or images:DIR (a subfolder per class), epochs, batch, lr, momentum, optimizer "
       "sgd|adam, bn frozen|train, seed, max_samples, checkpoint DIR, resume 0|1"},
      {"share-finetune", with({"max_centroids"}),
       "after `share`: train the shared centroids with the gradients summed per cluster (Deep Compression 3.3), zeros kept; other parameters "
       "(biases) by the optimiser"},
      {"distill", with({"teacher", "temperature", "alpha", "loss", "box_weight"}),
       "train towards a teacher's outputs: teacher PATH|original; on IDX data soft targets (temperature, alpha = weight of the soft loss) with "
       "labels; with data: calibration, unlabelled frames and the teacher's outputs as targets (loss detector)"},
      {"qat", with({}),
       "after `quantize`: quantization-aware training (per-channel fake-quantized weights, the file's activation scales), exported as QDQ "
       "with the trained int8 weights"},
  };
  return steps;
}

namespace {
std::string g_helper;  // set once by app/ before any training step
}

void set_train_helper_path(const std::string& path) { g_helper = path; }

std::string train_helper_path() {
  if (!g_helper.empty()) return access(g_helper.c_str(), X_OK) == 0 ? g_helper : "";
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  for (const fs::path& c : {self.parent_path() / "edgecompress-train", self.parent_path().parent_path() / "edgecompress-train"})
    if (access(c.c_str(), X_OK) == 0) return c.string();
  return "";
}

bool training_available() { return !train_helper_path().empty(); }

void write_tensor_sets(const std::string& path, const std::vector<std::vector<Tensor>>& sets) {
  std::ofstream f(path, std::ios::binary);
  auto put = [&](const void* p, size_t n) { f.write(static_cast<const char*>(p), static_cast<std::streamsize>(n)); };
  put("ECT1", 4);
  const uint64_t count = sets.size();
  put(&count, 8);
  for (auto& set : sets) {
    const uint64_t k = set.size();
    put(&k, 8);
    for (const Tensor& t : set) {
      if (t.dtype() != DType::f32) throw Error(path + ": only float32 tensors are written");
      const uint64_t rank = t.shape().size();
      put(&rank, 8);
      for (int64_t d : t.shape()) put(&d, 8);
      put(t.data(), t.size_bytes());
    }
  }
  if (!f.flush()) throw Error(path + ": cannot write (disk full?)");
}

std::vector<std::vector<Tensor>> read_tensor_sets(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open");
  auto get = [&](void* p, size_t n) {
    if (!f.read(static_cast<char*>(p), static_cast<std::streamsize>(n))) throw Error(path + ": truncated tensor file");
  };
  char magic[4];
  get(magic, 4);
  if (std::memcmp(magic, "ECT1", 4) != 0) throw Error(path + ": not a tensor file");
  uint64_t count = 0;
  get(&count, 8);
  std::vector<std::vector<Tensor>> sets;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t k = 0;
    get(&k, 8);
    std::vector<Tensor> set;
    for (uint64_t j = 0; j < k; ++j) {
      uint64_t rank = 0;
      get(&rank, 8);
      if (rank > 8) throw Error(path + ": bad tensor rank " + std::to_string(rank));
      Shape s(rank);
      for (auto& d : s) get(&d, 8);
      Tensor t(DType::f32, s);
      get(t.data(), t.size_bytes());
      set.push_back(t);
    }
    sets.push_back(std::move(set));
  }
  return sets;
}

void write_step_params(const std::string& path, const StepParams& p) {
  std::ofstream f(path);
  f << p.where << "\n";
  for (auto& kv : p.values) {
    if (kv.first.find_first_of("\t\n") != std::string::npos || kv.second.find_first_of("\t\n") != std::string::npos)
      throw Error(p.where + ": parameter '" + kv.first + "' holds a tab or newline");
    f << kv.first << "\t" << kv.second << "\n";
  }
  if (!f.flush()) throw Error(path + ": cannot write (disk full?)");
}

StepParams read_step_params(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(path + ": cannot open");
  StepParams p;
  std::getline(f, p.where);
  for (std::string line; std::getline(f, line);) {
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) throw Error(path + ": bad parameter line '" + line + "'");
    p.values[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return p;
}

namespace {

// A temporary directory removed when the proxy returns.
struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "ec-train-XXXXXX").string();
    if (!mkdtemp(t.data())) throw Error(t + ": cannot create a temporary directory: " + std::strerror(errno));
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string run_in_helper(const std::string& name, Model& m, const StepParams& p, PassContext& ctx) {
  const std::string helper = train_helper_path();
  if (helper.empty())
    throw Error(p.where + ": " + name +
                " needs libtorch: the helper edgecompress-train (built when libtorch-dev is installed) was not found next to this program; "
                "install libtorch-dev and rebuild (CMake option EC_WITH_TORCH)");
  TempDir tmp;
  const std::string in = tmp.path + "/in.onnx", out = tmp.path + "/out.onnx", params = tmp.path + "/params.txt", report = tmp.path + "/report.txt",
                    error = tmp.path + "/error.txt";
  save_onnx(m, in);
  write_step_params(params, p);
  std::vector<std::string> args = {helper, name, in, out, "--params", params, "--report", report, "--error", error, "--threads", std::to_string(ctx.threads)};
  if (!ctx.calibration.empty()) {
    write_tensor_sets(tmp.path + "/calibration.bin", ctx.calibration);
    args.insert(args.end(), {"--calibration", tmp.path + "/calibration.bin"});
  }
  if (ctx.original) {
    save_onnx(*ctx.original, tmp.path + "/original.onnx");
    args.insert(args.end(), {"--original", tmp.path + "/original.onnx"});
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = posix_spawn(&pid, helper.c_str(), nullptr, nullptr, argv.data(), environ); rc != 0)
    throw Error(helper + ": cannot start: " + std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw Error(helper + ": waitpid: " + std::strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream e(error);
    std::string msg;
    std::getline(e, msg);
    if (msg.empty())
      msg = p.where + ": " + name + ": the training helper " +
            (WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status)) : "exited with status " + std::to_string(WEXITSTATUS(status)));
    throw Error(msg);
  }
  m = load_onnx(out);
  std::ifstream r(report);
  std::stringstream ss;
  ss << r.rdbuf();
  std::string line = ss.str();
  while (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

}  // namespace

void register_train_passes(std::map<std::string, PassInfo>& r) {
  for (const TrainStepInfo& s : train_steps()) {
    const std::string name = s.name;
    r[name] = {name, s.params, false, s.help, [name](Model& m, const StepParams& p, PassContext& ctx) { return run_in_helper(name, m, p, ctx); }};
  }
}

}  // namespace ec::compress
