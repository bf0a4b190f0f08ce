// edgecompress: one binary, one subcommand per file (cmd_*.cpp). Errors become one line and exit code 1.
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cmdline.h"
#include "commands.h"
#include "error.h"
#include "kernel_switches.h"
#include "tensor.h"
#include "train_steps.h"
#include "sensor.h"

// `run` shares the CPU cores with GStreamer's capture/decode threads: OpenMP workers that spin while idle
// (libgomp's default) steal those cores and halve the pipeline's frame rate on a 2-core board. libgomp
// reads OMP_WAIT_POLICY once, when it is loaded, so `run` re-executes itself with a passive policy unless
// the user chose one. Measured with bench/pipeline.cpp.
static void prefer_passive_openmp_for_run(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "run" || std::getenv("OMP_WAIT_POLICY")) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  // By the binary's own path, not /proc/self/exe: the process takes its name from the file executed, and
  // top, ps and pgrep would show "exe".
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  self[n] = '\0';
  execv(self, argv);  // only returns on failure (the binary was replaced or removed): carry on with the default policy
}

// Developer switches from the environment, the only place the libraries' switches are read from it:
// EC_NO_VNNI=1 / EC_NO_POINTWISE=1 turn off the engine's own x86 kernels (XNNPACK runs those layers),
// EC_TRAIN_HELPER=PATH picks the libtorch training helper.
static void apply_environment_switches() {
  auto on = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v && std::string(v) != "0";
  };
  ec::KernelSwitches ks;
  ks.vnni_gemm = !on("EC_NO_VNNI");
  ks.fused_pointwise = !on("EC_NO_POINTWISE");
  ec::set_kernel_switches(ks);
  if (const char* h = std::getenv("EC_TRAIN_HELPER"); h && *h) ec::compress::set_train_helper_path(h);
}

// `edgecompress --peak-rss-of FILE PROGRAM ARGS...` (internal, used by `bench --memory --ort-peer`): runs PROGRAM
// as a child of this fresh, small process and writes the child's peak resident memory (KiB, from wait4) to FILE;
// exits with the child's status. A child forked from `bench` itself starts with bench's resident pages (model,
// engine), which the kernel keeps in the child's peak across exec: 173 MB for a one-node model after ResNet-18.
static int peak_rss_of(int argc, char** argv) {
  if (argc < 4) return 2;
  const pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    execvp(argv[3], argv + 3);
    std::fprintf(stderr, "edgecompress: cannot run %s\n", argv[3]);
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  while (wait4(pid, &status, 0, &ru) < 0) {
  }
  if (FILE* f = std::fopen(argv[2], "w")) {
    std::fprintf(f, "%ld\n", ru.ru_maxrss);
    std::fclose(f);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "--peak-rss-of") return peak_rss_of(argc, argv);
  // Blocks of 256 KiB and more (packed weights, activation arenas) come from mmap and go back to the system when
  // freed. glibc's default raises that threshold each time such a block is freed, after which the next ones
  // come from the heap and stay resident: choosing kernels (each candidate packs its weights, the losers are
  // freed) then left ResNet-18 twice the memory it keeps.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  prefer_passive_openmp_for_run(argc, argv);
  apply_environment_switches();
  ec::cli::App app{"edgecompress: make ONNX models smaller and faster, and run them on edge devices"};
  app.require_subcommand(1);
  app.set_version_flag("--version", ec::version_text());
  ec::add_inspect_command(app);
  ec::add_bench_command(app);
  ec::add_power_command(app);
  ec::add_run_command(app);
  ec::add_report_command(app);
  ec::add_compress_command(app);
  ec::add_eval_command(app);
  ec::add_pack_commands(app);
  ec::add_train_command(app);
  ec::add_doctor_command(app);
  // every command that reads models takes the limits that stop a hostile file early (engine/tensor.h)
  app.for_each_subcommand([](ec::cli::App& cmd) {
    if (cmd.name() == "power" || cmd.name() == "report") return;
    ec::LoadLimits& lim = ec::load_limits();
    cmd.add_option("--max-tensor-mb", lim.max_tensor_mb, "largest tensor a model may declare or make the engine allocate, MiB")
        ->capture_default_str();
    cmd.add_option("--max-model-mb", lim.max_model_mb, "largest model file read, MiB")->capture_default_str();
    cmd.add_option("--max-nodes", lim.max_nodes, "most nodes a model's graph may have")->capture_default_str();
  });
  try {
    app.parse(argc, argv);
  } catch (const ec::cli::ParseError& e) {
    return app.exit(e);
  } catch (const ec::Error& e) {
    std::fprintf(stderr, "edgecompress: %s\n", e.what());
    return 1;
  } catch (const ec::power::PowerError& e) {
    std::fprintf(stderr, "edgecompress: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgecompress: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
