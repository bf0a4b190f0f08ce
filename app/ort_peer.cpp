#include "ort_peer.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common.h"
#include "error.h"

namespace ec {

std::string run_capture(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw Error("cannot start: " + cmd);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) throw Error("'" + cmd + "' failed with status " + std::to_string(WEXITSTATUS(rc)));
  return out;
}

std::string run_capture_argv(const std::vector<std::string>& argv, size_t* peak_rss_bytes) {
  if (argv.empty()) throw Error("run_capture_argv: no program");
  int fds[2];
  if (pipe(fds) != 0) throw Error("cannot create a pipe for " + argv[0] + ": " + std::strerror(errno));
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    throw Error("cannot start " + argv[0] + ": " + std::strerror(errno));
  }
  if (pid == 0) {  // the child: stdout into the pipe, then the program (stderr stays ours)
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execvp(args[0], args.data());
    std::fprintf(stderr, "edgecompress: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  close(fds[0]);
  int status = 0;
  struct rusage ru {};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("'" + argv[0] + "' failed with status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
  if (peak_rss_bytes) *peak_rss_bytes = static_cast<size_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
  return out;
}

OrtPeerResult run_ort_peer(const std::string& peer, const std::string& model, const Tensor& input, int threads, int runs, int warmup) {
  char dir_tmpl[] = "/tmp/ec-ort-XXXXXX";
  if (!mkdtemp(dir_tmpl)) throw Error("cannot create a temp folder for the ort peer");
  const std::string dir = dir_tmpl;
  struct Cleanup {
    std::string d;
    ~Cleanup() { std::system(("rm -rf '" + d + "'").c_str()); }
  } cleanup{dir};
  write_file_bytes(dir + "/input.f32", std::string(static_cast<const char*>(input.data()), input.size_bytes()));
  std::string shape;
  for (int64_t d : input.shape()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
  OrtPeerResult r;
  // through this program's --peak-rss-of (app/main.cpp): the peer's own peak, not this process's pages
  const std::vector<std::string> argv = {self_exe_path(), "--peak-rss-of", dir + "/peak_kib", peer, model, "--threads", std::to_string(threads),
                                         "--runs", std::to_string(runs), "--warmup", std::to_string(warmup), "--shape", shape, "--input",
                                         dir + "/input.f32", "--dump", dir + "/out"};
  auto j = nlohmann::json::parse(run_capture_argv(argv));
  r.peak_rss_bytes = static_cast<size_t>(std::atoll(read_file_bytes(dir + "/peak_kib").c_str())) * 1024;
  r.min_ms = j["latency_ms"]["min"];
  r.median_ms = j["latency_ms"]["median"];
  r.p95_ms = j["latency_ms"]["p95"];
  r.mean_ms = j["latency_ms"]["mean"];
  r.runs = j["runs"];
  auto outs = nlohmann::json::parse(read_file_bytes(dir + "/out/outputs.json"));
  for (size_t i = 0; i < outs.size(); ++i) {
    Tensor t(DType::f32, outs[i]["shape"].get<Shape>());
    const std::string bytes = read_file_bytes(dir + "/out/" + std::to_string(i) + ".f32");
    if (bytes.size() != t.size_bytes()) throw Error("ort peer output " + std::to_string(i) + " has an unexpected size");
    std::memcpy(t.data(), bytes.data(), bytes.size());
    r.names.push_back(outs[i]["name"]);
    r.outputs.push_back(std::move(t));
  }
  return r;
}

namespace {

class OrtPeerEngine : public Engine {
 public:
  OrtPeerEngine(std::string peer, const Model& m, const EngineOptions& o) : peer_(std::move(peer)), path_(m.path), threads_(o.threads) {
    if (path_.empty()) throw Error("onnxruntime backend: the model must be loaded from a file");
    inputs_ = m.graph.inputs;
    outputs_ = m.graph.outputs;
    if (inputs_.size() != 1 || inputs_[0].dtype != DType::f32) throw Error(path_ + ": onnxruntime backend: only models with one float input");
  }
  std::string backend() const override { return "onnxruntime"; }
  void prepare(const std::map<std::string, Shape>& shapes) override {
    input_ = Tensor(DType::f32, resolve_input_shapes(shapes, path_)[0]);
    outs_.clear();
  }
  void run() override {
    auto r = run_ort_peer(peer_, path_, input_, threads_, 1, 0);
    outs_.clear();
    for (size_t i = 0; i < outputs_.size(); ++i) {
      size_t k = 0;
      while (k < r.names.size() && r.names[k] != outputs_[i].name) ++k;
      if (k == r.names.size()) throw Error(path_ + ": the ort peer did not return output '" + outputs_[i].name + "'");
      outs_.push_back(r.outputs[k]);
    }
  }
  Tensor& input(size_t) override { return input_; }
  const Tensor& output(size_t i) const override { return outs_.at(i); }

 private:
  std::string peer_, path_;
  int threads_;
  Tensor input_;
  std::vector<Tensor> outs_;
};

}  // namespace

void register_ort_peer_backend(const std::string& peer) {
  register_backend("onnxruntime", [peer](const Model& m, const EngineOptions& o) { return std::make_unique<OrtPeerEngine>(peer, m, o); });
}

}  // namespace ec
