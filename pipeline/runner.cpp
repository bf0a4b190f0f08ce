#include "runner.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <deque>
#include <opencv2/core/version.hpp>
#include <thread>

#include "energy_attribution.h"
#include "error.h"
#include "fidelity.h"
#include "output_stage.h"
#include "overlay.h"
#include "recorder.h"
#include "run_stats.h"
#include "variant_runner.h"

namespace ec {

namespace {

double now_ms() { return power::steady_now_ms(); }

std::string utc_now() {
  char b[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

RunnerSpec runner_spec(const VariantConfig& vc) {
  RunnerSpec s;
  s.model = vc.model;
  s.backend = vc.backend;
  s.device = vc.device;
  s.threads = vc.threads;
  s.shape = vc.shape;
  s.yield_threads = true;  // capture and decoding run between inferences on the same cores
  s.input = vc.input;
  s.decoder = vc.decoder;
  return s;
}

}  // namespace

// One configured variant in the run: its runner, statistics, energy and agreement with the reference.
struct Pipeline::Variant {
  VariantConfig cfg;
  std::unique_ptr<VariantRunner> runner;
  Result result;
  VariantStats st;
  VariantEnergy energy;
  size_t color = 0;
  FidelityAccumulator quality;  // against the reference variant on the frames both ran (bounded memory)
  std::string quality_ref;      // the reference it was scored against

  size_t model_bytes() const { return runner->model_bytes(); }
  // Carries the run's figures of `o` (the same variant before a reload) over to this one.
  void take_figures(Variant& o) {
    st = o.st;
    energy = std::move(o.energy);
    quality = o.quality;
    quality_ref = o.quality_ref;
  }
};

// What the loop does next after asking the source for a frame.
enum class Next { frame, retry, stop };

struct Pipeline::Impl {
  RunMetrics* metrics = nullptr;
  LiveView* live = nullptr;
  RunConfig cfg;
  std::unique_ptr<power::PowerSampler> sampler;
  std::string power_note;
  std::vector<std::unique_ptr<Variant>> variants;
  std::unique_ptr<FrameSource> source;
  std::unique_ptr<OutputStage> out;
  std::unique_ptr<SessionRecorder> rec;
  double baseline_w = NAN;
  uint64_t power_cursor = 0;
  LogHistogram read_ms, overlay_ms, output_ms, loop_ms;
  RateMeter fps{2000};
  int64_t frames = 0;
  int64_t reconnects = 0;
  std::string status, started_utc, end_reason = "running", fatal;
  double t_start = 0, t_first = 0, t_last = 0;
  std::vector<nlohmann::json> retired;  // variants a reload removed, with their figures (newest kept)
  int64_t retired_dropped = 0;
  int64_t events_total = 0;
  std::deque<nlohmann::json> recent_events;
  // loop state
  bool said_full = false;
  double last_summary = 0, last_frame_ms = 0, backoff_s = 0.5;
  double loop0 = 0, t_read_ms = 0, t_variants_done = 0, t_composed = 0, t_written = 0;

  // Builds the configured variants. On a reload, a variant with the same name, model, backend, threads,
  // device and shape carries its figures on, and keeps its loaded engine when the model file is unchanged
  // (new input and decoder settings apply); the others that ran are kept as retired figures. Throws before
  // changing anything when a variant cannot be built.
  void build_variants() {
    auto same = [](const VariantConfig& a, const VariantConfig& b) {
      return a.name == b.name && a.model == b.model && a.backend == b.backend && a.threads == b.threads && a.device == b.device && a.shape == b.shape;
    };
    std::vector<int> match(cfg.variants.size(), -1);
    std::vector<bool> taken(variants.size(), false);
    for (size_t i = 0; i < cfg.variants.size(); ++i)
      for (size_t k = 0; k < variants.size(); ++k)
        if (!taken[k] && same(variants[k]->cfg, cfg.variants[i])) {
          taken[k] = true;
          match[i] = static_cast<int>(k);
          break;
        }
    std::vector<std::unique_ptr<Variant>> vs;
    for (size_t i = 0; i < cfg.variants.size(); ++i) {  // throws: the caller keeps the running set
      const RunnerSpec spec = runner_spec(cfg.variants[i]);
      auto v = std::make_unique<Variant>();
      v->cfg = cfg.variants[i];
      v->color = i;
      try {
        if (match[i] >= 0 && variants[static_cast<size_t>(match[i])]->runner->same_engine(spec))
          variants[static_cast<size_t>(match[i])]->runner->check_settings(spec);  // reused below
        else
          v->runner = std::make_unique<VariantRunner>(spec);
      } catch (const Error& e) {
        throw Error("variant '" + v->cfg.name + "': " + e.what());
      }
      vs.push_back(std::move(v));
    }
    for (size_t i = 0; i < vs.size(); ++i) {
      if (match[i] < 0) continue;
      Variant& old = *variants[static_cast<size_t>(match[i])];
      if (!vs[i]->runner) {
        vs[i]->runner = std::move(old.runner);
        vs[i]->runner->reconfigure(runner_spec(vs[i]->cfg));
      }
      vs[i]->take_figures(old);
    }
    for (size_t k = 0; k < variants.size(); ++k)
      if (!taken[k] && variants[k]->st.frames > 0) {
        retired.push_back(variant_json(*variants[k], true));
        if (retired.size() > 64) {
          retired.erase(retired.begin());
          ++retired_dropped;
        }
      }
    variants = std::move(vs);
    for (auto& v : variants) metrics->set_variant_info(v->cfg.name, v->cfg.model, v->cfg.backend, v->cfg.threads, v->model_bytes());
  }

  // ---- the loop's parts, in the order they run

  // Power sampler and idle baseline, source, output and session recorder.
  void start() {
    started_utc = utc_now();
    if (sampler) {
      sampler->start();
      if (cfg.baseline_s > 0) {  // idle power before capture and inference start
        const double t0 = now_ms();
        std::this_thread::sleep_for(std::chrono::duration<double>(cfg.baseline_s));
        baseline_w = sampler->energy(t0, now_ms()).mean_w();
      }
    }
    source = FrameSource::open(cfg.source_uri, cfg.source);
    SinkOptions so = cfg.sink;
    so.fps = source->nominal_fps() > 0 ? source->nominal_fps() : (cfg.source.fps > 0 ? cfg.source.fps : 30.0);
    out = std::make_unique<OutputStage>(cfg.sink_uri, so, [this](const std::string& s) { log(s); });
    if (cfg.record) {
      rec = std::make_unique<SessionRecorder>(cfg.sessions_root, cfg.session_name, cfg.session_dir, cfg.config_yaml, device_info(),
                                              sampler ? &sampler->sensor() : nullptr);
      rec->set_limit_bytes(static_cast<uint64_t>(std::max(0.0, cfg.session_max_mb) * 1e6));
      log("recording session " + rec->dir());
    }
    t_start = last_summary = last_frame_ms = now_ms();
  }

  // A reload (new variants and layout from reload_config), a variant toggle, the next layout.
  void apply_requests(bool reload, const std::function<RunConfig()>& reload_config, int toggle, bool next_layout) {
    if (reload && reload_config) {
      const RunConfig keep = cfg;
      try {
        RunConfig nc = reload_config();
        cfg.variants = nc.variants;
        cfg.layout = nc.layout;
        build_variants();
        std::string names;
        for (auto& v : variants) names += (names.empty() ? "" : ", ") + v->cfg.name + (v->cfg.enabled ? "" : " (off)");
        event("reload", std::to_string(variants.size()) + " variants: " + names + "; capture kept running");
#ifdef __GLIBC__
        // replaced engines' memory is free now but scattered between the kept ones: give the pages back, so a
        // run reloaded every minute for days keeps its resident size
        malloc_trim(0);
#endif
      } catch (const Error& e) {
        cfg = keep;
        log(std::string("reload failed, keeping the running variants: ") + e.what());
      }
    }
    if (toggle >= 0 && static_cast<size_t>(toggle) < variants.size()) {
      VariantConfig& vc = variants[static_cast<size_t>(toggle)]->cfg;
      vc.enabled = !vc.enabled;
      event(vc.enabled ? "enable" : "disable", "variant " + vc.name);
    }
    if (next_layout) {
      cfg.layout = cfg.layout == "side-by-side" ? "grid" : cfg.layout == "grid" ? "overlay" : "side-by-side";
      event("layout", cfg.layout + " (scaled into the run's fixed output size)");
    }
  }

  // A live source that drops out is re-opened with back-off (0.5 s doubling to 8 s) until it returns or the
  // run is stopped; false when stopped first.
  bool reconnect(const std::atomic<bool>& stop) {
    source.reset();
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff_s));
      backoff_s = std::min(8.0, backoff_s * 2);
      try {
        source = FrameSource::open(cfg.source_uri, cfg.source);
        ++reconnects;
        status = "source reconnected (" + std::to_string(reconnects) + "x)";
        last_frame_ms = now_ms();
        return true;
      } catch (const Error& e) {
        log(std::string(e.what()) + "; retrying in " + cv::format("%.1f", backoff_s) + " s");
      }
    }
    return false;
  }

  // The next frame, or why there is none: a timeout (retry; a live source silent for 5 s is reconnected),
  // the end of a file, a file's error (fatal), a live source's error (reconnect).
  Next next_frame(Frame& frame, const std::atomic<bool>& stop) {
    const double tr = now_ms();
    const ReadStatus st = source->read(frame, 500);
    t_read_ms = now_ms() - tr;
    switch (st) {
      case ReadStatus::ok:
        backoff_s = 0.5;
        last_frame_ms = loop0 = now_ms();
        if (frames == 0) t_first = loop0;
        return Next::frame;
      case ReadStatus::timeout:
        if (source->is_live() && now_ms() - last_frame_ms > 5000) {
          status = "source silent for 5 s: reconnecting";
          log(cfg.source_uri + ": no frames for 5 s, reconnecting");
          return reconnect(stop) ? Next::retry : Next::stop;
        }
        return Next::retry;
      case ReadStatus::end_of_stream:
        end_reason = "end of stream";
        return Next::stop;
      case ReadStatus::error:
        if (!source->is_live()) {
          fatal = source->error();
          end_reason = "error: " + fatal;
          return Next::stop;
        }
        status = "source lost: reconnecting";
        log(source->error() + ": reconnecting");
        return reconnect(stop) ? Next::retry : Next::stop;
    }
    return Next::retry;
  }

  // Every enabled variant in turn on the same frame: its result, statistics, energy window and rows.
  std::vector<FrameRow> run_variants(const Frame& frame) {
    std::vector<FrameRow> rows;
    for (auto& vp : variants) {
      Variant& v = *vp;
      if (!v.cfg.enabled) continue;
      const double t0 = now_ms();
      const StageTimes t = v.runner->run(frame.bgr, v.result);
      const double t3 = now_ms();
      FrameRow r;
      r.seq = frame.seq;
      r.variant = v.cfg.name;
      r.capture_ms = frame.capture_ms;
      r.age_ms = t0 - frame.capture_ms;
      r.pre_ms = t.pre_ms;
      r.infer_ms = t.infer_ms;
      r.decode_ms = t.decode_ms;
      r.e2e_ms = t3 - frame.capture_ms;
      r.detections = static_cast<int>(v.result.detections.size());
      v.st.add(r.pre_ms, r.infer_ms, r.decode_ms, r.e2e_ms, r.age_ms, t0, t3);
      metrics->record(v.cfg.name, r.infer_ms, r.e2e_ms, r.detections, v.st.live_inference_fps());
      if (sampler) v.energy.add_window(frame.seq, t.infer_start_ms, t.infer_start_ms + t.infer_ms);  // the engine's run
      if (rec) rec->detections(frame.seq, v.cfg.name, t3, v.result);
      rows.push_back(r);
    }
    score_quality();
    t_variants_done = now_ms();
    return rows;
  }

  // The overlay into the output (and the live view while someone watches); with the display off and no
  // viewer there is nothing to draw.
  void present(const Frame& frame) {
    const double now = now_ms();
    const bool view = live->watched(now) && live->frame_due(now);  // a frame for the live view is taken now
    if (out->shows() || view) {
      std::vector<PanelInfo> panels;
      int dets = 0;
      for (auto& vp : variants)
        if (vp->cfg.enabled) {
          panels.push_back(panel(*vp));
          dets += static_cast<int>(vp->result.detections.size()) + !vp->result.classes.empty();
        }
      out->compose(frame.bgr, panels, header(frame), cfg.layout, cfg.max_width, variants.size(), dets, rec.get(), now_ms());
    }
    t_composed = now_ms();
    const std::string started = out->write(t_composed);
    if (!started.empty()) event("output", started);  // which encoder or window the first frame started
    t_written = now_ms();
    if (view) live->offer_frame(out->canvas(), t_written);
    live->offer_status(t_written, [&] {
      update_metrics();
      return live_status(frame);
    });
  }

  // The frame's loop statistics, session rows, energy of past windows and the summary every 2 s.
  void account(std::vector<FrameRow>& rows) {
    read_ms.add(t_read_ms);
    overlay_ms.add(t_composed - t_variants_done);
    output_ms.add(t_written - t_composed);
    loop_ms.add(t_written - loop0);
    fps.tick(t_written);
    t_last = t_written;
    ++frames;
    if (rec)
      for (FrameRow& r : rows) {
        r.overlay_ms = t_composed - t_variants_done;
        r.output_ms = t_written - t_composed;
        rec->frame(r);
      }
    resolve_energy(false);
    if (rec && !said_full && !rec->stopped().empty()) {
      log(rec->dir() + ": " + rec->stopped() + "; the run goes on");
      said_full = true;
    }
    if (rec && t_written - last_summary > 2000) {
      rec->summary(summary());
      last_summary = t_written;
    }
  }

  // True (with the reason) when max_frames or the duration is reached.
  bool limit_reached() {
    if (cfg.max_frames > 0 && frames >= cfg.max_frames) end_reason = "max frames";
    else if (cfg.duration_s > 0 && t_last - t_start >= cfg.duration_s * 1000) end_reason = "duration";
    else return false;
    return true;
  }

  // Waits for the sampler to pass the last window, closes the output and writes what is left; throws the
  // run's fatal error, if any, after that.
  nlohmann::json finish() {
    try {
      if (sampler) {
        std::this_thread::sleep_for(std::chrono::duration<double>(3.0 / sampler->rate_hz()));
        sampler->stop();
        resolve_energy(true);
      }
    } catch (const Error& e) {
      if (fatal.empty()) fatal = e.what();
    }
    if (out) out->close();
    nlohmann::json sum = summary();
    if (rec) {
      try {
        rec->summary(sum);
      } catch (const Error& e) {
        if (fatal.empty()) fatal = e.what();
      }
    }
    if (!fatal.empty()) throw Error(fatal);
    return sum;
  }

  // ---- figures

  // Energy of the inference windows the sampler has moved past, into the metrics and the session.
  void resolve_energy(bool final_pass) {
    if (!sampler) return;
    for (auto& v : variants)
      v->energy.resolve(*sampler, baseline_w, final_pass, [&](const EnergyWindow& w, double gross, double net, double coverage) {
        metrics->record_energy(v->cfg.name, gross / 1000.0);
        if (rec) rec->energy(v->cfg.name, w.seq, w.t0, w.t1, gross, net, coverage);
      });
    if (rec) rec->power(sampler->since(power_cursor));
  }

  // A light live status for monitoring (rolling windows, no full-history sorts).
  nlohmann::json live_status(const Frame& f) const {
    nlohmann::json j;
    j["source"] = cfg.source_uri;
    j["frame"] = f.seq;
    j["frames"] = frames;
    j["pipeline_fps"] = const_cast<RateMeter&>(fps).rate_hz();
    j["dropped_frames"] = source ? source->dropped() : 0;
    j["uptime_s"] = (now_ms() - t_start) / 1000.0;
    j["status"] = status.empty() ? std::string("running") : status;
    j["layout"] = cfg.layout;
    j["session"] = rec ? rec->dir() : std::string();
    for (const auto& v : variants) {
      if (!v->cfg.enabled) continue;
      nlohmann::json vj = {{"name", v->cfg.name}, {"backend", v->cfg.backend}, {"threads", v->cfg.threads}, {"model_bytes", v->model_bytes()},
                           {"frames", v->st.frames}, {"inference_ms_p50", v->st.r_inf.pct(0.5)}, {"inference_ms_p95", v->st.r_inf.pct(0.95)},
                           {"e2e_ms_p50", v->st.r_e2e.pct(0.5)}, {"e2e_ms_p95", v->st.r_e2e.pct(0.95)},
                           {"inference_fps", v->st.live_inference_fps()},
                           {"detections", v->result.detections.size()}};
      vj["energy_mj_per_inference"] = v->energy.inferences() ? nlohmann::json(v->energy.gross_mj() / static_cast<double>(v->energy.inferences())) : nlohmann::json(nullptr);
      j["variants"].push_back(vj);
    }
    if (sampler) {
      const power::PowerSample s = sampler->latest();
      j["power"]["sensor"] = sampler->sensor().name();
      j["power"]["replay"] = sampler->sensor().is_replay();
      for (size_t i = 0; i < sampler->rails().size() && i < s.rails.size(); ++i)
        if (s.rails[i].valid)
          j["power"]["rails"].push_back({{"name", sampler->rails()[i].name}, {"total", sampler->rails()[i].is_total}, {"volts", s.rails[i].volts},
                                         {"amps", s.rails[i].amps}, {"watts", s.rails[i].watts}});
      const double bw = power::board_watts(s, sampler->rails());
      j["power"]["board_watts"] = std::isnan(bw) ? nlohmann::json(nullptr) : nlohmann::json(bw);
    } else {
      j["power"] = {{"sensor", nullptr}, {"note", power_note}};
    }
    return j;
  }

  void update_metrics() {
    metrics->set_pipeline(fps.rate_hz(), source ? source->dropped() : 0, static_cast<uint64_t>(frames));
    for (const auto& v : variants)
      if (v.get() != reference() && !v->quality_ref.empty())
        metrics->set_quality(v->cfg.name, v->quality_ref, v->quality.map50(), v->quality.mean_iou(), v->quality.top1_agreement());
    if (!sampler) return;
    const power::PowerSample s = sampler->latest();
    std::map<std::string, RailMetrics> rails;
    for (size_t i = 0; i < sampler->rails().size() && i < s.rails.size(); ++i)
      rails[sampler->rails()[i].name] = {s.rails[i].volts, s.rails[i].amps, s.rails[i].watts, s.rails[i].valid, sampler->rails()[i].is_total};
    const double bw = power::board_watts(s, sampler->rails());
    metrics->set_power(sampler->sensor().name(), sampler->sensor().is_replay(), rails, std::isnan(bw) ? -1 : bw);
  }

  void log(const std::string& s) const {
    if (!cfg.quiet) std::fprintf(stderr, "%s\n", s.c_str());
  }

  nlohmann::json summary() const {
    nlohmann::json j;
    const double dur = t_last > t_first ? (t_last - t_first) / 1000.0 : 0;
    j["session"] = {{"name", cfg.session_name},
                    {"dir", rec ? rec->dir() : std::string()},
                    {"source", cfg.source_uri},
                    {"started_utc", started_utc},
                    {"duration_s", dur},
                    {"frames", frames},
                    {"pipeline_fps", dur > 0 && frames > 1 ? static_cast<double>(frames - 1) / dur : 0.0},
                    {"dropped_frames", source ? source->dropped() : 0},
                    {"reconnects", reconnects},
                    {"status", end_reason},
                    {"recording", rec ? nlohmann::json{{"bytes", rec->bytes()},
                                                       {"max_mb", cfg.session_max_mb > 0 ? nlohmann::json(cfg.session_max_mb) : nlohmann::json(nullptr)},
                                                       {"stopped", rec->stopped().empty() ? nlohmann::json(nullptr) : nlohmann::json(rec->stopped())}}
                                      : nlohmann::json(nullptr)},
                    {"layout", cfg.layout},
                    {"power_sensor", sampler ? sampler->sensor().name() : power_note},
                    {"power_replay", sampler ? sampler->sensor().is_replay() : false},
                    {"baseline_w", std::isnan(baseline_w) ? nlohmann::json(nullptr) : nlohmann::json(baseline_w)}};
    j["stages_ms"] = {{"capture_read", dist_json(read_ms)}, {"overlay", dist_json(overlay_ms)}, {"output", dist_json(output_ms)}, {"loop", dist_json(loop_ms)}};
    for (const auto& v : variants) j["variants"].push_back(variant_json(*v, false));
    for (const auto& r : retired) j["variants"].push_back(r);
    if (retired_dropped) j["variants_not_listed"] = retired_dropped;
    nlohmann::json last = nlohmann::json::array();
    for (const auto& e : recent_events) last.push_back(e);
    j["events"] = {{"count", events_total}, {"last", last}};
    return j;
  }

  // The variant others are scored against: the one marked `reference`, else the first.
  const Variant* reference() const {
    for (const auto& v : variants)
      if (v->cfg.reference) return v.get();
    return variants.empty() ? nullptr : variants.front().get();
  }

  // Scores every other variant that ran on this frame against the reference's result: detections as ground
  // truth (mAP@0.5, IoU of matches), or top-1 agreement for classifiers.
  void score_quality() {
    const Variant* ref = reference();
    if (!ref || !ref->cfg.enabled) return;
    for (auto& vp : variants) {
      Variant& v = *vp;
      if (&v == ref || !v.cfg.enabled) continue;
      if (v.quality_ref != ref->cfg.name) {  // a new reference (reload): start again
        v.quality = FidelityAccumulator();
        v.quality_ref = ref->cfg.name;
      }
      if (!ref->result.classes.empty() && !v.result.classes.empty()) v.quality.add_classes(ref->result.classes.front().class_id, v.result.classes.front().class_id);
      else v.quality.add_detections(ref->result.detections, v.result.detections);
    }
  }

  static nlohmann::json num_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

  // {"reference": name, "frames": n, "map50", "mean_iou", "top1_agreement"} (null where it does not apply),
  // or {"is_reference": true}.
  nlohmann::json quality_json(const Variant& v) const {
    if (&v == reference()) return {{"is_reference", true}};
    if (v.quality_ref.empty()) return nullptr;
    const FidelityAccumulator& q = v.quality;
    const int64_t n = q.frames > 0 ? q.frames : 0;
    return {{"reference", v.quality_ref}, {"frames", n}, {"reference_boxes", q.gt}, {"map50", num_or_null(q.map50())},
            {"mean_iou", num_or_null(q.mean_iou())}, {"top1_agreement", num_or_null(q.top1_agreement())}};
  }

  // One variant's whole-run figures; `ended`: it was removed by a reload (its span ends now).
  nlohmann::json variant_json(const Variant& v, bool ended) const {
    const double t0 = v.st.t_first > 0 ? (v.st.t_first - t_first) / 1000.0 : 0;
    nlohmann::json vj = {{"name", v.cfg.name},
                         {"model", v.cfg.model},
                         {"backend", v.cfg.backend},
                         {"threads", v.cfg.threads},
                         {"model_bytes", v.model_bytes()},
                         {"params", v.runner->params()},
                         {"made_by", v.runner->recipe().empty() ? nlohmann::json(nullptr) : nlohmann::json(v.runner->recipe())},
                         {"frames", v.st.frames},
                         {"enabled", v.cfg.enabled},
                         {"span_s", {{"from", v.st.frames ? nlohmann::json(t0) : nlohmann::json(nullptr)},
                                     {"to", ended ? nlohmann::json((v.st.t_last - t_first) / 1000.0) : nlohmann::json(nullptr)}}},
                         {"removed_by_reload", ended},
                         {"quality", quality_json(v)},
                         {"latency_ms", {{"preprocess", dist_json(v.st.pre_ms)}, {"inference", dist_json(v.st.infer_ms)}, {"decode", dist_json(v.st.dec_ms)},
                                         {"e2e", dist_json(v.st.e2e_ms)}, {"frame_age", dist_json(v.st.age_ms)}}}};
    const double inf_mean = v.st.infer_ms.mean();
    vj["inference_fps"] = inf_mean > 0 ? 1000.0 / inf_mean : 0.0;
    const VariantEnergy& en = v.energy;
    if (en.inferences() > 0) {
      const double n = static_cast<double>(en.inferences());
      vj["energy"] = {{"inferences_measured", en.inferences()},
                      {"gross_mj_per_inference", en.gross_mj() / n},
                      {"net_mj_per_inference", std::isnan(baseline_w) ? nlohmann::json(nullptr) : nlohmann::json(en.net_mj() / n)},
                      {"mean_power_w", en.window_ms() > 0 ? en.gross_mj() / en.window_ms() : 0.0}};
    } else {
      vj["energy"] = nullptr;
    }
    return vj;
  }

  // A toggle, reload or layout change: logged, kept in the session (events.csv) and the summary's last few.
  void event(const std::string& kind, const std::string& detail) {
    const double t = t_first > 0 ? (now_ms() - t_first) / 1000.0 : 0;
    ++events_total;
    recent_events.push_back({{"t_s", t}, {"kind", kind}, {"detail", detail}});
    while (recent_events.size() > 20) recent_events.pop_front();
    if (rec) rec->event(t, kind, detail);
    log(kind + ": " + detail);
  }

  OverlayHeader header(const Frame& f) const {
    OverlayHeader h;
    const double fps = const_cast<RateMeter&>(this->fps).rate_hz();
    h.lines.push_back(cv::format("pipeline %.1f FPS (whole loop, all variants) | frame %lld | dropped %lld", fps,
                                 static_cast<long long>(f.seq), static_cast<long long>(source ? source->dropped() : 0)));
    if (sampler) {
      const power::PowerSample s = sampler->latest();
      std::string p = sampler->sensor().is_replay() ? "power [replay]:" : "power:";
      for (size_t i = 0; i < sampler->rails().size() && i < s.rails.size(); ++i)
        if (s.rails[i].valid) p += cv::format(" %s %.2f W", sampler->rails()[i].name.c_str(), s.rails[i].watts);
      if (!s.ok) p += " (gap: sensor error)";
      h.lines.push_back(p);
    } else {
      h.lines.push_back("power: n/a (" + power_note + ")");
    }
    if (!status.empty()) h.lines.push_back(status);
    return h;
  }

  PanelInfo panel(const Variant& v) const {
    PanelInfo p;
    p.title = cv::format("%s: %s x%d | %.2f MB", v.cfg.name.c_str(), v.cfg.backend.c_str(), v.cfg.threads, v.model_bytes() / 1048576.0);
    const double inf50 = v.st.r_inf.pct(0.5);
    p.lines.push_back(cv::format("infer %.1f ms p95 %.1f | %.0f FPS engine-only", inf50, v.st.r_inf.pct(0.95), inf50 > 0 ? 1000.0 / inf50 : 0.0));
    p.lines.push_back(cv::format("pre %.1f | dec %.1f | capture->result %.1f ms p95 %.1f", v.st.r_pre.pct(0.5), v.st.r_dec.pct(0.5), v.st.r_e2e.pct(0.5),
                                 v.st.r_e2e.pct(0.95)));
    if (!sampler) {
      p.lines.push_back("energy n/a (no power sensor)");
    } else if (v.energy.inferences() == 0) {
      p.lines.push_back("energy: measuring...");
    } else {
      const double g = v.energy.gross_mj() / static_cast<double>(v.energy.inferences());  // mean since the start, as in summary.json
      std::string net = std::isnan(baseline_w) ? std::string() : cv::format(" (net %.1f)", v.energy.net_mj() / static_cast<double>(v.energy.inferences()));
      p.lines.push_back(cv::format("energy %.1f mJ/inference%s", g, net.c_str()));
    }
    if (!v.result.classes.empty()) {
      const ClassScore& c = v.result.classes.front();
      std::string name = static_cast<size_t>(c.class_id) < v.cfg.decoder.labels.size() ? v.cfg.decoder.labels[static_cast<size_t>(c.class_id)]
                                                                                        : "class " + std::to_string(c.class_id);
      p.lines.push_back(cv::format("top-1 %s %.2f", name.c_str(), c.score));
    } else {
      p.lines.push_back(cv::format("%zu detections", v.result.detections.size()));
    }
    if (&v == reference()) {
      if (variants.size() > 1) p.lines.push_back("reference for the others' quality");
    } else if (!v.quality_ref.empty() && v.quality.frames > 0) {
      const FidelityAccumulator& q = v.quality;
      if (std::isfinite(q.top1_agreement()))
        p.lines.push_back(cv::format("vs %s: top-1 agreement %.1f%% (%lld frames)", v.quality_ref.c_str(), 100 * q.top1_agreement(), static_cast<long long>(q.frames)));
      else if (q.gt > 0)
        p.lines.push_back(cv::format("vs %s: mAP50 %.3f | IoU %.3f (%lld frames)", v.quality_ref.c_str(), q.map50(), std::isfinite(q.mean_iou()) ? q.mean_iou() : 0.0,
                                     static_cast<long long>(q.frames)));
      else
        p.lines.push_back(cv::format("vs %s: no reference boxes yet (%lld frames)", v.quality_ref.c_str(), static_cast<long long>(q.frames)));
    }
    p.result = &v.result;
    p.labels = v.cfg.decoder.labels;
    return p;
  }
};

Pipeline::Pipeline(RunConfig cfg, std::unique_ptr<power::PowerSampler> sampler, std::string power_note) : impl_(std::make_unique<Impl>()) {
  impl_->metrics = &metrics_;
  impl_->live = &live_;
  metrics_.set_build({{"version", EC_VERSION_STRING}, {"opencv", CV_VERSION}});
  impl_->cfg = std::move(cfg);
  impl_->sampler = std::move(sampler);
  impl_->power_note = std::move(power_note);
  if (impl_->cfg.variants.empty()) throw Error("run: no model variants configured");
  impl_->build_variants();
}

Pipeline::~Pipeline() = default;

std::string Pipeline::session_dir() const { return impl_->rec ? impl_->rec->dir() : std::string(); }

nlohmann::json Pipeline::status() const { return live_.status(); }

bool Pipeline::latest_jpeg(std::vector<unsigned char>& jpeg, uint64_t& seq) { return live_.latest_jpeg(jpeg, seq, now_ms()); }

uint64_t Pipeline::jpeg_seq() { return live_.jpeg_seq(now_ms()); }

// The main loop: a frame in, every variant on it, the overlay out, the figures kept, until the stream ends,
// a limit is reached or a stop is requested.
nlohmann::json Pipeline::run() {
  Impl& d = *impl_;
  d.start();
  Frame frame;
  try {
    while (!stop_) {
      d.apply_requests(reload_.exchange(false), reload_config, toggle_.exchange(-1), next_layout_.exchange(false));
      const Next next = d.next_frame(frame, stop_);
      if (next == Next::retry) continue;
      if (next == Next::stop) break;
      std::vector<FrameRow> rows = d.run_variants(frame);
      d.present(frame);
      d.account(rows);
      if (d.limit_reached()) break;
    }
    if (stop_ && d.end_reason == "running") d.end_reason = "stopped";
  } catch (const Error& e) {
    d.fatal = e.what();
    d.end_reason = "error: " + d.fatal;
  }
  return d.finish();
}

}  // namespace ec
