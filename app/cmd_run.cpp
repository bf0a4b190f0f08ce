// `edgecompress run --config C [--record] ...`: the live pipeline with its overlay, optionally recorded as a
// session. Keys (when stdin is a terminal): 1-9 toggle a variant, l cycles the layout, q quits.
// SIGHUP reloads the config's variants without restarting capture; SIGINT/SIGTERM stop and finish the
// session. The signals are taken by a thread of their own (base/signal_thread.h), never by a thread inside
// GStreamer or the engine: a stop that arrived while the source was starting made the start fail.
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "commands.h"
#include "config.h"
#include "error.h"
#include "run_config.h"
#include "signal_thread.h"

namespace ec {
namespace {

// What SIGINT/SIGTERM/SIGHUP do, by phase: before the pipeline exists (config, models, kernel tuning) a stop
// ends the process as the signal's default action would; while it runs they stop it or reload its variants;
// once it has finished, they are ignored while the summary is written.
class RunSignals {
 public:
  RunSignals() : thread_({SIGINT, SIGTERM, SIGHUP}, [this](int sig) { on_signal(sig); }) {}
  // The pipeline to stop or reload from now on; nullptr when it has finished.
  void attach(Pipeline* p) {
    std::lock_guard<std::mutex> lock(mu_);
    pipeline_ = p;
    phase_ = p ? Phase::running : Phase::finished;
  }

 private:
  enum class Phase { starting, running, finished };
  void on_signal(int sig) {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ == Phase::starting && sig != SIGHUP) {
      // Nothing to finish yet: end now, by the signal itself, as if it had never been blocked.
      std::signal(sig, SIG_DFL);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, sig);
      pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
      raise(sig);
      return;
    }
    if (phase_ != Phase::running) return;
    if (sig == SIGHUP) pipeline_->request_reload();
    else pipeline_->request_stop();
  }
  std::mutex mu_;
  Phase phase_ = Phase::starting;
  Pipeline* pipeline_ = nullptr;
  SignalThread thread_;  // last: it calls on_signal, which uses the members above
};

struct RunCliOptions {
  std::string config;
  bool record = false;
  std::string name, source, output, layout, session_dir;
  int64_t max_frames = -1;
  double duration = -1;
  bool quiet = false, json = false;
  std::string http, http_token;
};

// Raw terminal mode for single key presses, restored on destruction.
class KeyReader {
 public:
  explicit KeyReader(Pipeline& p) : p_(p) {
    if (!isatty(STDIN_FILENO)) return;
    if (tcgetattr(STDIN_FILENO, &old_) != 0) return;
    termios raw = old_;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    active_ = true;
    th_ = std::thread([this] { loop(); });
  }
  ~KeyReader() {
    done_ = true;
    if (th_.joinable()) th_.join();
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &old_);
  }

 private:
  void loop() {
    while (!done_) {
      pollfd pf{STDIN_FILENO, POLLIN, 0};
      if (poll(&pf, 1, 100) <= 0) continue;
      char c = 0;
      if (read(STDIN_FILENO, &c, 1) != 1) continue;
      if (c == 'q') p_.request_stop();
      else if (c == 'l') p_.request_next_layout();
      else if (c >= '1' && c <= '9') p_.request_toggle(c - '1');
    }
  }
  Pipeline& p_;
  termios old_{};
  bool active_ = false;
  std::atomic<bool> done_{false};
  std::thread th_;
};

RunSetup resolve(const RunCliOptions& o) {
  RunSetup s = load_run_config(o.config);
  RunConfig& r = s.run;
  if (o.record) r.record = true;
  if (!o.name.empty()) r.session_name = o.name;
  if (!o.session_dir.empty()) {
    r.session_dir = o.session_dir;
    r.record = true;
  }
  if (!o.source.empty()) r.source_uri = o.source;
  if (!o.output.empty()) r.sink_uri = o.output;
  if (!o.layout.empty()) r.layout = o.layout;
  if (o.max_frames >= 0) r.max_frames = o.max_frames;
  if (o.duration >= 0) r.duration_s = o.duration;
  r.quiet = o.quiet;
  if (!o.http.empty()) s.monitor.listen = o.http;
  if (!o.http_token.empty()) s.monitor.token = o.http_token;
  r.config_yaml = run_config_yaml(s);
  return s;
}

void print_summary(const nlohmann::json& j) {
  const auto& s = j["session"];
  std::printf("%lld frames in %.1f s: pipeline %.1f FPS, %lld dropped, %s", static_cast<long long>(s["frames"].get<int64_t>()),
              s["duration_s"].get<double>(), s["pipeline_fps"].get<double>(), static_cast<long long>(s["dropped_frames"].get<int64_t>()),
              s["status"].get<std::string>().c_str());
  if (!s["dir"].get<std::string>().empty()) std::printf(", session %s", s["dir"].get<std::string>().c_str());
  std::printf("\n%-24s %-7s %7s %10s %10s %10s %9s %12s %9s\n", "variant", "backend", "frames", "infer p50", "infer p95", "e2e p95", "inf FPS",
              "mJ/inference", "size MB");
  for (const auto& v : j["variants"]) {
    const auto& lat = v["latency_ms"];
    auto get = [&](const char* stage, const char* q) { return lat[stage].is_null() ? 0.0 : lat[stage][q].get<double>(); };
    std::string mj = v["energy"].is_null() ? "n/a" : cv::format("%.2f", v["energy"]["gross_mj_per_inference"].get<double>());
    std::printf("%-24s %-7s %7lld %10.2f %10.2f %10.2f %9.1f %12s %9.2f\n", v["name"].get<std::string>().c_str(),
                v["backend"].get<std::string>().c_str(), static_cast<long long>(v["frames"].get<int64_t>()), get("inference", "p50"),
                get("inference", "p95"), get("e2e", "p95"), v["inference_fps"].get<double>(), mj.c_str(),
                v["model_bytes"].get<double>() / 1048576.0);
  }
  if (!s["power_sensor"].is_null()) std::printf("power: %s\n", s["power_sensor"].get<std::string>().c_str());
}

void run_run(const RunCliOptions& o) {
  RunSignals signals;  // first, before anything here starts a thread
  RunSetup s = resolve(o);
  std::string why;
  std::unique_ptr<power::PowerSensor> sensor;
  try {
    sensor = open_power_sensor(s.power, &why);
  } catch (const power::PowerError& e) {
    throw Error(e.what());
  }
  std::unique_ptr<power::PowerSampler> sampler;
  if (sensor) {
    power::SamplerOptions so;
    so.rate_hz = s.power.rate_hz;
    sampler = std::make_unique<power::PowerSampler>(std::move(sensor), so);
  } else if (!o.quiet) {
    std::fprintf(stderr, "%s: carrying on without power figures\n", why.c_str());
  }
  Pipeline p(s.run, std::move(sampler), why);
  p.reload_config = [&o] { return resolve(o).run; };
  signals.attach(&p);
  struct Detach {  // however this function ends, before p is destroyed
    RunSignals& s;
    ~Detach() { s.attach(nullptr); }
  } detach{signals};
  std::unique_ptr<MonitorServer> monitor;
  if (!s.monitor.listen.empty()) {
    monitor = std::make_unique<MonitorServer>(s.monitor, p);
    if (!o.quiet) std::fprintf(stderr, "monitoring on %s (/ web view, /metrics, /api/status, /stream.mjpg)\n", monitor->url().c_str());
  }
  nlohmann::json summary;
  {
    KeyReader keys(p);
    summary = p.run();
  }
  signals.attach(nullptr);
  if (o.json) std::printf("%s\n", summary.dump(2).c_str());
  else print_summary(summary);
}

}  // namespace

void add_run_command(ec::cli::App& app) {
  auto o = std::make_shared<RunCliOptions>();
  ec::cli::App* c = app.add_subcommand("run", "Run model variants side by side on live video with an overlay; record sessions");
  c->add_option("--config,-c", o->config, "Run config (YAML), e.g. configs/demo.yaml")->required();
  c->add_flag("--record", o->record, "Record a session under sessions/");
  c->add_option("--name", o->name, "Session name");
  c->add_option("--session-dir", o->session_dir, "Record into exactly this folder");
  c->add_option("--source", o->source, "Override the source URI");
  c->add_option("--output", o->output, "Override the output URI (display://0, file:///x.mp4, udp://host:port, none://)");
  c->add_option("--layout", o->layout, "side-by-side, grid or overlay")->check(ec::cli::IsMember({"side-by-side", "grid", "overlay"}));
  c->add_option("--max-frames", o->max_frames, "Stop after this many frames");
  c->add_option("--duration", o->duration, "Stop after this many seconds");
  c->add_flag("--quiet", o->quiet, "No progress messages");
  c->add_option("--http", o->http, "Serve monitoring on HOST:PORT (default host 127.0.0.1): /, /metrics, /api/status, /stream.mjpg");
  c->add_option("--http-token", o->http_token, "Bearer token for the monitoring endpoint (required off loopback)");
  c->add_flag("--json", o->json, "Print summary.json at the end");
  c->callback([o] { run_run(*o); });
}

}  // namespace ec
